"""The Cortex narrator: the exact AI_COMPLETE statement (golden SQL), and the narrator on fakesnow
with AI_COMPLETE stood in by a DuckDB function (fakesnow cannot run Cortex), for binds,
answers, usage, model fallback and error mapping."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nephos.clock import ManualClock
from nephos.config.types import Config, StorageConfig, WarehouseConfig
from nephos.errors import ConfigError, WarehouseError
from nephos.insights.documents import json_schema
from nephos.insights.narrators.base import NarratorError
from nephos.insights.narrators.cortex import CortexNarrator, cortex_statement, map_cortex_error
from nephos.insights.narrators.llm import ModelUnavailable
from nephos.insights.narrators.template import summary_document
from nephos.insights.runtime import open_narrator
from nephos.warehouse.snowflake import SnowflakeWarehouse
from tests.insights_fixtures import NOW, degraded_summary
from tests.test_insights_template import golden
from tests.warehouse_fixtures import fakesnow_warehouse

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def snow() -> Iterator[tuple[SnowflakeWarehouse, list[tuple[str, str]], dict[str, Any]]]:
    """fakesnow with AI_COMPLETE stood in: it records (model, prompt) and answers per model."""
    calls: list[tuple[str, str]] = []
    answers: dict[str, Any] = {}

    def fake_complete(model: str, prompt: str) -> str | None:
        calls.append((model, prompt))
        answer = answers.get(model)
        if answer is None:
            return None  # as AI_COMPLETE does per row since BCR 2026_02
        return json.dumps(
            {
                "structured_output": [{"raw_message": answer}],
                "model": model,
                "usage": {"prompt_tokens": 1200, "completion_tokens": 230},
            }
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fakesnow_warehouse() as wh:
            duck = wh._conn._duck_conn  # type: ignore[union-attr]
            duck.create_function("_nephos_fake_complete", fake_complete, null_handling="special")
            duck.execute(
                "CREATE OR REPLACE MACRO ai_complete(model, prompt, model_parameters := NULL, "
                "response_format := NULL, show_details := NULL) "
                "AS _nephos_fake_complete(model, prompt::VARCHAR)"
            )
            yield wh, calls, answers


def test_the_ai_complete_statement_matches_its_golden_sql() -> None:
    sql = cortex_statement(json_schema("summary"), 800)
    golden("cortex_summary.sql", sql + "\n")
    assert sql.count("?") == 2, "only the model and the prompt are bound"
    assert "'temperature': 0" in sql and "'max_tokens': 800" in sql
    assert "show_details => TRUE" in sql


async def test_the_narrator_binds_model_and_prompt_and_reports_usage(snow: Any) -> None:
    wh, calls, answers = snow
    answers["claude-sonnet-4-5"] = summary_document(degraded_summary()).model_dump()
    narrator = CortexNarrator(warehouse=wh, models=["claude-sonnet-4-5"], max_tokens=800)
    narration = await narrator.summarize(degraded_summary())
    model, prompt = calls[0]
    assert model == "claude-sonnet-4-5"
    assert prompt.startswith("You are nephos") and "<<<NEPHOS-FACTS" in prompt
    assert narration.narrator == "cortex" and narration.replaced == ()
    assert narration.usage is not None and narration.usage.total_tokens == 1430


async def test_a_null_answer_moves_on_to_the_fallback_model(snow: Any) -> None:
    wh, calls, answers = snow
    answers["llama3.3-70b"] = summary_document(degraded_summary()).model_dump()
    narrator = CortexNarrator(warehouse=wh, models=["mistral-large2", "llama3.3-70b"])
    narration = await narrator.summarize(degraded_summary())
    assert [c[0] for c in calls] == ["mistral-large2", "llama3.3-70b"]
    assert narration.model == "llama3.3-70b"
    assert "mistral-large2" in narration.notes[0] and "NULL" in narration.notes[0]


async def test_every_model_failing_is_a_narrator_error(snow: Any) -> None:
    wh, _, _ = snow
    narrator = CortexNarrator(warehouse=wh, models=["a", "b"])
    with pytest.raises(NarratorError, match="no cortex model could answer"):
        await narrator.summarize(degraded_summary())


def test_without_cortex_the_error_names_the_grant() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fakesnow_warehouse() as wh:
            narrator = CortexNarrator(warehouse=wh, models=["claude-sonnet-4-5"])
            with pytest.raises(NarratorError) as info:
                asyncio.run(narrator.summarize(degraded_summary()))
    assert "SNOWFLAKE.CORTEX_USER" in str(info.value)


@pytest.mark.parametrize(
    "message,kind,words",
    [
        ("100351 (P0000): remote service error: 400 'unknown model \"mistral-large\"'",
         ModelUnavailable, "CORTEX_ENABLED_CROSS_REGION"),
        ("The model you requested is unavailable in your region", ModelUnavailable,
         "SHOW CORTEX BASE MODELS"),
        ("SQL compilation error: Unknown function AI_COMPLETE", NarratorError, "CORTEX_USER"),
        ("Insufficient privileges to operate on database SNOWFLAKE", NarratorError, "GRANT"),
    ],
)  # fmt: skip
def test_cortex_errors_become_actionable_messages(
    message: str, kind: type[Exception], words: str
) -> None:
    mapped = map_cortex_error(WarehouseError(message), "mistral-large")
    assert type(mapped) is kind
    assert words in str(mapped)


async def test_cortex_needs_a_snowflake_warehouse(tmp_path: Path) -> None:
    config = Config(
        storage=StorageConfig(warehouse=WarehouseConfig(path=str(tmp_path / "w.duckdb"))),
        insights={"narrator": "cortex"},
    )
    with pytest.raises(ConfigError, match=r"storage\.warehouse\.backend"):
        async with open_narrator(config, clock=ManualClock(NOW)):
            pass
