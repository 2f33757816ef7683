"""Notifiers and the dispatcher against a real local HTTP server, and SNS on moto."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from nephos.clock import ManualClock
from nephos.config.types import NotifierConfig
from nephos.errors import ConfigError, NotifyError
from nephos.model import Alert, AlertSource, AlertState, Severity
from nephos.notify import build_notifier
from nephos.notify.base import Notification
from nephos.notify.dispatch import Dispatcher
from nephos.notify.sns import SnsNotifier, sns_subject
from nephos.notify.template import render, validate_template


class Receiver:
    """A local HTTP server that answers with scripted statuses and records each request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    await rec.start()
    yield rec
    await rec.stop()


@pytest.fixture
async def flaky() -> AsyncIterator[Receiver]:
    rec = Receiver(statuses=[500, 500])
    await rec.start()
    yield rec
    await rec.stop()


@pytest.fixture
async def broken() -> AsyncIterator[Receiver]:
    rec = Receiver(statuses=[500] * 10)
    await rec.start()
    yield rec
    await rec.stop()


async def until(predicate: Callable[[], bool]) -> None:
    """Let the loop run until ``predicate`` holds (the dispatcher works in background tasks)."""
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


def make_alert(**kwargs: Any) -> Alert:
    when = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": "al-7f3k2q",
        "dedup_key": "api|0|down",
        "target": "api",
        "source": AlertSource.SENTINEL,
        "state": AlertState.FIRING,
        "severity": Severity.CRITICAL,
        "title": "api is down",
        "message": "api failed 3 checks in a row: [STATUS] was 503, expected == 200",
        "started_at": when,
        "updated_at": when,
        "condition": "[STATUS] == 200",
        "value": "503",
    }
    values.update(kwargs)
    return Alert(**values)


def webhook(name: str, url: str, **kwargs: Any) -> NotifierConfig:
    return NotifierConfig(name=name, type="webhook", options={"url": url}, **kwargs)


async def test_webhook_posts_the_alert_as_json_with_custom_headers(receiver: Receiver) -> None:
    cfg = NotifierConfig(
        name="hook",
        type="webhook",
        options={"url": receiver.base + "/in", "headers": {"X-Token": "t0k"}},
    )
    notifier = build_notifier(cfg)
    await notifier.send(Notification(make_alert(), "firing", "api is down", "details"))
    await notifier.close()
    headers, body = receiver.requests[0]
    assert headers["X-Token"] == "t0k"
    assert body["event"] == "firing" and body["title"] == "api is down"
    assert body["alert"]["id"] == "al-7f3k2q" and body["alert"]["state"] == "firing"
    assert body["alert"]["started_at"] == "2026-01-05T12:00:00Z"


async def test_webhook_non_2xx_raises_notify_error_without_the_url(broken: Receiver) -> None:
    notifier = build_notifier(webhook("hook", broken.base + "/secret-token-123"))
    with pytest.raises(NotifyError) as caught:
        await notifier.send(Notification(make_alert(), "firing", "t", "x"))
    await notifier.close()
    assert str(caught.value) == "webhook hook: HTTP 500"


async def test_dispatcher_retries_after_500_until_success(flaky: Receiver) -> None:
    dispatcher = Dispatcher(
        {"ops": webhook("ops", flaky.base + "/")}, clock=ManualClock(), backoff=0
    )
    dispatcher.submit(["ops"], make_alert(), "firing")
    assert await dispatcher.drain(5)
    assert len(flaky.requests) == 3
    assert (dispatcher.stats.delivered, dispatcher.stats.retried, dispatcher.stats.failed) == (
        1,
        2,
        0,
    )
    await dispatcher.close()


async def test_dispatcher_backs_off_exponentially_on_the_injected_clock(flaky: Receiver) -> None:
    clock = ManualClock()
    dispatcher = Dispatcher({"ops": webhook("ops", flaky.base + "/")}, clock=clock, backoff=1.0)
    dispatcher.submit(["ops"], make_alert(), "firing")
    await until(lambda: dispatcher.stats.retried == 1)  # now asleep on the clock
    assert len(flaky.requests) == 1 and dispatcher.stats.delivered == 0
    clock.advance(1.0)
    await until(lambda: dispatcher.stats.retried == 2)
    assert len(flaky.requests) == 2
    clock.advance(2.0)
    assert await dispatcher.drain(5)
    assert dispatcher.stats.delivered == 1
    await dispatcher.close()


async def test_a_failing_notifier_does_not_block_the_others(
    broken: Receiver, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    notifiers = {
        "dead": webhook("dead", broken.base + "/hooks/SECRET-TOKEN"),
        "good": webhook("good", receiver.base + "/"),
    }
    dispatcher = Dispatcher(notifiers, clock=clock, backoff=30.0)
    dispatcher.submit(["dead", "good"], make_alert(), "firing")
    with caplog.at_level(logging.INFO, logger="nephos.notify"):
        # "good" is delivered while "dead" waits for its retry.
        await until(lambda: dispatcher.stats.delivered == 1 and dispatcher.stats.retried == 1)
        assert dispatcher.pending == 1 and len(receiver.requests) == 1
        clock.advance(30)
        await until(lambda: dispatcher.stats.retried == 2)
        clock.advance(60)
        assert await dispatcher.drain(5)
    assert dispatcher.stats.failed == 1 and len(broken.requests) == 3
    assert "gave up on firing notification for alert al-7f3k2q" in caplog.text
    assert "SECRET-TOKEN" not in caplog.text and broken.base not in caplog.text
    await dispatcher.close()


async def test_notifications_to_one_notifier_keep_their_order(flaky: Receiver) -> None:
    dispatcher = Dispatcher(
        {"ops": webhook("ops", flaky.base + "/")}, clock=ManualClock(), backoff=0
    )
    dispatcher.submit(["ops"], make_alert(), "firing")
    dispatcher.submit(["ops"], make_alert(state=AlertState.RESOLVED), "resolved")
    assert await dispatcher.drain(5)
    assert [body["event"] for _, body in flaky.requests] == ["firing"] * 3 + ["resolved"]
    await dispatcher.close()


async def test_templates_render_every_placeholder(receiver: Receiver) -> None:
    cfg = webhook(
        "ops",
        receiver.base + "/",
        title_template="{severity}: {target} {state}",
        template="{alert_id} {condition} was {value} since {since}: {message} ({event})",
    )
    dispatcher = Dispatcher({"ops": cfg}, clock=ManualClock())
    dispatcher.submit(["ops"], make_alert(), "reminder")
    assert await dispatcher.drain(5)
    body = receiver.requests[0][1]
    assert body["title"] == "critical: api firing"
    assert body["text"] == (
        "al-7f3k2q [STATUS] == 200 was 503 since 2026-01-05T12:00:00Z: "
        "api failed 3 checks in a row: [STATUS] was 503, expected == 200 (reminder)"
    )
    await dispatcher.close()


def test_an_unknown_placeholder_is_a_config_error_at_construction() -> None:
    cfg = webhook("ops", "http://127.0.0.1:9/", template="{target} is {staet}")
    with pytest.raises(
        ConfigError, match=r"notifiers\.ops\.template: unknown placeholder \{staet\}"
    ):
        Dispatcher({"ops": cfg}, clock=ManualClock())


@pytest.mark.parametrize("text", ["{target.__class__}", "{}", "{0}", "{target", "{target:{x}}"])
def test_validate_template_rejects_anything_but_named_placeholders(text: str) -> None:
    with pytest.raises(ConfigError):
        validate_template(text)


def test_literal_braces_survive_rendering() -> None:
    validate_template("{{literal}} {target}")
    assert render("{{literal}} {target}", make_alert(), "firing") == "{literal} api"


def test_an_unknown_notifier_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown notifier type 'pager'"):
        build_notifier(NotifierConfig(name="p", type="pager"))


def test_a_webhook_without_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"notifiers\.w\.url"):
        build_notifier(NotifierConfig(name="w", type="webhook", options={}))


async def test_a_notifier_only_hears_the_events_it_lists(receiver: Receiver) -> None:
    cfg = webhook("ops", receiver.base + "/", events=("resolved",))
    dispatcher = Dispatcher({"ops": cfg}, clock=ManualClock())
    dispatcher.submit(["ops"], make_alert(), "firing")
    dispatcher.submit(["ops", "nobody"], make_alert(state=AlertState.RESOLVED), "resolved")
    assert await dispatcher.drain(5)
    assert [body["event"] for _, body in receiver.requests] == ["resolved"]
    await dispatcher.close()


async def test_slack_sends_text_and_blocks_with_untrusted_text_escaped(receiver: Receiver) -> None:
    cfg = NotifierConfig(name="chat", type="slack", options={"webhook_url": receiver.base + "/s"})
    dispatcher = Dispatcher({"chat": cfg}, clock=ManualClock())
    alert = make_alert(message="body said <!channel> & <http://evil|click>")
    dispatcher.submit(["chat"], alert, "firing")
    assert await dispatcher.drain(5)
    body = receiver.requests[0][1]
    assert body["text"] == ":red_circle: [FIRING] api is down"
    section = body["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in section
    assert "<!channel>" not in json.dumps(body)
    fields = [f["text"] for f in body["blocks"][1]["fields"]]
    assert "*Condition*\n`[STATUS] == 200`" in fields
    assert "al-7f3k2q" in body["blocks"][2]["elements"][0]["text"]
    await dispatcher.close()


async def test_log_notifier_prints_one_line_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    notifier = build_notifier(NotifierConfig(name="l", type="log", options={"stdout": True}))
    await notifier.send(Notification(make_alert(), "firing", "api is down", "line one\nline two"))
    assert capsys.readouterr().out == "api is down - line one line two\n"


def test_sns_subject_is_one_line_of_printable_ascii_under_100_chars() -> None:
    subject = sns_subject("café\nis down " + "x" * 200)
    assert len(subject) == 100 and subject.isascii() and "\n" not in subject
    assert subject.startswith("caf? is down")
    assert sns_subject("\n\t") == "nephos alert"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


async def test_sns_publishes_subject_message_and_attributes(aws: None) -> None:
    import boto3

    sns = boto3.client("sns", region_name="eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    topic = sns.create_topic(Name="nephos-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    dispatcher = Dispatcher(
        {"page": NotifierConfig(name="page", type="sns", options={"topic_arn": topic})},
        clock=ManualClock(),
    )
    dispatcher.submit(["page"], make_alert(title="api is down " + "!" * 150), "firing")
    assert await dispatcher.drain(10)
    assert dispatcher.stats.delivered == 1
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert len(envelope["Subject"]) <= 100 and envelope["Subject"].startswith("[FIRING] api")
    assert "api failed 3 checks in a row" in envelope["Message"]
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes == {"severity": "critical", "state": "firing", "event": "firing"}
    await dispatcher.close()


async def test_sns_errors_become_notify_errors(aws: None) -> None:
    notifier = SnsNotifier("page", {"topic_arn": "arn:aws:sns:us-east-1:123456789012:missing"})
    with pytest.raises(NotifyError, match="sns page: NotFound"):
        await notifier.send(Notification(make_alert(), "firing", "t", "x"))


def test_sns_needs_a_topic_arn() -> None:
    with pytest.raises(ConfigError, match="topic_arn"):
        SnsNotifier("page", {"topic_arn": "not-an-arn"})
