"""A cache of model answers on disk, keyed by model, prompt and schema version, with a TTL.

The same facts asked of the same model give the same prompt, so a second ``nephos summary``
within the TTL costs no tokens. Entries are small JSON files named by the key's SHA-256; the
clock is injected so that expiry is testable. A broken or unreadable entry is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from nephos.clock import Clock
from nephos.insights.documents import SCHEMA_VERSION

__all__ = ["AnswerCache", "cache_key"]


def cache_key(model: str, prompt: str, schema_version: int = SCHEMA_VERSION) -> str:
    """The key of one answer: SHA-256 over the model, the schema version and the prompt."""
    digest = hashlib.sha256()
    for part in (model, str(schema_version), prompt):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


class AnswerCache:
    """Model answers in ``directory``, each valid for ``ttl``.

    Args:
        directory: where entries live (created on first write).
        ttl: how long an answer is reused.
        clock: the time entries are stamped and judged by.
    """

    def __init__(self, directory: str | Path, *, ttl: timedelta, clock: Clock) -> None:
        self.directory = Path(directory).expanduser()
        self.ttl = ttl
        self._clock = clock

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer under ``key`` if it is younger than the TTL, else None."""
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            stored = float(entry["stored_at"])
            answer = entry["answer"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        age = self._clock.now().timestamp() - stored
        if age < 0 or age > self.ttl.total_seconds() or not isinstance(answer, dict):
            return None
        return answer

    def put(self, key: str, answer: dict[str, Any]) -> None:
        """Store ``answer`` under ``key``; a cache that cannot be written is skipped."""
        entry = {"stored_at": self._clock.now().timestamp(), "answer": answer}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary = self._path(key).with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(entry), encoding="utf-8")
            temporary.replace(self._path(key))  # atomic: a reader never sees half an entry
        except OSError:
            return
