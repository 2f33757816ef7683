"""``nephos alerts list|ack|resolve`` against a real SQLite store and config file."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nephos.cli.main import main
from nephos.model import Alert, AlertSource, AlertState, Severity
from nephos.store.sqlite import SqliteHotStore


def seed(db: Path, *alerts: Alert) -> None:
    async def put() -> None:
        store = SqliteHotStore(str(db))
        await store.open()
        for alert in alerts:
            await store.put_alert(alert)
        await store.close()

    asyncio.run(put())


def alert(alert_id: str, state: AlertState, title: str, minute: int) -> Alert:
    when = datetime(2026, 1, 5, 12, minute, tzinfo=UTC)
    return Alert(
        id=alert_id,
        dedup_key=f"{alert_id}|0|down",
        target="api",
        source=AlertSource.SENTINEL,
        state=state,
        severity=Severity.CRITICAL,
        title=title,
        message=title,
        started_at=when,
        updated_at=when,
        notify_count=1,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    db = tmp_path / "hot.db"
    path = tmp_path / "nephos.yaml"
    path.write_text(f"storage:\n  hot:\n    backend: sqlite\n    path: {db}\n")
    seed(
        db,
        alert("al-aaaaaa", AlertState.FIRING, "api is down", 1),
        alert("al-bbbbbb", AlertState.RESOLVED, "api [b]recovered[/b]", 2),
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_list_json_prints_every_alert_newest_first(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "alerts", "list", "--json", "-c", str(config))
    assert code == 0
    assert [a["id"] for a in json.loads(out)] == ["al-bbbbbb", "al-aaaaaa"]


def test_list_filters_by_state_and_reads_the_config_from_the_environment(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEPHOS_CONFIG", str(config))
    code, out, _ = run(capsys, "alerts", "list", "--state", "firing", "--json")
    assert code == 0 and [a["id"] for a in json.loads(out)] == ["al-aaaaaa"]


def test_list_table_shows_state_words_and_escapes_markup(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "alerts", "-c", str(config))
    assert code == 0
    assert "✕ firing" in out and "● resolved" in out
    assert "api [b]recovered[/b]" in out


def test_ack_then_resolve_change_the_stored_alert(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "alerts", "ack", "al-aaaaaa", "-c", str(config))
    assert (code, out) == (0, "al-aaaaaa is acknowledged: api is down\n")
    code, out, _ = run(capsys, "alerts", "-c", str(config), "--json", "resolve", "al-aaaaaa")
    assert code == 0
    body = json.loads(out)
    assert body["state"] == "resolved" and body["facts"]["resolved_by"] == "manual"


def test_an_unknown_id_exits_3_with_one_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "alerts", "ack", "al-zzzzzz", "-c", str(config))
    assert (code, out, err) == (3, "", "nephos: no alert with id al-zzzzzz\n")
