"""Result batching on a ManualClock: by age, by size, in order, written before handed on."""

from __future__ import annotations

import asyncio
from datetime import datetime

from nephos.clock import ManualClock
from nephos.model import CheckKind, CheckResult, Health, Target
from nephos.sentinel.batch import ResultBatcher

TARGET = Target(name="api", kind=CheckKind.HTTP, address="http://api/")


def _result(ts: datetime, n: int) -> CheckResult:
    return CheckResult(
        target=f"t{n}",
        kind=CheckKind.HTTP,
        ts=ts,
        health=Health.HEALTHY,
        latency_ms=1.0,
        success=True,
    )


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class Sink:
    def __init__(self) -> None:
        self.log: list[tuple[str, list[str]]] = []

    async def write(self, results: list[CheckResult]) -> None:
        self.log.append(("write", [r.target for r in results]))

    async def after(self, target: Target, result: CheckResult) -> None:
        self.log.append(("after", [result.target]))

    async def done(self) -> None:
        self.log.append(("done", []))


async def test_results_wait_for_the_interval_then_go_out_as_one_write() -> None:
    clock, sink = ManualClock(), Sink()
    batcher = ResultBatcher(sink.write, sink.after, clock=clock, interval=0.1, size=500)
    task = asyncio.create_task(batcher.run())
    for n in range(3):
        batcher.add(TARGET, _result(clock.now(), n))
    await _settle()
    assert sink.log == []
    clock.advance(0.1)
    await _settle()
    task.cancel()
    assert sink.log == [
        ("write", ["t0", "t1", "t2"]),
        ("after", ["t0"]),
        ("after", ["t1"]),
        ("after", ["t2"]),
    ]


async def test_a_full_batch_is_written_without_waiting() -> None:
    clock, sink = ManualClock(), Sink()
    batcher = ResultBatcher(sink.write, sink.after, clock=clock, interval=10, size=2)
    task = asyncio.create_task(batcher.run())
    await _settle()
    batcher.add(TARGET, _result(clock.now(), 0))
    batcher.add(TARGET, _result(clock.now(), 1))
    await _settle()
    task.cancel()
    assert sink.log[0] == ("write", ["t0", "t1"])
    assert batcher.pending == 0


async def test_flush_writes_what_is_left_without_the_loop() -> None:
    clock, sink = ManualClock(), Sink()
    batcher = ResultBatcher(sink.write, sink.after, clock=clock)
    batcher.add(TARGET, _result(clock.now(), 0))
    await batcher.flush()
    assert sink.log == [("write", ["t0"]), ("after", ["t0"])]


async def test_done_runs_once_per_batch_after_every_result_was_handed_on() -> None:
    clock, sink = ManualClock(), Sink()
    batcher = ResultBatcher(sink.write, sink.after, clock=clock, size=2, done=sink.done)
    for n in range(3):
        batcher.add(TARGET, _result(clock.now(), n))
    await batcher.flush()
    assert sink.log == [
        ("write", ["t0", "t1", "t2"]),
        ("after", ["t0"]),
        ("after", ["t1"]),
        ("after", ["t2"]),
        ("done", []),
    ]
