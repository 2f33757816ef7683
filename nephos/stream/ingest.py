"""Reading a ``POST /ingest`` body: decompression, JSON or JSON lines, and point validation.

Pure functions over bytes, so the HTTP server (``ingest_server.py``) stays thin and the limits
are tested without a socket. Every refusal is an :class:`IngestRefused` carrying the HTTP
status to answer (400, 413 or 415) and, for a bad point, its index and field.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NoReturn

import orjson

from nephos.errors import NephosError
from nephos.model import MetricPoint

__all__ = [
    "FIELD_LIMITS",
    "MAX_BODY_BYTES",
    "MAX_POINTS",
    "IngestRefused",
    "decode_body",
    "parse_points",
]

MAX_POINTS = 10_000
"""Points one request may carry; more is 413."""
MAX_BODY_BYTES = 16 * 1024 * 1024
"""The largest body, compressed as sent and again once decompressed; larger is 413."""
FIELD_LIMITS = {"instance": 256, "metric": 200, "unit": 32, "provider": 64}
"""The longest text each name field may hold, in characters."""

_REQUIRED = ("instance", "metric", "unit", "ts", "value")
_ALLOWED = frozenset((*_REQUIRED, "provider"))
_JSON_TYPES = ("application/json", "text/json")
_LINES_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")
# Epoch seconds outside this range are a unit mix-up (milliseconds) or nonsense.
_EPOCH_MIN, _EPOCH_MAX = 0.0, 253402300799.0  # 1970-01-01 .. 9999-12-31T23:59:59Z


class IngestRefused(NephosError):
    """A request body was refused; ``status`` is the HTTP status to answer.

    ``index`` and ``field`` name the first bad point and its field, when a point is to blame.
    """

    def __init__(
        self, status: int, message: str, *, index: int | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.index = index
        self.field = field

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``error``, plus ``index`` and ``field`` when a point is to blame."""
        out: dict[str, Any] = {"error": str(self)}
        if self.index is not None:
            out["index"] = self.index
        if self.field is not None:
            out["field"] = self.field
        return out


def decode_body(body: bytes, encoding: str, *, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The body with its ``Content-Encoding`` (``gzip`` or none) undone, at most ``max_bytes``.

    Raises:
        IngestRefused: 415 for another encoding, 400 for a corrupt gzip stream, 413 when the
            decompressed body would exceed ``max_bytes`` (a zip bomb stops there).
    """
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in ("gzip", "x-gzip"):
        raise IngestRefused(415, f"Content-Encoding {encoding!r} is not supported (use gzip)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        # max_length + 1: one byte past the cap is enough to know it is over.
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise IngestRefused(400, f"the body is not valid gzip: {exc}") from exc
    if len(out) > max_bytes:
        raise IngestRefused(413, f"the body decompresses to more than {max_bytes} bytes")
    if not inflater.eof:
        raise IngestRefused(400, "the gzip stream is truncated")
    return out


def parse_points(
    body: bytes, content_type: str = "", *, max_points: int = MAX_POINTS
) -> list[MetricPoint]:
    """The metric points of a decoded body: a JSON array, or JSON lines (one object a line).

    ``content_type`` picks the format (``application/json`` or ``application/x-ndjson``);
    when it is empty (or curl's default form type), a body starting with ``[`` is an array and
    anything else JSON lines.

    Raises:
        IngestRefused: 415 for another content type; 400 when the body is not JSON, or a point
            is not valid (naming the first bad point's index and field); 413 for more than
            ``max_points`` points.
    """
    media = content_type.partition(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        media = ""  # what curl -d sends when no type is given: no type was meant
    if media in _JSON_TYPES or (not media and body.lstrip()[:1] == b"["):
        items = _json_array(body)
    elif media in _LINES_TYPES or not media:
        items = _json_lines(body)
    else:
        raise IngestRefused(
            415, f"Content-Type {media!r} is not supported (application/json or x-ndjson)"
        )
    if len(items) > max_points:
        raise IngestRefused(413, f"{len(items)} points; at most {max_points} a request")
    return _validate(items)


def _json_array(body: bytes) -> list[Any]:
    try:
        # orjson: a 10,000-point body parses in a quarter of the time json takes. It refuses
        # NaN and Infinity tokens as not JSON, which they are not.
        items = orjson.loads(body)
    except (ValueError, RecursionError) as exc:
        raise IngestRefused(400, f"the body is not JSON: {exc}") from exc
    if not isinstance(items, list):
        raise IngestRefused(400, f"the body must be a JSON array of points, not {_kind(items)}")
    return items


def _json_lines(body: bytes) -> list[Any]:
    lines = [line for line in body.split(b"\n") if line.strip()]
    try:
        # One parse of the whole body is several times faster than one per line.
        items = orjson.loads(b"[" + b",".join(lines) + b"]")
    except (ValueError, RecursionError):
        items = None
    if isinstance(items, list) and len(items) == len(lines):
        return items
    # Find the line to blame (a line holding "1, 2" would have parsed as two items).
    out = []
    for n, line in enumerate(lines):
        try:
            out.append(orjson.loads(line))
        except (ValueError, RecursionError) as exc:
            raise IngestRefused(400, f"point {n}: not JSON: {exc}", index=n) from exc
    return out


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _validate(items: Iterable[Any]) -> list[MetricPoint]:
    points: list[MetricPoint] = []
    stamps: dict[Any, datetime] = {}  # points of one push share timestamps: parse each once
    make = MetricPoint
    max_instance, max_metric = FIELD_LIMITS["instance"], FIELD_LIMITS["metric"]
    max_unit, max_provider = FIELD_LIMITS["unit"], FIELD_LIMITS["provider"]
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise IngestRefused(
                400, f"point {index}: must be an object, not {_kind(item)}", index=index
            )
        try:
            instance, metric, unit = item["instance"], item["metric"], item["unit"]
            ts, value = item["ts"], item["value"]
        except KeyError:
            _explain_keys(index, item)
        # Five fields, or six with a provider: a count instead of a set difference per point.
        if len(item) != (6 if "provider" in item else 5):
            _explain_keys(index, item)
        provider = item.get("provider", "other")
        # The common case in one test; the slow path below finds and words the problem.
        if not (
            type(instance) is str
            and 0 < len(instance) <= max_instance
            and type(metric) is str
            and 0 < len(metric) <= max_metric
            and type(unit) is str
            and len(unit) <= max_unit
            and type(provider) is str
            and 0 < len(provider) <= max_provider
            and (type(value) is float or type(value) is int)
            and math.isfinite(value)
        ):
            _explain(index, item)
        if type(ts) is str or type(ts) is float or type(ts) is int:
            stamp = stamps.get(ts)
            if stamp is None:
                stamp = stamps[ts] = _timestamp(index, ts)
        else:
            stamp = _timestamp(index, ts)  # refuses it, in words
        if type(value) is int:
            value = float(value)
        points.append(make(instance, metric, unit, stamp, value, provider))
    return points


def _explain_keys(index: int, item: dict[str, Any]) -> NoReturn:
    """Raise the refusal for the first unknown or missing field of ``item``."""
    unknown = sorted(key for key in item if key not in _ALLOWED)
    if unknown:
        field, why = unknown[0], "unknown field"
    else:
        field, why = next(key for key in _REQUIRED if key not in item), "missing"
    raise IngestRefused(400, f"point {index}: {field}: {why}", index=index, field=field)


def _explain(index: int, item: dict[str, Any]) -> None:
    """Raise the refusal for the first bad name or value field of ``item``."""
    for field, limit in FIELD_LIMITS.items():
        if field not in item:
            continue
        text = item[field]
        if type(text) is not str:
            why = f"must be text, not {_kind(text)}"
        elif not text and field != "unit":
            why = "must not be empty"
        elif len(text) > limit:
            why = f"is {len(text)} characters long; at most {limit}"
        else:
            continue
        raise IngestRefused(400, f"point {index}: {field}: {why}", index=index, field=field)
    value = item["value"]
    if type(value) not in (int, float):
        why = f"must be a number, not {_kind(value)}"
    else:
        why = "must be a finite number"
    raise IngestRefused(400, f"point {index}: value: {why}", index=index, field="value")


def _timestamp(index: int, ts: Any) -> datetime:
    """``ts`` (RFC 3339 text with an offset, or epoch seconds) as an aware UTC datetime."""
    if type(ts) is int or type(ts) is float:
        if not (math.isfinite(ts) and _EPOCH_MIN <= ts <= _EPOCH_MAX):
            raise IngestRefused(
                400,
                f"point {index}: ts: {ts!r} is not epoch seconds between 1970 and 9999",
                index=index,
                field="ts",
            )
        return datetime.fromtimestamp(ts, UTC)
    if type(ts) is str:
        try:
            parsed = datetime.fromisoformat(ts.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        why = f"{ts[:40]!r} is not an RFC 3339 time with an offset (2026-01-05T12:00:00Z)"
    else:
        why = f"must be RFC 3339 text or epoch seconds, not {_kind(ts)}"
    raise IngestRefused(400, f"point {index}: ts: {why}", index=index, field="ts")
