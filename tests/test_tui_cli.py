"""The ``nephos watch`` command: where it connects, and its usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nephos.cli.main import main
from nephos.stream.hub import dial_url


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("127.0.0.1:8765", "ws://127.0.0.1:8765/"),
        ("0.0.0.0:9000", "ws://127.0.0.1:9000/"),
        ("[::1]:8765", "ws://[::1]:8765/"),
        ("[::]:8765", "ws://127.0.0.1:8765/"),
        ("hub.internal:8765", "ws://hub.internal:8765/"),
    ],
)
def test_the_hub_url_comes_from_the_listen_address(listen: str, url: str) -> None:
    assert dial_url(listen) == url


def test_a_missing_recording_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["watch", "--replay", "/nonexistent/recording.jsonl"])
    assert exit_info.value.code == 3
    assert "no recording at /nonexistent/recording.jsonl" in capsys.readouterr().err


def test_help_does_not_import_textual() -> None:
    code = "import sys; from nephos.cli.main import app;print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
