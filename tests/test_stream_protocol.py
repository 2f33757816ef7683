"""The wire messages: round trips, typed records, and malformed frames refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from nephos.errors import StreamError
from nephos.model import (
    CheckKind,
    CheckResult,
    EventKind,
    Health,
    Instance,
    InstanceState,
    MetricPoint,
    to_dict,
)
from nephos.stream.protocol import (
    Ack,
    ErrorMessage,
    EventMessage,
    Hello,
    Lag,
    Ping,
    Pong,
    ProtocolError,
    Resync,
    Snapshot,
    Subscribe,
    encode,
    parse_client_message,
    parse_server_message,
)

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
RESULT = CheckResult(
    target="api",
    kind=CheckKind.HTTP,
    ts=T0,
    health=Health.HEALTHY,
    latency_ms=12.0,
    success=True,
    provider="aws",
    timings={"total": 12.0},
)
INSTANCE = Instance(provider="aws", id="i-1", name="node-1", state=InstanceState.RUNNING)


@pytest.mark.parametrize(
    "message",
    [
        Hello(seq=7, server="nephos/0.1.0"),
        Snapshot(seq=7, ts=T0, results=(RESULT,), instances=(INSTANCE,), resync=True),
        EventMessage(seq=8, kind=EventKind.CHECK, ts=T0, data=to_dict(RESULT)),
        Pong(t=1.5),
        Lag(seq=7, dropped=100, count=1, limit=3),
        ErrorMessage(code="not_found", message="no alert with id x", ref="x"),
    ],
)
def test_server_messages_survive_a_round_trip_with_version_1(message) -> None:
    text = encode(message)
    assert json.loads(text)["v"] == 1
    assert parse_server_message(text) == message


@pytest.mark.parametrize(
    "message",
    [
        Ping(t=123.25),
        Subscribe(since=5, kinds=(EventKind.ALERT,), providers=("aws",), targets=("api",)),
        Subscribe(),
        Ack(alert_id="al-7f3k2q"),
        Resync(),
    ],
)
def test_client_messages_survive_a_round_trip(message) -> None:
    assert parse_client_message(encode(message)) == message


def test_client_frames_may_leave_out_the_version() -> None:
    assert parse_client_message('{"type":"ping","t":5}') == Ping(t=5.0)


def test_event_record_is_the_typed_value_of_its_kind() -> None:
    point = MetricPoint(instance="node-1", metric="cpu", unit="%", ts=T0, value=47.5)
    check = EventMessage(seq=1, kind=EventKind.CHECK, ts=T0, data=to_dict(RESULT))
    metric = EventMessage(seq=2, kind=EventKind.METRIC, ts=T0, data=to_dict(point))
    assert check.record() == RESULT
    assert metric.record() == point
    with pytest.raises(ProtocolError, match="malformed"):
        EventMessage(seq=3, kind=EventKind.ALERT, ts=T0, data={"id": "x"}).record()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"v": 1}', "no string 'type'"),
        ('{"v": 2, "type": "hello", "seq": 1, "server": "x"}', "version"),
        ('{"v": true, "type": "hello", "seq": 1, "server": "x"}', "version"),
        ('{"v": 1, "type": "bogus"}', "unknown server message type"),
        ('{"v": 1, "type": "hello", "seq": true, "server": "x"}', "'seq'"),
        ('{"v": 1, "type": "hello", "seq": -1, "server": "x"}', "'seq'"),
        (
            '{"v": 1, "type": "event", "seq": 1, "kind": "weird", "ts": "2026-01-05T12:00:00Z"}',
            "unknown event kind",
        ),
        ('{"v": 1, "type": "event", "seq": 1, "kind": "check", "ts": "yesterday"}', "RFC 3339"),
        (
            '{"v": 1, "type": "event", "seq": 1, "kind": "check", "ts": "2026-01-05T12:00:00Z",'
            ' "data": []}',
            "'data'",
        ),
        ('{"v": 1, "type": "snapshot", "seq": 1, "results": [{"target": "x"}]}', "malformed"),
        ('{"v": 1, "type": "snapshot", "seq": 1, "resync": "yes"}', "'resync'"),
        ('{"v": 1, "type": "pong", "t": "now"}', "'t'"),
    ],
)
def test_malformed_server_frames_raise_protocol_error(text: str, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint) as raised:
        parse_server_message(text)
    assert isinstance(raised.value, StreamError)


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "hello", "seq": 1, "server": "x"}',
        '{"type": "ack"}',
        '{"type": "ack", "alert_id": 7}',
        '{"type": "subscribe", "kinds": "check"}',
        '{"type": "subscribe", "kinds": ["nope"]}',
        '{"type": "subscribe", "since": "5"}',
        b"\xff\xfe",
    ],
)
def test_malformed_client_frames_raise_protocol_error(text: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_client_message(text)
