"""``nephos report --notify``: the report through configured notifiers, email over SMTP to a local
aiosmtpd server and a webhook to a local aiohttp server; a failed delivery exits 4."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from nephos.cli.main import main
from tests.insights_seed import UNTIL, seed_sources, write_config


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port: aiosmtpd's start-up check cannot use port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_report_is_emailed_with_a_text_and_an_html_part(
    tmp_path: Path, smtp: tuple[Inbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, port = smtp
    hot, wh = seed_sources(tmp_path)
    notifiers = f"""
notifiers:
  ops-mail:
    type: email
    host: 127.0.0.1
    port: {port}
    starttls: false
    sender: nephos@example.com
    to: [oncall@example.com, lead@example.com]
"""
    config = write_config(tmp_path, hot, wh, notifiers)
    code, out, err = run(
        capsys, "report", "--until", UNTIL, "--notify", "ops-mail", "-c", str(config)
    )
    assert code == 1, err
    assert out.startswith("# nephos report")
    sender, recipients, raw = inbox.messages[0]
    assert (sender, recipients) == (
        "nephos@example.com",
        ["oncall@example.com", "lead@example.com"],
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"].startswith("nephos report 2026-11-19 12:00 – 2026-11-20 12:00 UTC")
    kinds = [part.get_content_type() for part in message.walk()]
    assert "text/plain" in kinds and "text/html" in kinds


def test_report_is_posted_to_a_webhook_with_the_json_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    received: list[dict[str, Any]] = []
    hot, wh = seed_sources(tmp_path)

    async def serve_and_report() -> tuple[int, str, str]:
        async def hook(request: web.Request) -> web.Response:
            received.append(await request.json())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        extra = f"notifiers:\n  hook: {{type: webhook, url: 'http://127.0.0.1:{port}/hook'}}\n"
        config = write_config(tmp_path, hot, wh, extra)
        try:
            return await asyncio.to_thread(
                run, capsys, "report", "--until", UNTIL, "--notify", "hook", "-c", str(config)
            )
        finally:
            await runner.cleanup()

    code, _, _ = asyncio.run(serve_and_report())
    assert code == 1
    body = received[0]
    assert body["event"] == "report"
    assert (body["alert"]["source"], body["alert"]["target"]) == ("report", "fleet")
    assert body["alert"]["title"].startswith("nephos report: degraded at ")
    assert body["alert"]["facts"]["report"]["health"] == "degraded"
    assert json.dumps(body)  # plain JSON all the way down


def test_an_undeliverable_report_is_still_printed_and_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hot, wh = seed_sources(tmp_path)
    extra = (
        "notifiers:\n  mail: {type: email, host: 127.0.0.1, port: 9, starttls: false, "
        "sender: a@example.com, to: b@example.com, timeout: 2s}\n"
    )
    config = write_config(tmp_path, hot, wh, extra)
    code, out, err = run(capsys, "report", "--until", UNTIL, "--notify", "mail", "-c", str(config))
    assert code == 4
    assert out.startswith("# nephos report")
    assert "report not delivered to mail" in err
