"""The ``insights`` section: which narrator phrases the facts, and its model settings.

Only the keys a file sets are kept (the narrators supply their own defaults); each is typed
here, so that a bad value is reported with its file, line and key path when the config loads.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nephos.config.section import Section
from nephos.config.values import show

__all__ = ["INSIGHTS_KEYS", "NARRATORS", "read_insights"]

NARRATORS = ("template", "cortex", "openai")
INSIGHTS_KEYS = frozenset(
    {"narrator", "model", "fallback_models", "max_tokens", "timeout", "retries", "base_url",
     "api_key", "cache", "cache_ttl", "cache_dir", "anonymize"}
)  # fmt: skip
"""The keys ``insights`` may hold."""


def read_insights(root: Section) -> dict[str, Any]:
    """The ``insights`` section, typed; only the keys the file sets.

    Raises:
        ConfigError: an unknown key, or a value of the wrong type or out of range.
    """
    section = root.section("insights", INSIGHTS_KEYS)
    if section is None:
        return {}
    out: dict[str, Any] = {}
    if section.has("narrator"):
        out["narrator"] = section.text("narrator", choices=NARRATORS)
    for key in ("model", "cache_dir"):
        if section.has(key):
            out[key] = section.text(key)
    if section.has("fallback_models"):
        out["fallback_models"] = section.texts("fallback_models")
    if section.has("max_tokens"):
        out["max_tokens"] = section.integer("max_tokens", 1024, minimum=16, maximum=32768)
    if section.has("retries"):
        out["retries"] = section.integer("retries", 2, minimum=0, maximum=10)
    if section.has("timeout"):
        out["timeout"] = section.duration(
            "timeout", timedelta(seconds=60), minimum=timedelta(seconds=1)
        )
    if section.has("cache_ttl"):
        out["cache_ttl"] = section.duration("cache_ttl", timedelta(hours=6))
    for key in ("cache", "anonymize"):
        if section.has(key):
            out[key] = section.boolean(key, key == "cache")
    if section.has("base_url"):
        url = section.text("base_url") or ""
        if not url.startswith(("http://", "https://")):
            raise section.error(
                "base_url", f"{show(url)} is not an http(s) URL (e.g. http://127.0.0.1:11434/v1)"
            )
        out["base_url"] = url
    if section.has("api_key"):
        out["api_key"] = section.text("api_key", secret=True)
    return out
