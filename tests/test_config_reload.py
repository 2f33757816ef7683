"""The config watcher applies valid changes, rejects invalid ones and reloads on SIGHUP."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
from collections.abc import AsyncIterator

import pytest

from nephos.clock import ManualClock
from nephos.config import Config, ConfigWatcher
from nephos.errors import ConfigError

GOOD = "targets:\n  - name: {name}\n    url: https://{name}.example.com\n"


class Recorder:
    """Collects what the watcher reports, in arrival order."""

    def __init__(self) -> None:
        self.changes: asyncio.Queue[Config] = asyncio.Queue()
        self.errors: asyncio.Queue[ConfigError] = asyncio.Queue()

    async def on_change(self, config: Config) -> None:
        await self.changes.put(config)

    async def on_error(self, error: ConfigError) -> None:
        await self.errors.put(error)


async def next_report(queue: asyncio.Queue[object], clock: ManualClock) -> object:
    """Advance the clock a second at a time until the watcher reports something."""
    for _ in range(100):
        clock.advance(1)
        try:
            return await asyncio.wait_for(queue.get(), timeout=0.1)
        except TimeoutError:
            continue
    raise AssertionError("the watcher reported nothing")


@pytest.fixture
def config_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "nephos.yaml"
    path.write_text(GOOD.format(name="first"))
    return path


@pytest.fixture
async def watched(
    config_file: pathlib.Path,
) -> AsyncIterator[tuple[ConfigWatcher, Recorder, ManualClock]]:
    clock, recorder = ManualClock(), Recorder()
    watcher = ConfigWatcher(
        str(config_file), recorder.on_change, recorder.on_error, clock=clock, env={}
    )
    initial = await watcher.start()
    assert [t.name for t in initial.targets] == ["first"]
    yield watcher, recorder, clock
    await watcher.stop()


async def test_a_valid_change_is_applied(
    watched: tuple[ConfigWatcher, Recorder, ManualClock], config_file: pathlib.Path
) -> None:
    watcher, recorder, clock = watched
    config_file.write_text(GOOD.format(name="second"))
    config = await next_report(recorder.changes, clock)  # type: ignore[arg-type]
    assert isinstance(config, Config)
    assert [t.name for t in config.targets] == ["second"]
    assert watcher.current is config


async def test_an_invalid_change_is_rejected_and_the_running_config_stays(
    watched: tuple[ConfigWatcher, Recorder, ManualClock], config_file: pathlib.Path
) -> None:
    watcher, recorder, clock = watched
    before = watcher.current
    config_file.write_text(GOOD.format(name="second") + "    intervall: 2m\n")
    error = await next_report(recorder.errors, clock)  # type: ignore[arg-type]
    assert (
        str(error) == f"{config_file}:4: targets[0].intervall: unknown key (did you mean interval?)"
    )
    assert watcher.current is before
    assert recorder.changes.empty()
    # The same bad file is reported once, not on every poll.
    for _ in range(3):
        clock.advance(1)
        await asyncio.sleep(0.05)
    assert recorder.errors.empty()
    # Fixing the file applies it.
    config_file.write_text(GOOD.format(name="fixed"))
    config = await next_report(recorder.changes, clock)  # type: ignore[arg-type]
    assert isinstance(config, Config)
    assert [t.name for t in config.targets] == ["fixed"]


async def test_a_removed_file_is_reported_and_the_running_config_stays(
    watched: tuple[ConfigWatcher, Recorder, ManualClock], config_file: pathlib.Path
) -> None:
    watcher, recorder, clock = watched
    before = watcher.current
    config_file.unlink()
    error = await next_report(recorder.errors, clock)  # type: ignore[arg-type]
    assert str(error) == f"{config_file}: cannot be read; keeping the running config"
    assert watcher.current is before


async def test_sighup_reloads_without_waiting_for_the_poll(
    watched: tuple[ConfigWatcher, Recorder, ManualClock], config_file: pathlib.Path
) -> None:
    watcher, recorder, _ = watched
    config_file.write_text(GOOD.format(name="after-hup"))
    os.kill(os.getpid(), signal.SIGHUP)  # the clock does not move: only the signal can reload
    config = await asyncio.wait_for(recorder.changes.get(), timeout=10)
    assert [t.name for t in config.targets] == ["after-hup"]
    assert watcher.current is config


async def test_reloading_an_unchanged_file_applies_nothing(
    watched: tuple[ConfigWatcher, Recorder, ManualClock],
) -> None:
    watcher, recorder, _ = watched
    assert await watcher.reload() is False
    assert recorder.changes.empty() and recorder.errors.empty()


async def test_a_first_load_that_fails_raises_and_leaves_no_config(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "nephos.yaml"
    path.write_text("sentinel: {interval: soon}\n")
    recorder = Recorder()
    watcher = ConfigWatcher(
        str(path), recorder.on_change, recorder.on_error, clock=ManualClock(), env={}
    )
    with pytest.raises(ConfigError, match=r'sentinel.interval: "soon" is not a duration'):
        await watcher.start()
    with pytest.raises(RuntimeError):
        _ = watcher.current
