"""An on-disk cache of what sqlglot makes of our SQL, so a fresh process need not import it.

Importing sqlglot and transpiling the schema and a report's statements costs a cold ``nephos``
process about 0.2 s, every time, for the same answers. Each answer is stored as one small
JSON file under the user's cache directory, keyed by a hash of the input text, the installed
sqlglot's version and the source of :mod:`nephos.warehouse.sql_binds` (the rewriting rules):
upgrading sqlglot or changing a rule misses the old entries rather than reusing them.

The cache is an optimisation only: an unreadable, corrupt or unwritable entry is a miss, and
the answer is computed as before. ``$NEPHOS_SQL_CACHE`` names another directory; set to an
empty string it turns the cache off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from importlib import util
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ENV_VAR", "cache_dir", "cached"]

ENV_VAR = "NEPHOS_SQL_CACHE"

T = TypeVar("T")


def cache_dir() -> Path | None:
    """Where entries live, or None when ``$NEPHOS_SQL_CACHE`` is set empty (cache off)."""
    explicit = os.environ.get(ENV_VAR)
    if explicit is not None:
        return Path(explicit).expanduser() if explicit.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "nephos" / "duckdb-sql"


@functools.cache
def _fingerprint() -> str | None:
    """The sqlglot release and our rewriting rules, or None when either cannot be read.

    Read from files rather than ``importlib.metadata`` (tens of milliseconds) or by importing
    sqlglot (what the cache exists to avoid).
    """
    try:
        spec = util.find_spec("sqlglot")
        if spec is None or spec.origin is None:
            return None
        version = (Path(spec.origin).parent / "_version.py").read_bytes()
        rules = (Path(__file__).parent / "sql_binds.py").read_bytes()
    except (OSError, ImportError, ValueError):
        return None
    return hashlib.sha256(version + b"\0" + rules).hexdigest()


def cached(
    kind: str,
    text: str,
    compute: Callable[[str], T],
    *,
    encode: Callable[[T], Any],
    decode: Callable[[Any], T],
) -> T:
    """``compute(text)``, from the disk when an earlier process stored it.

    ``encode`` turns the answer into JSON-able data and ``decode`` turns it back (raising
    ``TypeError``, ``ValueError`` or ``KeyError`` on data of the wrong shape, which counts as a
    miss). Errors raised by ``compute`` propagate and are not cached.
    """
    folder = cache_dir()
    stamp = _fingerprint()
    if folder is None or stamp is None:
        return compute(text)
    key = hashlib.sha256(f"{stamp}\0{kind}\0{text}".encode()).hexdigest()
    path = folder / f"{kind}-{key[:40]}.json"
    try:
        with path.open(encoding="utf-8") as fh:
            entry = json.load(fh)
        if isinstance(entry, dict) and entry.get("text") == text:  # a hash collision is a miss
            return decode(entry["value"])
    except (OSError, ValueError, TypeError, KeyError):
        pass  # absent or damaged: compute it again
    value = compute(text)
    _store(path, {"text": text, "value": encode(value)})
    return value


def _store(path: Path, entry: dict[str, Any]) -> None:
    """Write atomically (a temporary file renamed into place); any failure is ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass  # a read-only home or a full disk only costs the next process the work
