"""The insights commands with the ``openai`` narrator, against the local wire-format server:
the model's grounded text, token usage, ``--anonymize``, and the template when it fails."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from nephos.cli.main import main
from tests.fake_openai import FakeOpenAI, fake_openai
from tests.insights_seed import seed_sources, write_config


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    directory = tmp_path_factory.mktemp("models")
    hot, wh = seed_sources(directory, warehouse=False)
    return directory, hot, wh


def with_server(
    sources: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    answer: Any,
    *argv: str,
) -> tuple[tuple[int, str, str], FakeOpenAI]:
    directory, hot, wh = sources

    async def go() -> tuple[tuple[int, str, str], FakeOpenAI]:
        async with fake_openai() as server:
            server.default = answer
            extra = (
                "insights:\n  narrator: openai\n"
                f"  base_url: {server.base_url}\n  model: llama3.3\n  cache: false\n"
            )
            config = write_config(directory, hot, wh, extra)
            result = await asyncio.to_thread(run, capsys, *argv, "-c", str(config))
            return result, server

    return asyncio.run(go())


def test_explain_alert_prints_the_models_grounded_text_and_its_tokens(
    sources: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    answer = {
        "what_this_means": "The api check is failing: the check timed out after 10s.",
        "observed": ["The check timed out after 10s."],
        "likely_causes": ["A hung process behind the load balancer."],
        "actions": ["Follow the runbook: Check the load balancer, then restart the api service."],
        "urgency": 3,
        "urgency_reason": "It has resolved.",
    }
    (code, out, _), server = with_server(sources, capsys, answer, "explain-alert", "al-api001")
    assert code == 0
    assert "The api check is failing: the check timed out after 10s." in out
    assert "written by the openai narrator (model llama3.3)" in out
    assert "tokens: 812 prompt + 164 completion = 976" in out
    assert server.requests[0]["model"] == "llama3.3"


def test_anonymize_keeps_names_out_of_the_prompt(
    sources: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (code, _, _), server = with_server(sources, capsys, {}, "summary", "--anonymize", "--json")
    _, user = server.messages()
    assert code == 1
    for name in ('"api"', "vm-db-1", "api.example.com", "203.0.113.5"):
        assert name not in user


def test_a_model_answer_outside_the_schema_leaves_the_template_text_and_says_so(
    sources: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (code, out, _), _ = with_server(sources, capsys, "not json at all", "summary", "--json")
    document = json.loads(out)
    assert code == 1
    assert document["health_status"].startswith("Degraded at ")
    assert "openai narrator failed" in document["meta"]["notes"][0]
