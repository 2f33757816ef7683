"""A minimal CBOR codec (RFC 8949) for the CloudWatch simulator's Smithy RPC v2 bodies.

botocore speaks ``smithy-rpc-v2-cbor`` to CloudWatch. Its requests use only definite
lengths, maps with text keys, arrays, text, integers, floats, booleans, null and tag 1
(epoch timestamps); indefinite lengths are decoded too, for safety. Nothing else is needed,
so a page of code spares a dependency.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

__all__ = ["CborError", "decode", "encode"]


class CborError(ValueError):
    """The body is not CBOR this codec understands."""


def encode(value: Any) -> bytes:
    """``value`` as CBOR; datetimes become tag 1 with float epoch seconds.

    Raises:
        CborError: a value of an unsupported type.
    """
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _head(major: int, length: int, out: bytearray) -> None:
    if length < 24:
        out.append(major << 5 | length)
    elif length < 0x100:
        out += bytes((major << 5 | 24, length))
    elif length < 0x10000:
        out += bytes((major << 5 | 25,)) + struct.pack(">H", length)
    elif length < 0x100000000:
        out += bytes((major << 5 | 26,)) + struct.pack(">I", length)
    else:
        out += bytes((major << 5 | 27,)) + struct.pack(">Q", length)


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(0xF6)
    elif value is True or value is False:
        out.append(0xF5 if value else 0xF4)
    elif isinstance(value, int):
        _head(0, value, out) if value >= 0 else _head(1, -1 - value, out)
    elif isinstance(value, float):
        out += b"\xfb" + struct.pack(">d", value)
    elif isinstance(value, str):
        data = value.encode()
        _head(3, len(data), out)
        out += data
    elif isinstance(value, bytes):
        _head(2, len(value), out)
        out += value
    elif isinstance(value, datetime):
        _head(6, 1, out)
        _encode(value.timestamp(), out)
    elif isinstance(value, list | tuple):
        _head(4, len(value), out)
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        _head(5, len(value), out)
        for key, item in value.items():
            _encode(key, out)
            _encode(item, out)
    else:
        raise CborError(f"cannot encode {type(value).__name__}")


def decode(data: bytes) -> Any:
    """The value in ``data``; tag 1 becomes an aware UTC datetime.

    Raises:
        CborError: malformed or unsupported CBOR.
    """
    try:
        value, end = _decode(data, 0)
    except (IndexError, struct.error) as exc:
        raise CborError("truncated CBOR") from exc
    if end != len(data):
        raise CborError("trailing bytes after the CBOR value")
    return value


_BREAK = object()


def _length(data: bytes, info: int, pos: int) -> tuple[int | None, int]:
    if info < 24:
        return info, pos
    if info == 31:
        return None, pos  # indefinite
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None:
        raise CborError(f"reserved additional information {info}")
    return int.from_bytes(data[pos : pos + size], "big"), pos + size


def _decode(data: bytes, pos: int) -> tuple[Any, int]:
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if major == 7:
        return _simple(data, info, pos)
    length, pos = _length(data, info, pos)
    if major in (0, 1):
        if length is None:
            raise CborError("indefinite integer")
        return (length if major == 0 else -1 - length), pos
    if major in (2, 3):
        if length is None:
            chunks = []
            while data[pos] != 0xFF:
                chunk, pos = _decode(data, pos)
                chunks.append(chunk)
            joined: Any = "".join(chunks) if major == 3 else b"".join(chunks)
            return joined, pos + 1
        raw = data[pos : pos + length]
        return (raw.decode() if major == 3 else bytes(raw)), pos + length
    if major == 4:
        items: list[Any] = []
        while length is None or len(items) < length:
            item, pos = _decode(data, pos)
            if item is _BREAK:
                break
            items.append(item)
        return items, pos
    if major == 5:
        mapping: dict[Any, Any] = {}
        while length is None or len(mapping) < length:
            key, pos = _decode(data, pos)
            if key is _BREAK:
                break
            mapping[key], pos = _decode(data, pos)
        return mapping, pos
    # major 6: a tag; only 1 (epoch seconds) means anything here.
    item, pos = _decode(data, pos)
    if length == 1 and isinstance(item, int | float):
        return datetime.fromtimestamp(item, UTC), pos
    return item, pos


def _simple(data: bytes, info: int, pos: int) -> tuple[Any, int]:
    if info == 20:
        return False, pos
    if info == 21:
        return True, pos
    if info in (22, 23):
        return None, pos
    if info == 25:
        return struct.unpack(">e", data[pos : pos + 2])[0], pos + 2
    if info == 26:
        return struct.unpack(">f", data[pos : pos + 4])[0], pos + 4
    if info == 27:
        return struct.unpack(">d", data[pos : pos + 8])[0], pos + 8
    if info == 31:
        return _BREAK, pos
    raise CborError(f"unsupported simple value {info}")
