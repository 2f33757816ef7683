"""``--anonymize``: names, hostnames, IP addresses and cloud ids swapped for stable tokens before a
prompt is built, and swapped back in the answer.

Tokens are assigned in sorted order per kind (``name-1``, ``host-1``, ``ip-1``, ``id-1``), so the
same facts always give the same prompt, and the answer cache keeps working. Every string in the
facts is rewritten, alert messages and tags included, not just the name fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Anonymizer"]

_NAME_KEYS = frozenset({"target", "resource", "instance", "chart_resource", "name"})
_ADDRESS_KEYS = frozenset({"target_address", "address"})
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b")
_HOST = re.compile(r"\b(?:[a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,24}\b")
_CLOUD_ID = re.compile(
    r"\b(?:i|vol|sg|subnet|vpc|eni|ami|snap|igw|nat|rtb)-[0-9a-f]{8,17}\b|\b\d{12}\b"
)
_TOKEN = re.compile(r"\b(?:name|host|ip|id)-\d+\b")
_KEEP = frozenset({"aws", "gcp", "azure", "vultr", "static", "other"})


class Anonymizer:
    """A two-way map between identifying strings and tokens, built from one facts document.

    Args:
        facts: the facts as JSON data.
        extra_names: more strings to hide (target names from the config).
    """

    def __init__(self, facts: Any, extra_names: Iterable[str] = ()) -> None:
        found: dict[str, set[str]] = {
            "name": set(extra_names),
            "host": set(),
            "ip": set(),
            "id": set(),
        }
        self._collect(facts, None, found)
        found["name"] -= _KEEP
        self.forward: dict[str, str] = {}
        for kind in ("ip", "id", "host", "name"):
            for i, original in enumerate(sorted(found[kind] - set(self.forward)), 1):
                if original:
                    self.forward[original] = f"{kind}-{i}"
        self.backward = {token: original for original, token in self.forward.items()}
        ordered = sorted(self.forward, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(rf"(?<![\w.-]){re.escape(o)}(?![\w-])" for o in ordered))
            if ordered
            else None
        )

    def _collect(self, value: Any, key: str | None, found: dict[str, set[str]]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self._collect(v, str(k), found)
        elif isinstance(value, list):
            for v in value:
                self._collect(v, key, found)
        elif isinstance(value, str):
            if key in _NAME_KEYS and value:
                found["name"].add(value)
            if key in _ADDRESS_KEYS:
                host = urlsplit(value if "//" in value else f"//{value}").hostname
                if host:
                    found["ip" if _IP.fullmatch(host) else "host"].add(host)
            found["ip"].update(_IP.findall(value))
            found["id"].update(_CLOUD_ID.findall(value))
            found["host"].update(h for h in _HOST.findall(value) if not _IP.fullmatch(h))

    def hide(self, value: Any) -> Any:
        """``value`` (facts as JSON data) with every known identifier replaced by its token."""
        if isinstance(value, str):
            if self._pattern is None:
                return value
            return self._pattern.sub(lambda m: self.forward[m.group(0)], value)
        if isinstance(value, dict):
            return {k: self.hide(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.hide(v) for v in value]
        return value

    def restore(self, value: Any) -> Any:
        """``value`` (a model's answer) with every token turned back into what it stands for."""
        if isinstance(value, str):
            return _TOKEN.sub(lambda m: self.backward.get(m.group(0), m.group(0)), value)
        if isinstance(value, dict):
            return {k: self.restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.restore(v) for v in value]
        return value
