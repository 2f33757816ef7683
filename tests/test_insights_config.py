"""The ``insights`` section: typed keys, and errors that name file, line and key."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from nephos.config import parse_config
from nephos.errors import ConfigError


def load(text: str) -> dict[str, object]:
    return dict(
        parse_config(textwrap.dedent(text), file="nephos.yaml", env={"KEY": "sk-x"}).insights
    )


def test_every_insights_key_is_read_typed() -> None:
    insights = load(
        """
        insights:
          narrator: openai
          model: llama3.3
          fallback_models: [qwen3, mistral]
          max_tokens: 900
          timeout: 45s
          retries: 1
          base_url: http://127.0.0.1:11434/v1
          api_key: "${KEY}"
          cache: false
          cache_ttl: 2h
          cache_dir: /tmp/nephos-cache
          anonymize: true
        """
    )
    assert insights == {
        "narrator": "openai", "model": "llama3.3", "fallback_models": ("qwen3", "mistral"),
        "max_tokens": 900, "timeout": timedelta(seconds=45), "retries": 1,
        "base_url": "http://127.0.0.1:11434/v1", "api_key": "sk-x", "cache": False,
        "cache_ttl": timedelta(hours=2), "cache_dir": "/tmp/nephos-cache", "anonymize": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    "body,message",
    [
        ("  narator: template", "nephos.yaml:3: insights.narator: unknown key"),
        ("  narrator: gpt", 'nephos.yaml:3: insights.narrator: "gpt" is not one of'),
        ("  max_tokens: lots", "nephos.yaml:3: insights.max_tokens: expected a whole number"),
        ("  base_url: localhost:11434", "nephos.yaml:3: insights.base_url: "),
        ("  anonymize: maybe", "nephos.yaml:3: insights.anonymize: expected true or false"),
        ("  timeout: 0s", "nephos.yaml:3: insights.timeout: "),
    ],
)
def test_a_bad_insights_value_names_file_line_and_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load("\ninsights:\n" + body + "\n")
    assert str(info.value).startswith(message)


def test_a_bad_api_key_value_is_not_repeated() -> None:
    with pytest.raises(ConfigError) as info:
        load("\ninsights:\n  api_key: [sk-secret]\n")
    assert "sk-secret" not in str(info.value)
