"""The on-disk spool: a bounded, append-only log of writes the hot store could not take yet.

Records are JSON lines ``{"n": serial, "k": kind, "d": data}`` in segment files named by their
first serial (``seg-000000000001.jsonl``). ``cursor.json`` holds ``applied`` (every serial up to
it is in the store) and ``in_doubt`` (serials up to it may already be in the store: a write of
them was attempted and its outcome is unknown). Appends are fsynced; the cursor is replaced
atomically. Nothing here talks to the store: ``spool.py`` does.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from nephos.errors import StoreError, StoreUnavailable

__all__ = ["Spool", "SpoolFull", "SpoolRecord"]

log = logging.getLogger(__name__)

_CURSOR = "cursor.json"
_REJECTED = "rejected.jsonl"
_PREFIX = "seg-"
_SUFFIX = ".jsonl"


class SpoolFull(StoreUnavailable):
    """The store is unavailable and the spool is at its byte cap (or its disk failed):
    the items were refused, not stored."""


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One spooled item: its serial (strictly increasing, contiguous), kind and JSON data."""

    serial: int
    kind: str
    data: dict[str, Any]


P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[Concatenate[Spool, P], R]) -> Callable[Concatenate[Spool, P], R]:
    # The writer serialises calls with an asyncio lock, but a cancelled await leaves its
    # thread running: this keeps such a straggler from interleaving with the next call.
    def wrapper(self: Spool, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._mutex:
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


def _serial(line: bytes) -> int | None:
    try:
        return int(json.loads(line)["n"])
    except (ValueError, KeyError, TypeError):
        return None


def _fsync_dir(directory: Path) -> None:
    # Makes a created, renamed or deleted file name durable; not possible on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Spool:
    """A directory of JSON-lines segments with a byte cap. Not thread-safe: one owner at a time.

    Args:
        directory: where the segments live; created when missing.
        max_bytes: the cap on the segments' total size. Bytes of already-applied records count
            until their segment is fully applied and deleted.
        segment_bytes: the size at which a new segment is started.

    Raises:
        StoreUnavailable: the directory cannot be created or read.
        StoreError: the cursor file is unreadable.
    """

    def __init__(
        self, directory: str | Path, *, max_bytes: int, segment_bytes: int | None = None
    ) -> None:
        self.directory = Path(directory).expanduser()
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(1, min(4 * 1024 * 1024, max_bytes // 8))
        self._mutex = threading.RLock()
        self.refused = 0
        """How many items were refused because the spool was full or its disk failed."""
        self.applied = 0
        self.in_doubt = 0
        self._segments: list[tuple[int, Path]] = []  # (first serial, path), in serial order
        self._sizes: dict[Path, int] = {}
        self._last_serial = 0
        self._read_pos: tuple[Path, int] | None = None  # where the first unapplied record starts
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._load()
        except OSError as exc:
            raise StoreUnavailable(f"spool {self.directory}: cannot open: {exc}") from exc

    # ------------------------------------------------------------------ state

    def pending(self) -> int:
        """How many records are spooled and not yet applied."""
        return self._last_serial - self.applied

    @property
    def bytes_used(self) -> int:
        """The segments' total size on disk."""
        return sum(self._sizes.values())

    def _load(self) -> None:
        cursor = self.directory / _CURSOR
        if cursor.exists():
            # Replaced atomically, so never torn; unreadable means someone edited it.
            try:
                saved = json.loads(cursor.read_text())
                self.applied = int(saved.get("applied", 0))
                self.in_doubt = int(saved.get("in_doubt", 0))
            except (ValueError, AttributeError, TypeError) as exc:
                raise StoreError(f"spool {self.directory}: {_CURSOR} is unreadable: {exc}") from exc
        for path in self.directory.glob(f"{_PREFIX}*{_SUFFIX}"):
            first = int(path.name[len(_PREFIX) : -len(_SUFFIX)])
            self._segments.append((first, path))
            self._sizes[path] = path.stat().st_size
        self._segments.sort()
        self._last_serial = self.applied
        if self._segments:
            self._last_serial = max(self.applied, self._repair_tail(*self._segments[-1]))
        self._drop_applied_segments()

    def _repair_tail(self, first: int, path: Path) -> int:
        """Cut a torn last line (a crash mid-append); the last complete record's serial."""
        data = path.read_bytes()
        good = len(data) if data.endswith(b"\n") else data.rfind(b"\n") + 1
        last = first - 1
        for line in reversed(data[:good].splitlines()):
            serial = _serial(line)
            if serial is not None:
                last = serial
                break
        if good != len(data):
            log.warning("spool %s: cut a torn record (%d bytes)", path, len(data) - good)
            with path.open("r+b") as handle:
                handle.truncate(good)
                os.fsync(handle.fileno())
            self._sizes[path] = good
        return last

    def _write_cursor(self) -> None:
        tmp = self.directory / (_CURSOR + ".tmp")
        with tmp.open("w") as handle:
            json.dump({"applied": self.applied, "in_doubt": self.in_doubt}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.directory / _CURSOR)
        _fsync_dir(self.directory)

    # ------------------------------------------------------------------ writing

    @_locked
    def append(self, kind: str, items: Sequence[dict[str, Any]], *, in_doubt: bool = False) -> None:
        """Append ``items`` as one batch and fsync it, or refuse the whole batch.

        With ``in_doubt`` the items are marked as possibly already stored (a write of them
        failed in a way that may have committed); replay checks the store before rewriting.

        Raises:
            SpoolFull: the batch does not fit under the byte cap, or the disk failed.
        """
        if not items:
            return
        first = self._last_serial + 1
        blob = "".join(
            json.dumps({"n": first + i, "k": kind, "d": item}, separators=(",", ":")) + "\n"
            for i, item in enumerate(items)
        ).encode()
        if self.bytes_used + len(blob) > self.max_bytes:
            self._refuse(len(items), f"full ({self.bytes_used} of {self.max_bytes} bytes used)")
        try:
            if in_doubt:
                # The mark goes first: a mark without records is harmless (replay finds them
                # absent and writes them); records without their mark could be duplicated.
                self.in_doubt = first + len(items) - 1
                self._write_cursor()
            self._write_blob(first, blob)
        except OSError as exc:
            self._refuse(len(items), f"cannot write: {exc}", exc)
        self._last_serial = first + len(items) - 1

    def _write_blob(self, first: int, blob: bytes) -> None:
        if not self._segments or self._sizes[self._segments[-1][1]] >= self.segment_bytes:
            path = self.directory / f"{_PREFIX}{first:012d}{_SUFFIX}"
            path.touch()
            _fsync_dir(self.directory)
            self._segments.append((first, path))
            self._sizes[path] = 0
        path = self._segments[-1][1]
        size = self._sizes[path]
        with path.open("ab") as handle:
            try:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            except OSError:
                # Leave no partial batch behind: the caller is told it was refused.
                handle.truncate(size)
                raise
        self._sizes[path] = size + len(blob)

    def _refuse(self, count: int, why: str, cause: BaseException | None = None) -> None:
        self.refused += count
        log.error(
            "spool %s: %s; refused %d item(s) (%d refused so far)",
            self.directory,
            why,
            count,
            self.refused,
        )
        raise SpoolFull(f"spool {self.directory}: {why}; {count} item(s) refused") from cause

    # ------------------------------------------------------------------ reading and advancing

    @_locked
    def peek(self, limit: int) -> list[SpoolRecord]:
        """The head run: up to ``limit`` unapplied records of one kind, in serial order.

        A run never straddles the in-doubt mark, so an in-doubt run is checked as a whole.
        """
        out: list[SpoolRecord] = []
        if self.pending() == 0:
            return out
        stop_at = self.in_doubt if self.applied < self.in_doubt else self._last_serial
        for record in self._records_from_head():
            if record.serial > stop_at or len(out) >= limit:
                break
            if out and record.kind != out[0].kind:
                break
            out.append(record)
        return out

    def _records_from_head(self) -> Iterable[SpoolRecord]:
        if self._read_pos is None:
            self._read_pos = (self._segments[0][1], 0)
        start_path, offset = self._read_pos
        started = False
        for _, path in self._segments:
            if path == start_path:
                started = True
            if not started:
                continue
            with path.open("rb") as handle:
                handle.seek(offset if path == start_path else 0)
                for line in handle:
                    try:
                        raw = json.loads(line)
                        serial = int(raw["n"])
                    except (ValueError, KeyError, TypeError):
                        # Damaged on disk (not a torn tail, which load() cuts): keep the bytes
                        # for a human, and do not let one bad line stop everything behind it.
                        log.error("spool %s: skipped a damaged record", path)
                        self._set_aside(line, "damaged record")
                        self._read_pos = (path, handle.tell())
                        continue
                    if serial <= self.applied:
                        # Skipped once after start-up; afterwards the read position is exact.
                        self._read_pos = (path, handle.tell())
                        continue
                    yield SpoolRecord(serial, str(raw["k"]), raw["d"])

    @_locked
    def mark_in_doubt(self, through: int) -> None:
        """Mark records up to ``through`` as possibly stored, before a write of them is tried.

        Raises:
            StoreUnavailable: the cursor cannot be written.
        """
        self.in_doubt = through
        try:
            self._write_cursor()
        except OSError as exc:
            raise StoreUnavailable(f"spool {self.directory}: cannot write cursor: {exc}") from exc

    @_locked
    def advance(self, through: int) -> None:
        """Record that every serial up to ``through`` is in the store; delete spent segments.

        Raises:
            StoreUnavailable: the cursor cannot be written.
        """
        self.applied = max(self.applied, through)
        try:
            self._write_cursor()
        except OSError as exc:
            raise StoreUnavailable(f"spool {self.directory}: cannot write cursor: {exc}") from exc
        self._drop_applied_segments()

    @_locked
    def reject(self, records: Sequence[SpoolRecord], reason: str) -> None:
        """Copy records the store refuses for good (not an outage) to ``rejected.jsonl``."""
        for record in records:
            line = {"n": record.serial, "k": record.kind, "d": record.data, "reason": reason}
            self._set_aside(json.dumps(line).encode() + b"\n", reason)

    def _set_aside(self, line: bytes, reason: str) -> None:
        try:
            with (self.directory / _REJECTED).open("ab") as handle:
                handle.write(line if line.endswith(b"\n") else line + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            log.error("spool %s: cannot set aside a %s: %s", self.directory, reason, exc)

    def _drop_applied_segments(self) -> None:
        while self._segments:
            path = self._segments[0][1]
            last = self._segments[1][0] - 1 if len(self._segments) > 1 else self._last_serial
            if last > self.applied:
                return
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._segments.pop(0)
            del self._sizes[path]
            if self._read_pos is not None and self._read_pos[0] == path:
                self._read_pos = None
            _fsync_dir(self.directory)
