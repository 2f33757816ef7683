"""What a narrator writes: the sections of a summary, an explanation and a trend (pydantic).

A model's answer is parsed into these (extra keys and missing sections are errors), and the
text headings are rendered locally from them. :data:`SCHEMA_VERSION` goes into the cache key,
so that a changed shape never reads an old answer. The JSON schemas sent to models are written
out by hand: every property required and no additional ones, which every structured-output
backend accepts (OpenAI's strict mode, Cortex, Ollama, vLLM).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "QUICK_LIMIT",
    "SCHEMA_VERSION",
    "ExplanationDoc",
    "SummaryDoc",
    "TrendDoc",
    "json_schema",
]

SCHEMA_VERSION = 1
QUICK_LIMIT = 200
"""The most characters ``nephos summary --quick`` prints."""

_TEXT = Field(min_length=1, max_length=600)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SummaryDoc(_Doc):
    """``nephos summary``: HEALTH STATUS, KEY FINDINGS, IMMEDIATE ACTIONS NEEDED, PREDICTIONS,
    RECOMMENDED OPTIMIZATIONS, and the one-sentence ``--quick`` form."""

    health_status: str = _TEXT
    key_findings: list[str] = Field(max_length=12)
    immediate_actions: list[str] = Field(max_length=10)
    predictions: list[str] = Field(max_length=10)
    optimizations: list[str] = Field(max_length=10)
    quick: str = Field(min_length=1, max_length=QUICK_LIMIT)


class ExplanationDoc(_Doc):
    """``nephos explain-alert``: WHAT THIS MEANS, WHY IT HAPPENED (observed facts apart from
    the likely causes, ranked), ACTION TO TAKE, URGENCY."""

    what_this_means: str = _TEXT
    observed: list[str] = Field(min_length=1, max_length=12)
    likely_causes: list[str] = Field(max_length=6)
    actions: list[str] = Field(min_length=1, max_length=10)
    urgency: int = Field(ge=1, le=10)
    urgency_reason: str = _TEXT


class TrendDoc(_Doc):
    """``nephos trend``: the analysis, a few sentences."""

    analysis: list[str] = Field(min_length=1, max_length=8)


_STRINGS = {"type": "array", "items": {"type": "string"}}
_SCHEMAS: dict[str, dict[str, Any]] = {
    "summary": {
        "health_status": {"type": "string"},
        "key_findings": _STRINGS,
        "immediate_actions": _STRINGS,
        "predictions": _STRINGS,
        "optimizations": _STRINGS,
        "quick": {"type": "string"},
    },
    "explanation": {
        "what_this_means": {"type": "string"},
        "observed": _STRINGS,
        "likely_causes": _STRINGS,
        "actions": _STRINGS,
        "urgency": {"type": "integer", "minimum": 1, "maximum": 10},
        "urgency_reason": {"type": "string"},
    },
    "trend": {"analysis": _STRINGS},
}


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON schema a model's answer must follow.

    Args:
        kind: ``summary``, ``explanation`` or ``trend``.

    Raises:
        KeyError: ``kind`` is none of these.
    """
    properties = _SCHEMAS[kind]
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
