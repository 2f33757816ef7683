"""docs/protocol.md stays true: every JSON example parses with nephos.stream.protocol."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from nephos.stream.protocol import encode, parse_client_message, parse_server_message

DOC = pathlib.Path(__file__).parent.parent / "docs" / "protocol.md"
FENCE = re.compile(r"```json (server|client)\n(.*?)```", re.DOTALL)
EXAMPLES = FENCE.findall(DOC.read_text(encoding="utf-8"))
SERVER_TYPES = {"hello", "snapshot", "event", "pong", "lag", "error"}
CLIENT_TYPES = {"ping", "subscribe", "ack", "resync"}


def test_the_doc_shows_every_message_type_in_the_right_direction() -> None:
    shown = {(side, json.loads(text)["type"]) for side, text in EXAMPLES}
    assert shown == {("server", t) for t in SERVER_TYPES} | {("client", t) for t in CLIENT_TYPES}


@pytest.mark.parametrize(
    ("side", "text"), EXAMPLES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(EXAMPLES)]
)
def test_example_parses_and_survives_a_round_trip(side: str, text: str) -> None:
    parse = parse_server_message if side == "server" else parse_client_message
    message = parse(text)
    assert message.type == json.loads(text)["type"]
    assert parse(encode(message)) == message


def test_a_client_example_with_another_version_would_be_refused() -> None:
    from nephos.stream.protocol import ProtocolError

    _, text = next(e for e in EXAMPLES if e[0] == "client")
    frame = json.loads(text) | {"v": 2}
    with pytest.raises(ProtocolError, match="version"):
        parse_client_message(json.dumps(frame))
