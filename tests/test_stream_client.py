"""The stream client's policy over the in-package transports: mock, replay and backoff."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from nephos.clock import ManualClock
from nephos.model import EventKind
from nephos.stream.backoff import Backoff
from nephos.stream.client import Phase, StateChange, StreamClient, StreamMessage
from nephos.stream.mock import MockTransport
from nephos.stream.protocol import Ack, EventMessage, Hello, Snapshot, encode
from nephos.stream.replay import ReplayTransport
from nephos.stream.transport import AuthError

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
URL = "ws://hub.test:8765/"


def check(target: str) -> dict[str, object]:
    return {"target": target, "provider": "aws", "health": "healthy", "latency_ms": 12.0}


class Reader:
    """Pulls messages off a client one at a time, so a test can act between them."""

    def __init__(self, client: StreamClient) -> None:
        self.stream: AsyncIterator[StreamMessage] = client.messages()

    async def next(self) -> StreamMessage:
        return await asyncio.wait_for(anext(self.stream), 5)

    async def until(self, kind: type, predicate=lambda m: True) -> list[StreamMessage]:
        seen: list[StreamMessage] = []
        while True:
            message = await self.next()
            seen.append(message)
            if isinstance(message, kind) and predicate(message):
                return seen


def phases(messages: list[StreamMessage]) -> list[Phase]:
    return [m.state.phase for m in messages if isinstance(m, StateChange)]


def seqs(messages: list[StreamMessage]) -> list[int]:
    return [m.seq for m in messages if isinstance(m, EventMessage)]


async def test_mock_transport_gives_hello_snapshot_then_published_events() -> None:
    clock = ManualClock(T0)
    mock = MockTransport(snapshot=Snapshot(seq=0), clock=clock)
    client = StreamClient(URL, transport=mock, clock=clock, rng=random.Random(1))
    reader = Reader(client)
    first = await reader.until(Snapshot)
    mock.publish(EventKind.CHECK, check("api"))
    rest = await reader.until(EventMessage)
    assert phases(first) == [Phase.CONNECTING, Phase.LIVE]
    assert [type(m) for m in first if not isinstance(m, StateChange)] == [Hello, Snapshot]
    assert seqs(rest) == [1] and client.state.phase is Phase.LIVE
    await client.close()


async def test_disconnect_then_reconnect_resumes_from_the_last_seq_with_no_duplicates() -> None:
    clock = ManualClock(T0)
    mock = MockTransport(clock=clock)
    client = StreamClient(URL, transport=mock, clock=clock, rng=random.Random(7))
    reader = Reader(client)
    await reader.until(Snapshot)
    for target in ("a", "b"):
        mock.publish(EventKind.CHECK, check(target))
    before = await reader.until(EventMessage, lambda m: m.seq == 2)
    mock.disconnect()
    mock.refuse_next(1)
    for target in ("c", "d"):
        mock.publish(EventKind.CHECK, check(target))
    reconnecting = await reader.until(StateChange, lambda m: m.state.phase is Phase.RECONNECTING)
    delay = reconnecting[-1].state.retry_in
    clock.advance(delay)
    refused = await reader.until(StateChange, lambda m: m.state.phase is Phase.RECONNECTING)
    clock.advance(refused[-1].state.retry_in)
    after = await reader.until(EventMessage, lambda m: m.seq == 4)
    # The mock replays its whole history after ``since``; the client must not repeat seq 2.
    mock.send(EventMessage(seq=2, kind=EventKind.CHECK, ts=T0, data=check("b")))
    mock.publish(EventKind.CHECK, check("e"))
    last = await reader.until(EventMessage)
    assert seqs(before) + seqs(after) + seqs(last) == [1, 2, 3, 4, 5]
    assert delay is not None and 0 <= delay < 1
    assert mock.urls[0] == URL and mock.urls[-1].endswith("?since=2")
    assert phases(after)[-1] is Phase.LIVE
    await client.close()


async def test_state_reports_reconnecting_with_a_countdown_then_offline_on_close() -> None:
    clock = ManualClock(T0)
    mock = MockTransport(clock=clock)
    mock.refuse_next(5)
    client = StreamClient(URL, transport=mock, clock=clock, rng=random.Random(3))
    reader = Reader(client)
    seen = await reader.until(StateChange, lambda m: m.state.phase is Phase.RECONNECTING)
    state = client.state
    await client.close()
    tail = await reader.until(StateChange, lambda m: m.state.phase is Phase.OFFLINE)
    assert phases(seen) == [Phase.CONNECTING, Phase.RECONNECTING]
    assert state.retry_in is not None and state.retry_at == pytest.approx(state.retry_in)
    assert state.reason is not None and "refused" in state.reason
    assert phases(tail)[-1] is Phase.OFFLINE


async def test_reconnect_now_skips_the_remaining_backoff() -> None:
    clock = ManualClock(T0)
    mock = MockTransport(clock=clock)
    mock.refuse_next(1)
    client = StreamClient(URL, transport=mock, clock=clock, rng=random.Random(3))
    reader = Reader(client)
    await reader.until(StateChange, lambda m: m.state.phase is Phase.RECONNECTING)
    client.reconnect_now()
    live = await reader.until(StateChange, lambda m: m.state.phase is Phase.LIVE)
    assert phases(live) == [Phase.CONNECTING, Phase.LIVE]
    await client.close()


async def test_rejected_token_goes_offline_and_raises() -> None:
    mock = MockTransport()
    mock.reject_auth()
    client = StreamClient(URL, transport=mock, token="t0ken")
    seen: list[StreamMessage] = []
    with pytest.raises(AuthError):
        async for message in client.messages():
            seen.append(message)
    assert phases(seen) == [Phase.CONNECTING, Phase.OFFLINE]
    assert mock.headers == [{"Authorization": "Bearer t0ken"}]


async def test_round_trip_is_measured_and_a_silent_hub_is_dropped() -> None:
    clock = ManualClock(T0)
    mock = MockTransport(clock=clock)
    client = StreamClient(
        URL, transport=mock, clock=clock, ping_interval=5, ping_timeout=12, rng=random.Random(1)
    )
    reader = Reader(client)
    await reader.until(Snapshot)
    await mock.wait_for_received(1)  # the first ping went out at once and was answered
    mock.answer_pings = False
    for _ in range(3):
        clock.advance(5)
        await asyncio.sleep(0)
    dropped = await reader.until(StateChange, lambda m: m.state.phase is Phase.RECONNECTING)
    assert client.rtt_ms == 0.0  # the manual clock did not move between ping and pong
    assert phases(dropped) == [Phase.RECONNECTING]
    await client.close()


async def test_send_ack_reaches_the_hub() -> None:
    mock = MockTransport()
    client = StreamClient(URL, transport=mock)
    reader = Reader(client)
    await reader.until(Snapshot)
    await client.send_ack("al-7f3k2q")
    await mock.wait_for_received(2)
    assert Ack(alert_id="al-7f3k2q") in mock.received
    await client.close()


def recording(tmp_path, frames: list[object]) -> str:
    path = tmp_path / "rec.jsonl"
    path.write_text("".join(encode(f) + "\n" for f in frames) + '{"torn":')  # type: ignore[arg-type]
    return str(path)


def event(seq: int, seconds: float) -> EventMessage:
    return EventMessage(
        seq=seq, kind=EventKind.CHECK, ts=T0 + timedelta(seconds=seconds), data=check("api")
    )


async def test_replay_plays_a_recording_then_goes_offline(tmp_path) -> None:
    path = recording(tmp_path, [Snapshot(seq=3, ts=T0), event(4, 1), event(5, 2)])
    client = StreamClient(URL, transport=ReplayTransport(path), since=None)
    seen = [m async for m in client.messages()]
    assert [type(m).__name__ for m in seen if not isinstance(m, StateChange)] == [
        "Hello",
        "Snapshot",
        "EventMessage",
        "EventMessage",
    ]
    assert seqs(seen) == [4, 5]
    assert phases(seen) == [Phase.CONNECTING, Phase.LIVE, Phase.OFFLINE]
    assert client.state.reason == "end of recording"


async def test_replay_at_recorded_speed_waits_for_the_clock(tmp_path) -> None:
    clock = ManualClock(T0)
    path = recording(tmp_path, [event(1, 0), event(2, 10), event(3, 30)])
    client = StreamClient(
        URL,
        transport=ReplayTransport(path, speed=2.0, clock=clock),
        clock=clock,
        ping_interval=1000,
        ping_timeout=1000,
    )
    reader = Reader(client)
    await reader.until(EventMessage, lambda m: m.seq == 1)
    pending = asyncio.ensure_future(reader.until(EventMessage))
    await asyncio.sleep(0)
    clock.advance(4.9)
    await asyncio.sleep(0)
    early = pending.done()
    clock.advance(0.1)
    second = await pending
    clock.advance(10)
    third = await reader.until(EventMessage)
    assert not early
    assert seqs(second) == [2] and seqs(third) == [3]
    await client.close()


async def test_replay_resumes_after_since(tmp_path) -> None:
    path = recording(tmp_path, [event(1, 0), event(2, 1), event(3, 2)])
    client = StreamClient(URL, transport=ReplayTransport(path), since=2)
    seen = [m async for m in client.messages()]
    assert seqs(seen) == [3]


def test_backoff_is_full_jitter_under_one_second_first_and_capped() -> None:
    backoff = Backoff(random.Random(42), base=0.5, cap=30.0)
    delays = [backoff.next_delay() for _ in range(40)]
    assert 0 <= delays[0] < 1
    assert all(0 <= d <= 30 for d in delays)
    assert all(d <= 0.5 * 2**i for i, d in enumerate(delays))
    assert max(delays[10:]) > 15  # grows toward the cap
    assert min(delays[10:]) < 15  # and stays jittered below it
    backoff.reset()
    assert backoff.next_delay() < 0.5


def test_backoff_is_deterministic_for_a_seed() -> None:
    a = Backoff(random.Random(9))
    b = Backoff(random.Random(9))
    assert [a.next_delay() for _ in range(5)] == [b.next_delay() for _ in range(5)]


async def test_ack_on_the_mock_hub_publishes_the_acknowledged_alert_or_an_error() -> None:
    from nephos.model import Alert, AlertSource, AlertState, Severity
    from nephos.stream.protocol import ErrorMessage

    firing = Alert(
        id="al-1",
        dedup_key="api:status",
        target="api",
        source=AlertSource.SENTINEL,
        state=AlertState.FIRING,
        severity=Severity.CRITICAL,
        title="api is down",
        message="[STATUS] was 503",
        started_at=T0,
        updated_at=T0,
    )
    clock = ManualClock(T0)
    mock = MockTransport(snapshot=Snapshot(seq=4, alerts=(firing,)), clock=clock)
    client = StreamClient(URL, transport=mock, clock=clock)
    reader = Reader(client)
    await reader.until(Snapshot)
    await client.send_ack("al-1")
    (event,) = [m for m in await reader.until(EventMessage) if isinstance(m, EventMessage)]
    await client.send_ack("al-nope")
    error = (await reader.until(ErrorMessage))[-1]
    acked = event.record()
    assert event.seq == 5 and isinstance(acked, Alert)
    assert acked.state is AlertState.ACKNOWLEDGED and acked.acknowledged_at == T0
    assert isinstance(error, ErrorMessage) and error.code == "not_found" and error.ref == "al-nope"
    await client.close()


async def test_filters_and_resume_point_go_into_the_connection_url() -> None:
    mock = MockTransport()
    client = StreamClient(
        URL + "?token=x", transport=mock, since=41, kinds=[EventKind.ALERT], providers=["aws"]
    )
    reader = Reader(client)
    await reader.until(StateChange, lambda m: m.state.phase is Phase.LIVE)
    assert mock.urls == [URL + "?token=x&since=41&kinds=alert&providers=aws"]
    await client.close()
