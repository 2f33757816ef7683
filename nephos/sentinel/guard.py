"""The self-connectivity guard: tell "the sentinel is offline" apart from "every target is down".

Two signals mark the sentinel offline. A canary target (``Target.canary``) whose latest result
failed; or, when ``offline_when_all_fail`` is on, every target checked in a recent window
failing at once (with at least ``min_targets`` of them). While offline, failing results are
marked ``sentinel_offline=True`` with a reason that starts ``sentinel offline:``; the alert book
ignores such results, so a cut cable does not page about every target.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from nephos.clock import Clock
from nephos.model import CheckResult, Target

__all__ = ["ConnectivityGuard"]


@dataclass(slots=True)
class _Latest:
    ts: datetime
    failing: bool
    serial: int


class ConnectivityGuard:
    """Judges each result in arrival order and marks it when the sentinel looks offline.

    Args:
        clock: the time source for the recent window.
        canaries: names of the canary targets.
        all_fail: whether every recent target failing at once means offline.
        window: how far back "checked recently" reaches.
        min_targets: how many recent targets must all fail before that counts as offline.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        canaries: Iterable[str] = (),
        all_fail: bool = True,
        window: timedelta = timedelta(minutes=1),
        min_targets: int = 3,
    ) -> None:
        self._clock = clock
        self._canaries = set(canaries)
        self._all_fail = all_fail
        self._window = window
        self._min_targets = min_targets
        self._failing_canaries: dict[str, str] = {}  # name -> why it failed
        # Latest result per target within the window, with running counts kept in step so
        # that judging a result is O(1) even with ten thousand targets.
        self._latest: dict[str, _Latest] = {}
        self._arrivals: deque[tuple[datetime, str, int]] = deque()
        self._recent_failing = 0
        self._serial = 0

    @classmethod
    def for_targets(
        cls,
        targets: Iterable[Target],
        *,
        clock: Clock,
        all_fail: bool = True,
        window: timedelta = timedelta(minutes=1),
    ) -> ConnectivityGuard:
        """A guard whose canaries are the targets marked ``canary``.

        Args:
            targets: the configured targets.
            clock: the time source.
            all_fail: the config's ``sentinel.offline_when_all_fail``.
            window: how far back "checked recently" reaches.
        """
        names = [t.name for t in targets if t.canary]
        return cls(clock=clock, canaries=names, all_fail=all_fail, window=window)

    def configure(self, targets: Iterable[Target], *, all_fail: bool) -> None:
        """Adopt a reloaded target list: canaries may have been added or removed.

        Args:
            targets: the new targets.
            all_fail: the new ``offline_when_all_fail``.
        """
        names = {t.name for t in targets}
        self._canaries = {t.name for t in targets if t.canary}
        self._failing_canaries = {
            n: why for n, why in self._failing_canaries.items() if n in self._canaries
        }
        self._all_fail = all_fail
        for name in [n for n in self._latest if n not in names]:
            self._forget(name)

    @property
    def offline_reason(self) -> str | None:
        """Why the sentinel looks offline right now, or None when it looks online."""
        if self._failing_canaries:
            name, why = next(iter(self._failing_canaries.items()))
            return f"canary {name!r} is failing ({why})" if why else f"canary {name!r} is failing"
        self._expire()
        recent = len(self._latest)
        if self._all_fail and recent >= self._min_targets and self._recent_failing == recent:
            return f"all {recent} targets checked in the last {_words(self._window)} failed"
        return None

    def judge(self, result: CheckResult) -> CheckResult:
        """Record ``result`` and return it, marked offline when the sentinel looks offline.

        Only failing results are marked: a success proves nothing is wrong with it.

        Args:
            result: a classified result, in arrival order.
        """
        failing = not result.success
        if result.target in self._canaries:
            if failing:
                self._failing_canaries[result.target] = result.error or result.reason
            else:
                self._failing_canaries.pop(result.target, None)
        self._record(result.target, failing)
        if not failing:
            return result
        why = self.offline_reason
        if why is None:
            return result
        reason = f"sentinel offline: {why}"
        if result.reason:
            reason += f"; {result.reason}"
        return dataclasses.replace(result, sentinel_offline=True, reason=reason)

    def _record(self, name: str, failing: bool) -> None:
        now = self._clock.now()
        self._forget(name)
        self._serial += 1
        self._latest[name] = _Latest(now, failing, self._serial)
        self._arrivals.append((now, name, self._serial))
        self._recent_failing += failing
        self._expire()

    def _forget(self, name: str) -> None:
        old = self._latest.pop(name, None)
        if old is not None:
            self._recent_failing -= old.failing

    def _expire(self) -> None:
        horizon = self._clock.now() - self._window
        while self._arrivals and self._arrivals[0][0] < horizon:
            _, name, serial = self._arrivals.popleft()
            latest = self._latest.get(name)
            if latest is not None and latest.serial == serial:
                self._forget(name)


def _words(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} seconds"
