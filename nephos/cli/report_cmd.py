"""``nephos report``: a report for cron, as Markdown, HTML or JSON, optionally sent on.

The period ends at ``--until`` (default: now, to the minute) and starts ``--since`` before it;
the same period over the same data gives the same bytes. The exit code is the fleet's health
at the period's end (0, 1, 2), or 4 when ``--notify`` could not deliver. No colour codes are
written: the report goes to a file, a pipe or a notifier as it is.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nephos.cli.common import duration_flag
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.cli.insights_common import (
    AnonymizeOption,
    NarratorOption,
    NoCacheOption,
    gather_and_narrate,
    narrator_options,
)
from nephos.config.types import Config
from nephos.errors import NephosError, UsageError
from nephos.insights.facts import ReportFacts
from nephos.model import Alert, AlertSource, AlertState, Health, Severity, parse_time
from nephos.notify.base import Notification

if TYPE_CHECKING:
    from nephos.insights.runtime import NarratorOptions

__all__ = ["FORMATS", "register", "report_notification"]

FORMATS = ("md", "html", "json")
"""The formats ``--format`` accepts (as ``nephos.insights.report`` renders them)."""

_SEVERITY = {"unhealthy": Severity.CRITICAL, "degraded": Severity.WARNING}


def report_notification(
    f: ReportFacts, text: str, *, html: str | None = None, data: dict[str, object] | None = None
) -> Notification:
    """A report as a notification (event ``report``), the report as its text.

    A notification carries an alert, so the report rides on one that says what it is: source
    ``report``, target ``fleet``, titled with the fleet's health; firing unless the fleet is
    healthy, so that routing by state still works. It is never stored.
    """
    s = f.summary
    score = "unknown" if s.score is None else f"{s.score:g}%"
    stamp = f.until.astimezone(UTC).strftime("%Y%m%dT%H%M")
    facts: dict[str, object] = {}
    if html is not None:
        facts["report_html"] = html
    if data is not None:
        facts["report"] = data
    alert = Alert(
        id=f"report-{stamp}",
        dedup_key="nephos-report",
        target="fleet",
        source=AlertSource.REPORT,
        state=AlertState.RESOLVED if s.health == "healthy" else AlertState.FIRING,
        severity=_SEVERITY.get(s.health, Severity.INFO),
        title=f"nephos report: {s.health} at {score}",
        message=text.split("\n", 1)[0],
        started_at=f.since,
        updated_at=f.until,
        provider="nephos",
        facts=facts,
    )
    period = f"{f.since:%Y-%m-%d %H:%M} – {f.until:%Y-%m-%d %H:%M} UTC"
    return Notification(alert, "report", f"nephos report {period}: {s.health} at {score}", text)


async def _send(
    config: Config, names: list[str], f: ReportFacts, md: str, html: str, data: dict[str, object]
) -> list[str]:
    from nephos.notify import build_notifier

    failures = []
    for name in names:
        cfg = config.notifiers[name]
        notification = report_notification(
            f,
            md,
            html=html if cfg.type == "email" else None,
            data=None if cfg.type in ("email", "slack") else data,
        )
        notifier = build_notifier(cfg)
        try:
            await notifier.send(notification)
        except NephosError as exc:
            failures.append(f"{name}: {exc}")
        finally:
            await notifier.close()
    return failures


async def _report(
    config: Config, since: datetime, until: datetime, fmt: str, notify: list[str],
    options: NarratorOptions,
) -> tuple[str, Health, list[str]]:  # fmt: skip
    from nephos.insights.gather import report_facts
    from nephos.insights.report import render_report, report_json

    facts, narration = await gather_and_narrate(
        config,
        options,
        gather=lambda src: report_facts(src, since=since, until=until),
        ask=lambda narrator, f: narrator.summarize(f.summary),
    )
    out = render_report(facts, narration, fmt)
    failures: list[str] = []
    if notify:
        md = out if fmt == "md" else render_report(facts, narration, "md")
        html = out if fmt == "html" else render_report(facts, narration, "html")
        failures = await _send(config, notify, facts, md, html, report_json(facts, narration))
    return out, Health(facts.summary.health), failures


def _until(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        return parse_time(text)
    except ValueError as exc:
        raise UsageError(f"--until: {text!r} is not a time (try 2026-01-05T12:00Z)") from exc


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (readers never see half a report).

    Raises:
        UsageError: the path is a directory, or its folder cannot be made or written.
    """
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"--output: {path} is a directory; name a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise UsageError(f"--output: cannot write {path}: {exc.strerror or exc}") from exc


def register(app: typer.Typer) -> None:
    """Add ``nephos report`` to ``app``."""

    @app.command("report")
    def report(
        config: ConfigOption = None,
        fmt: Annotated[str, typer.Option("--format", help="md, html or json.")] = "md",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write to this file.")
        ] = None,
        since: Annotated[str, typer.Option("--since", help="The period's length.")] = "24h",
        until: Annotated[
            str | None,
            typer.Option(
                "--until", help="The period's end, RFC 3339 (default: now).", show_default=False
            ),
        ] = None,
        notify: Annotated[
            list[str] | None,
            typer.Option("--notify", help="Send it through this configured notifier (repeatable)."),
        ] = None,
        narrator: NarratorOption = None,
        no_cache: NoCacheOption = False,
        anonymize: AnonymizeOption = None,
    ) -> int:
        """A report for cron: summary, SLA per target, latency, incidents, anomalies, forecasts."""
        if fmt not in FORMATS:
            raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
        length = duration_flag("--since", since)
        end = _until(until)
        cfg = load_cli_config(config)
        names = list(dict.fromkeys(notify or []))
        unknown = [n for n in names if n not in cfg.notifiers]
        if unknown:
            known = ", ".join(sorted(cfg.notifiers)) or "none configured"
            raise UsageError(f"--notify: no notifier named {unknown[0]!r} (known: {known})")
        options = narrator_options(narrator, no_cache, anonymize)
        text, health, failures = asyncio.run(_report(cfg, end - length, end, fmt, names, options))
        if output is not None:
            _write(output, text)
            print(f"report written to {output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
        for failure in failures:
            print(f"nephos: report not delivered to {failure}", file=sys.stderr)
        return 4 if failures else health.exit_code
