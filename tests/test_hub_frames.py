"""The feed's hand-made encodings equal what the protocol module and websockets would write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from websockets.frames import Frame, Opcode

from nephos.model import Event, EventKind
from nephos.stream.protocol import EventMessage, encode, event_frame
from nephos.stream.session import Batch


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_batch_wire_frames_equal_websockets_serialisation(size: int) -> None:
    data = {"text": "é" * (size // 2) + "x" * (size % 2)}
    event = Event(seq=7, kind=EventKind.METRIC, ts=datetime(2026, 1, 5, tzinfo=UTC), data=data)
    batch = Batch([event])
    expected = Frame(Opcode.TEXT, batch.texts[0].encode()).serialize(mask=False)
    assert batch.wire == (expected,)


def test_event_frame_equals_encoding_the_event_message() -> None:
    event = Event(
        seq=1044,
        kind=EventKind.METRIC,
        ts=datetime(2026, 1, 5, 14, 0, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
        data={"instance": 'nöde\n"1"', "metric": "cpu", "unit": "%", "value": 47.5},
    )
    assert event_frame(event) == encode(EventMessage.from_event(event))
