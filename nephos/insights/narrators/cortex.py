"""The ``cortex`` narrator: Snowflake ``AI_COMPLETE`` over the warehouse's connection.

One statement per question, with the model and the prompt bound server-side (qmark) and the
model parameters and the answer's JSON schema inlined as Snowflake object constants (they are
nephos's own constants; whether AI_COMPLETE takes a bound response_format is not documented).
``show_details => TRUE`` returns token usage. A NULL answer (AI functions return NULL per row
on failure since BCR 2026_02) or an unknown, retired or out-of-region model moves on to the
next model in ``insights.fallback_models``; a missing privilege is reported with the grant.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from nephos.errors import WarehouseError
from nephos.insights.narrators.base import NarratorError, Usage
from nephos.insights.narrators.llm import Completion, ModelNarrator, ModelUnavailable, parse_answer
from nephos.insights.prompt import Prompt
from nephos.warehouse.base import Warehouse

__all__ = ["DEFAULT_MODELS", "CortexNarrator", "cortex_statement", "sql_constant"]

DEFAULT_MODELS = ("claude-sonnet-4-5", "llama3.3-70b")
"""Used when the config names no model (check ``SHOW CORTEX BASE MODELS`` for your region)."""
GUARD_TEXT = "Response filtered by Cortex Guard"

_UNAVAILABLE = ("unknown model", "unavailable", "not available", "is not supported", "deprecated")
_PRIVILEGE = (
    "unknown function",
    "does not exist or not authorized",
    "insufficient privileges",
    "function with name ai_complete does not exist",
)


def sql_constant(value: Any) -> str:
    """A JSON-able value as a Snowflake constant: objects ``{'k': v}``, arrays, strings quoted."""
    if isinstance(value, Mapping):
        return (
            "{"
            + ", ".join(f"{sql_constant(str(k))}: {sql_constant(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(sql_constant(v) for v in value) + "]"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if value is None:
        return "NULL"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def cortex_statement(schema: Mapping[str, Any], max_tokens: int) -> str:
    """The AI_COMPLETE statement; binds: the model, then the prompt."""
    parameters = sql_constant({"temperature": 0, "max_tokens": int(max_tokens)})
    response_format = sql_constant({"type": "json", "schema": dict(schema)})
    return (
        "SELECT AI_COMPLETE(model => ?, prompt => ?, "
        f"model_parameters => {parameters}, response_format => {response_format}, "
        "show_details => TRUE)"
    )


def _answer_of(value: Any) -> tuple[dict[str, Any], Usage | None, str | None]:
    """The JSON answer, usage and answering model in what AI_COMPLETE returned."""
    data = json.loads(value) if isinstance(value, str) else value
    if isinstance(data, str):
        data = parse_answer(data)
    if not isinstance(data, dict):
        raise NarratorError("Cortex answered with something other than a JSON object")
    usage_data = data.get("usage") if isinstance(data.get("usage"), dict) else None
    usage = (
        Usage(int(usage_data.get("prompt_tokens", 0)), int(usage_data.get("completion_tokens", 0)))
        if usage_data
        else None
    )
    model = str(data["model"]) if data.get("model") else None
    if "structured_output" in data:
        out = data["structured_output"]
        out = out[0] if isinstance(out, list) and out else out
        if isinstance(out, dict) and "raw_message" in out:
            out = out["raw_message"]
        answer = parse_answer(out) if isinstance(out, str) else out
    elif "choices" in data:
        message = data["choices"][0].get("messages", data["choices"][0].get("message"))
        if isinstance(message, str) and message.strip() == GUARD_TEXT:
            raise NarratorError("Cortex Guard filtered the answer")
        answer = parse_answer(message) if isinstance(message, str) else message
    else:
        answer = data
    if not isinstance(answer, dict):
        raise NarratorError("Cortex answered without a JSON object")
    return answer, usage, model


def map_cortex_error(exc: WarehouseError, model: str) -> NarratorError:
    """A failed AI_COMPLETE as an actionable error; ModelUnavailable when another model may work."""
    text = str(exc)
    lower = text.lower()
    if any(p in lower for p in _UNAVAILABLE) and "model" in lower:
        return ModelUnavailable(
            f"model {model} is unknown, retired or not available in this account's region; name "
            "another in insights.model or insights.fallback_models (SHOW CORTEX BASE MODELS IN "
            "SCHEMA SNOWFLAKE.MODELS lists them), or have ACCOUNTADMIN set "
            "CORTEX_ENABLED_CROSS_REGION"
        )
    if any(p in lower for p in _PRIVILEGE) or "cortex_user" in lower:
        return NarratorError(
            "the Snowflake role cannot call AI_COMPLETE: GRANT DATABASE ROLE "
            f"SNOWFLAKE.CORTEX_USER TO ROLE <your role> ({text})"
        )
    if "region" in lower:
        return ModelUnavailable(
            f"model {model} is not available in this region: have ACCOUNTADMIN set "
            "CORTEX_ENABLED_CROSS_REGION, or pick a model served here"
        )
    return NarratorError(f"Cortex AI_COMPLETE failed: {text}")


class CortexNarrator(ModelNarrator):
    """Asks Snowflake Cortex through an open Snowflake warehouse.

    Args:
        warehouse: an open warehouse whose ``execute`` runs Snowflake SQL.
        **kwargs: see :class:`ModelNarrator`.
    """

    name: ClassVar[str] = "cortex"

    def __init__(self, *, warehouse: Warehouse, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.warehouse = warehouse

    async def complete(self, prompt: Prompt, model: str) -> Completion:
        """Run AI_COMPLETE once for ``model``.

        Raises:
            ModelUnavailable: the model cannot answer here, or answered NULL.
            NarratorError: a privilege is missing or the statement failed otherwise.
        """
        sql = cortex_statement(prompt.schema, self.max_tokens)
        try:
            rows = await self.warehouse.execute(sql, [model, prompt.single()])
        except WarehouseError as exc:
            raise map_cortex_error(exc, model) from exc
        value = rows[0][0] if rows and rows[0] else None
        if value is None:
            raise ModelUnavailable(
                "AI_COMPLETE returned NULL (the model failed on this input, the prompt is too "
                "long for it, or it is not available)"
            )
        try:
            answer, usage, answered_by = _answer_of(value)
        except ValueError as exc:
            raise NarratorError(f"Cortex answered with text that is not JSON ({exc})") from exc
        return Completion(answer, answered_by or model, usage)
