"""The alert book end to end: a real SQLite store, a ManualClock and a real webhook receiver."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from nephos.clock import ManualClock
from nephos.config.types import NotifierConfig, SentinelConfig
from nephos.errors import UsageError
from nephos.model import (
    Alert,
    AlertRule,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    ConditionResult,
    Health,
    MaintenanceWindow,
    Severity,
    Target,
    TlsInfo,
)
from nephos.notify.dispatch import Dispatcher
from nephos.sentinel.alerts import AlertBook
from nephos.store.sqlite import SqliteHotStore


class Receiver:
    """A local HTTP server that records every webhook body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.Response(status=204)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def events(self) -> list[str]:
        return [b["event"] for b in self.bodies]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    await rec.start()
    yield rec
    await rec.stop()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock)
    await hot.open()
    yield hot
    await hot.close()


class Harness:
    """Builds alert books (as a restarted process would) over one store and receiver."""

    def __init__(self, store: SqliteHotStore, clock: ManualClock, receiver: Receiver) -> None:
        self.store, self.clock, self.receiver = store, clock, receiver
        self.dispatchers: list[Dispatcher] = []
        self.seed = 0

    def book(self, settings: SentinelConfig | None = None, **kwargs: Any) -> AlertBook:
        notifiers = {
            "ops": NotifierConfig(name="ops", type="webhook", options={"url": self.receiver.url})
        }
        dispatcher = Dispatcher(notifiers, clock=self.clock, backoff=0)
        self.dispatchers.append(dispatcher)
        self.seed += 1
        return AlertBook(
            self.store,
            dispatcher,
            clock=self.clock,
            settings=settings or SentinelConfig(),
            rng=random.Random(self.seed),
            **kwargs,
        )

    async def settle(self) -> list[str]:
        for dispatcher in self.dispatchers:
            assert await dispatcher.drain(5)
        return self.receiver.events()


@pytest.fixture
async def harness(
    store: SqliteHotStore, clock: ManualClock, receiver: Receiver
) -> AsyncIterator[Harness]:
    h = Harness(store, clock, receiver)
    yield h
    for dispatcher in h.dispatchers:
        await dispatcher.close()


RULE = AlertRule(notify=("ops",), failure_threshold=3, success_threshold=2)
API = Target(name="api", kind=CheckKind.HTTP, address="https://api.test/health", alerts=(RULE,))


def failing(clock: ManualClock, target: Target = API, **kwargs: Any) -> CheckResult:
    cond = ConditionResult("[STATUS] == 200", False, "503", "[STATUS] was 503, expected == 200")
    values: dict[str, Any] = {
        "health": Health.UNHEALTHY,
        "latency_ms": 42.0,
        "success": False,
        "status_code": 503,
        "reason": "[STATUS] was 503, expected == 200",
        "conditions": (cond,),
    }
    values.update(kwargs)
    return CheckResult(target=target.name, kind=target.kind, ts=clock.now(), **values)


def passing(clock: ManualClock, target: Target = API, **kwargs: Any) -> CheckResult:
    values: dict[str, Any] = {"health": Health.HEALTHY, "latency_ms": 20.0, "success": True}
    values.update(kwargs)
    return CheckResult(target=target.name, kind=target.kind, ts=clock.now(), **values)


async def feed(
    book: AlertBook, clock: ManualClock, results: list[str], target: Target = API
) -> list[Alert]:
    """Observe one result per letter (f fail, p pass, d degraded), a minute apart."""
    changed: list[Alert] = []
    for letter in results:
        clock.advance(timedelta(minutes=1))
        if letter == "f":
            result = failing(clock, target)
        elif letter == "d":
            result = passing(clock, target, health=Health.DEGRADED)
        else:
            result = passing(clock, target)
        changed.extend(await book.observe(target, result))
    return changed


async def test_alert_fires_only_after_failure_threshold_consecutive_failures(
    harness: Harness, clock: ManualClock, store: SqliteHotStore
) -> None:
    book = harness.book()
    assert await feed(book, clock, ["f", "f", "p", "f", "f"]) == []
    changed = await feed(book, clock, ["f"])
    assert len(changed) == 1
    alert = changed[0]
    assert re.fullmatch(r"al-[23456789abcdefghjkmnpqrstuvwxyz]{6}", alert.id)
    assert alert.state is AlertState.FIRING
    assert alert.dedup_key == "api|0|down"
    assert alert.title == "api is down"
    assert "failed 3 checks in a row" in alert.message and "503" in alert.message
    assert (alert.condition, alert.value) == ("[STATUS] == 200", "503")
    assert alert.facts["thresholds"]["failure_threshold"] == 3
    assert alert.facts["last_result"]["status"] == 503
    assert await harness.settle() == ["firing"]
    assert harness.receiver.bodies[0]["alert"]["id"] == alert.id
    assert (await store.get_alert(alert.id)) == alert


async def test_alert_resolves_after_success_threshold_and_notifies_once(
    harness: Harness, clock: ManualClock
) -> None:
    book = harness.book()
    await feed(book, clock, ["f", "f", "f", "f", "p"])
    assert [a.state for a in book.open_alerts()] == [AlertState.FIRING]
    changed = await feed(book, clock, ["p", "p", "p"])
    assert [a.state for a in changed] == [AlertState.RESOLVED]
    assert changed[0].title == "api recovered"
    assert book.open_alerts() == []
    assert await harness.settle() == ["firing", "resolved"]


async def test_no_resolved_notification_when_send_on_resolved_is_off(
    harness: Harness, clock: ManualClock
) -> None:
    quiet = Target(
        name="quiet",
        kind=CheckKind.HTTP,
        address="https://q.test",
        alerts=(AlertRule(notify=("ops",), failure_threshold=1, send_on_resolved=False),),
    )
    book = harness.book()
    changed = await feed(book, clock, ["f", "p", "p"], target=quiet)
    assert [a.state for a in changed] == [AlertState.FIRING, AlertState.RESOLVED]
    assert await harness.settle() == ["firing"]


async def test_restart_mid_incident_neither_repeats_firing_nor_forgets_the_alert(
    harness: Harness, clock: ManualClock, store: SqliteHotStore
) -> None:
    first = harness.book()
    opened = await feed(first, clock, ["f", "f", "f"])
    assert await harness.settle() == ["firing"]

    restarted = harness.book()
    await restarted.load()
    assert [a.id for a in restarted.open_alerts()] == [opened[0].id]
    assert await feed(restarted, clock, ["f", "f", "f"]) == []
    resolved = await feed(restarted, clock, ["p", "p", "p", "p"])
    assert [(a.id, a.state) for a in resolved] == [(opened[0].id, AlertState.RESOLVED)]
    assert await harness.settle() == ["firing", "resolved"]
    assert len(await store.alerts()) == 1


async def test_failure_counts_survive_a_restart(harness: Harness, clock: ManualClock) -> None:
    await feed(harness.book(), clock, ["f", "f"])
    changed = await feed(harness.book(), clock, ["f"])
    assert [a.state for a in changed] == [AlertState.FIRING]


async def test_global_maintenance_mutes_but_records_then_announces_after_the_window(
    harness: Harness, clock: ManualClock
) -> None:
    # ManualClock starts on Monday 2026-01-05 12:00 UTC; the window covers 11:00-13:00 UTC.
    window = MaintenanceWindow(start="12:00", duration=timedelta(hours=2), timezone="Europe/Paris")
    book = harness.book(SentinelConfig(maintenance=(window,)))
    changed = await feed(book, clock, ["f", "f", "f", "f"])
    assert [a.state for a in changed] == [AlertState.FIRING]
    assert changed[0].facts["muted"][0]["reason"] == "maintenance"
    assert await harness.settle() == []

    clock.advance(timedelta(hours=1))  # 13:05 UTC: the window is over and api still fails
    later = await feed(book, clock, ["f"])
    assert later[0].notify_count == 1
    assert await harness.settle() == ["firing"]


async def test_target_maintenance_window_mutes_resolution_too(
    harness: Harness, clock: ManualClock
) -> None:
    book = harness.book()
    await feed(book, clock, ["f", "f", "f"])
    in_window = Target(
        name="api",
        kind=CheckKind.HTTP,
        address="https://api.test/health",
        alerts=(RULE,),
        maintenance=(MaintenanceWindow(start="12:00", duration=timedelta(hours=1)),),
    )
    changed = await feed(book, clock, ["p", "p"], target=in_window)
    assert changed[-1].state is AlertState.RESOLVED
    assert [m["event"] for m in changed[-1].facts["muted"]] == ["resolved"]
    assert await harness.settle() == ["firing"]


async def test_flapping_target_is_notified_once_not_per_flip(
    harness: Harness, clock: ManualClock
) -> None:
    book = harness.book(SentinelConfig(flap_window=10, flap_threshold=0.5))
    changed = await feed(book, clock, list("fp" * 12))
    assert book.is_flapping("api")
    assert len({a.id for a in changed}) == 1
    assert changed[-1].flapping and changed[-1].state is AlertState.FIRING
    assert await harness.settle() == ["flapping"]

    # Steady again: flapping ends after the window drains, then the alert resolves once.
    settled = await feed(book, clock, ["p"] * 10)
    assert not book.is_flapping("api")
    assert settled[-1].state is AlertState.RESOLVED
    assert await harness.settle() == ["flapping", "resolved"]


async def test_flapping_between_healthy_and_degraded_opens_nothing_for_a_down_rule(
    harness: Harness, clock: ManualClock
) -> None:
    book = harness.book()
    assert await feed(book, clock, list("dp" * 10)) == []
    assert book.is_flapping("api")


async def test_reminders_repeat_while_firing_and_stop_once_acknowledged(
    harness: Harness, clock: ManualClock
) -> None:
    loud = Target(
        name="loud",
        kind=CheckKind.HTTP,
        address="https://l.test",
        alerts=(
            AlertRule(notify=("ops",), failure_threshold=1, reminder_interval=timedelta(minutes=5)),
        ),
    )
    book = harness.book()
    opened = await feed(book, clock, ["f"] * 11, target=loud)  # minutes 1..11
    assert await harness.settle() == ["firing", "reminder", "reminder"]
    acked = await book.ack(opened[0].id)
    assert acked.state is AlertState.ACKNOWLEDGED
    await feed(book, clock, ["f"] * 12, target=loud)
    assert await harness.settle() == ["firing", "reminder", "reminder", "acknowledged"]


async def test_an_ack_from_another_process_stops_reminders(
    harness: Harness, clock: ManualClock
) -> None:
    loud = Target(
        name="loud",
        kind=CheckKind.HTTP,
        address="https://l.test",
        alerts=(
            AlertRule(notify=("ops",), failure_threshold=1, reminder_interval=timedelta(minutes=5)),
        ),
    )
    sentinel = harness.book()
    opened = await feed(sentinel, clock, ["f"], target=loud)
    await harness.book().ack(opened[0].id)  # e.g. `nephos alerts ack` in another shell
    await feed(sentinel, clock, ["f"] * 12, target=loud)
    assert await harness.settle() == ["firing", "acknowledged"]
    assert [a.state for a in sentinel.open_alerts()] == [AlertState.ACKNOWLEDGED]


def with_cert(clock: ManualClock, days: float) -> CheckResult:
    tls = TlsInfo(leaf_not_after=clock.now() + timedelta(days=days), subject="CN=api.test")
    return passing(clock, tls=tls)


async def test_certificate_reminders_at_21_14_7_days_are_sent_once_each_across_restarts(
    harness: Harness, clock: ManualClock, store: SqliteHotStore
) -> None:
    not_after = clock.now() + timedelta(days=25)
    tls = TlsInfo(leaf_not_after=not_after, subject="CN=api.test")
    book = harness.book()
    alerts: list[Alert] = []
    for day in range(19):  # 25 days left down to 7 left, restarting the book every 3 days
        if day % 3 == 0:
            book = harness.book()
        for _ in range(2):
            clock.advance(timedelta(hours=12))
            alerts.extend(await book.observe(API, passing(clock, tls=tls)))
    assert await harness.settle() == ["certificate"] * 3
    cert_alerts = [a for a in await store.alerts() if a.source is AlertSource.CERTIFICATE]
    assert len(cert_alerts) == 1
    assert cert_alerts[0].severity is Severity.CRITICAL
    assert [b["alert"]["severity"] for b in harness.receiver.bodies] == [
        "warning",
        "warning",
        "critical",
    ]
    assert [b["alert"]["facts"]["threshold_days"] for b in harness.receiver.bodies] == [21, 14, 7]


async def test_a_certificate_first_seen_late_sends_only_the_tightest_reminder(
    harness: Harness, clock: ManualClock
) -> None:
    book = harness.book()
    changed = await book.observe(API, with_cert(clock, 5))
    assert changed[0].severity is Severity.CRITICAL
    assert "expires in 5 days" in changed[0].title
    clock.advance(timedelta(hours=2))
    await book.observe(API, with_cert(clock, 5 - 2 / 24))  # the same certificate, later
    assert await harness.settle() == ["certificate"]


async def test_a_renewed_certificate_resolves_the_old_reminder(
    harness: Harness, clock: ManualClock
) -> None:
    book = harness.book()
    old = await book.observe(API, with_cert(clock, 10))
    clock.advance(timedelta(hours=1))
    renewed = await book.observe(API, with_cert(clock, 90))
    assert [(a.id, a.state) for a in renewed] == [(old[0].id, AlertState.RESOLVED)]
    assert await harness.settle() == ["certificate", "resolved"]


async def test_ack_and_resolve_of_an_unknown_id_raise_usage_error(harness: Harness) -> None:
    book = harness.book()
    with pytest.raises(UsageError, match="no alert with id al-zzzzzz"):
        await book.ack("al-zzzzzz")
    with pytest.raises(UsageError, match="no alert with id al-zzzzzz"):
        await book.resolve("al-zzzzzz")


async def test_manual_resolve_closes_the_alert_and_needs_fresh_failures_to_reopen(
    harness: Harness, clock: ManualClock, store: SqliteHotStore
) -> None:
    book = harness.book()
    opened = await feed(book, clock, ["f", "f", "f"])
    resolved = await book.resolve(opened[0].id)
    assert resolved.state is AlertState.RESOLVED and resolved.facts["resolved_by"] == "manual"
    assert resolved.version == opened[0].version + 1
    assert await feed(book, clock, ["f", "f"]) == []
    reopened = await feed(book, clock, ["f"])
    assert reopened[0].id != opened[0].id
    assert await harness.settle() == ["firing", "resolved", "firing"]


async def test_results_from_an_offline_sentinel_neither_open_nor_resolve(
    harness: Harness, clock: ManualClock
) -> None:
    book = harness.book()
    for _ in range(5):
        clock.advance(60)
        assert await book.observe(API, failing(clock, sentinel_offline=True)) == []
    await feed(book, clock, ["f", "f", "f"])
    for _ in range(5):
        clock.advance(60)
        assert await book.observe(API, passing(clock, sentinel_offline=True)) == []
    assert [a.state for a in book.open_alerts()] == [AlertState.FIRING]


async def test_an_alert_explained_by_a_root_cause_is_recorded_but_not_notified(
    harness: Harness, clock: ManualClock
) -> None:
    root = Alert(
        id="al-r00t22",
        dedup_key="vm-1|instance",
        target="vm-1",
        source=AlertSource.INSTANCE,
        state=AlertState.FIRING,
        severity=Severity.CRITICAL,
        title="vm-1 is stopped",
        message="vm-1 is stopped",
        started_at=clock.now(),
        updated_at=clock.now(),
    )
    down: set[str] = {"vm-1"}
    on_vm = Target(
        name="api", kind=CheckKind.HTTP, address="https://a.test", alerts=(RULE,), instance="vm-1"
    )
    book = harness.book(root_cause=lambda t: root if t.instance in down else None)
    changed = await feed(book, clock, ["f", "f", "f"], target=on_vm)
    assert changed[0].suppressed_by == "al-r00t22"
    assert await harness.settle() == []
    down.clear()  # the instance is back but the service is still down: now people hear
    later = await feed(book, clock, ["f"], target=on_vm)
    assert later[0].suppressed_by is None
    assert await harness.settle() == ["firing"]


async def test_a_target_without_rules_still_records_alerts_in_the_book(
    harness: Harness, clock: ManualClock
) -> None:
    bare = Target(name="bare", kind=CheckKind.TCP, address="db.test:5432")
    book = harness.book()
    changed = await feed(book, clock, ["f", "f", "f"], target=bare)
    assert [a.target for a in changed] == ["bare"]
    assert await harness.settle() == []


async def test_an_on_degraded_rule_fires_on_degraded_results(
    harness: Harness, clock: ManualClock
) -> None:
    slow = Target(
        name="slow",
        kind=CheckKind.HTTP,
        address="https://s.test",
        alerts=(RULE, AlertRule(notify=("ops",), failure_threshold=2, on_degraded=True)),
    )
    book = harness.book()
    changed = await feed(book, clock, ["d", "d", "d"], target=slow)
    assert [(a.dedup_key, a.title) for a in changed] == [("slow|1|down", "slow is degraded")]
    assert await harness.settle() == ["firing"]


async def test_notifications_do_not_wait_for_a_dead_notifier(
    store: SqliteHotStore, clock: ManualClock
) -> None:
    dead = NotifierConfig(name="ops", type="webhook", options={"url": "http://127.0.0.1:9/x"})
    dispatcher = Dispatcher({"ops": dead}, clock=clock, backoff=0)
    book = AlertBook(store, dispatcher, clock=clock, settings=SentinelConfig())
    changed = await feed(book, clock, ["f", "f", "f"])
    assert changed[0].notify_count == 1  # observe returned before any delivery finished
    await asyncio.wait_for(dispatcher.drain(10), 10)
    assert dispatcher.stats.failed == 1
    await dispatcher.close()


async def test_a_certificate_reminder_due_in_maintenance_is_sent_after_the_window(
    harness: Harness, clock: ManualClock
) -> None:
    window = MaintenanceWindow(start="11:00", duration=timedelta(hours=2))
    book = harness.book(SentinelConfig(maintenance=(window,)))
    not_after = clock.now() + timedelta(days=20)
    tls = TlsInfo(leaf_not_after=not_after)
    recorded = await book.observe(API, passing(clock, tls=tls))
    assert recorded[0].source is AlertSource.CERTIFICATE
    assert recorded[0].facts["muted"][0]["event"] == "certificate"
    clock.advance(timedelta(minutes=30))
    assert await book.observe(API, passing(clock, tls=tls)) == []
    clock.advance(timedelta(hours=1))  # 13:30: the window is over
    await book.observe(API, passing(clock, tls=tls))
    clock.advance(timedelta(hours=1))
    await book.observe(API, passing(clock, tls=tls))
    assert await harness.settle() == ["certificate"]
