"""``nephos status`` with health scores, instance counts and the ETL's lag: a real SQLite store
filled the way the sentinel and the ETL fill it, and the CLI run as a user runs it."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nephos.clock import SystemClock
from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    Health,
    Instance,
    InstanceState,
    Severity,
)
from nephos.sentinel.instances import PROVIDER_STATUS_KEY
from nephos.store.sqlite import SqliteHotStore
from nephos.warehouse.duckdb import DuckDBWarehouse
from nephos.warehouse.etl import Etl


async def nephos(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nephos",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _result(target: str, provider: str, health: Health, ts: datetime) -> CheckResult:
    return CheckResult(
        target=target,
        kind=CheckKind.HTTP,
        ts=ts,
        health=health,
        latency_ms=40.0,
        success=health is not Health.UNHEALTHY,
        provider=provider,
    )


async def _fill(tmp_path: Path) -> Path:
    """A store with two providers, an ETL that loaded part of it, and a config file naming it."""
    now = datetime.now(UTC)
    store = SqliteHotStore(str(tmp_path / "hot.db"), clock=SystemClock())
    await store.open()
    try:
        await store.put_results(
            [
                _result("web", "vultr", Health.HEALTHY, now),
                _result("api", "aws", Health.HEALTHY, now),
                _result("db", "aws", Health.DEGRADED, now),
            ]
        )
        await store.put_instances(
            [
                Instance("aws", "i-1", "app-1", InstanceState.RUNNING),
                Instance("aws", "i-2", "app-2", InstanceState.STOPPED),
            ]
        )
        warehouse = DuckDBWarehouse(str(tmp_path / "warehouse.duckdb"))
        etl = Etl(store, warehouse, clock=SystemClock())
        await etl.run_once()  # loads the 5 events so far and mirrors its checkpoint
        await warehouse.close()
        await store.put_alert(
            Alert(
                id="al-disk01",
                dedup_key="forecast:app-1:disk_percent",
                target="app-1",
                source=AlertSource.FORECAST,
                state=AlertState.FIRING,
                severity=Severity.WARNING,
                title="disk on app-1 reaches 90% in about 30 hours",
                message="rising",
                started_at=now,
                updated_at=now,
                provider="aws",
            )
        )
        await store.put_results([_result("web", "vultr", Health.HEALTHY, now + timedelta(1))])
        # What the sentinel's provider polling stores (gcp never answered, so has no score).
        checked = now.isoformat()
        await store.set_state(
            PROVIDER_STATUS_KEY,
            {
                "aws": {"available": True, "reason": None, "instances": 2, "checked_at": checked},
                "gcp": {
                    "available": False,
                    "reason": "credentials not found",
                    "instances": 0,
                    "checked_at": checked,
                },
            },
        )
    finally:
        await store.close()
    config = tmp_path / "nephos.yaml"
    config.write_text(f"storage:\n  hot:\n    path: {tmp_path / 'hot.db'}\n")
    return config


async def test_status_json_has_health_scores_worst_first_instance_counts_and_the_etl_lag(
    tmp_path: Path,
) -> None:
    config = await _fill(tmp_path)
    code, out, _ = await nephos("status", "--json", "-c", str(config))
    status = json.loads(out)
    assert code == 1  # by the worst target, as before: db is degraded
    assert status["health"] == "degraded"
    scores = {p["provider"]: p for p in status["provider_scores"]}
    assert [p["provider"] for p in status["provider_scores"]] == ["aws", "vultr", "gcp"]
    # aws: api 1, db 0.5, app-1 1, app-2 0 -> 62.5, less 5 for the firing warning.
    assert scores["aws"]["score"] == 57.5
    assert scores["aws"]["health"] == "unhealthy"
    assert scores["aws"]["instances"] == {
        "total": 2,
        "healthy": 1,
        "degraded": 0,
        "unhealthy": 1,
        "unknown": 0,
    }
    assert scores["aws"]["available"] is True
    assert scores["vultr"]["score"] == 100.0
    assert scores["vultr"]["instances"]["total"] == 0
    assert scores["vultr"]["available"] is None  # not polled: checks only
    assert (scores["gcp"]["score"], scores["gcp"]["health"]) == (None, "unknown")
    assert scores["gcp"]["unavailable_reason"] == "credentials not found"
    assert status["score"]["score"] == 65.0  # (1 + 1 + 0.5 + 1 + 0) / 5 less 5
    assert status["etl"]["checkpoint"] == 5
    assert status["etl"]["events"] == 2  # the alert and the newer result
    assert status["etl"]["seconds"] >= 0


async def test_status_text_shows_the_scores_and_how_far_the_warehouse_is_behind(
    tmp_path: Path,
) -> None:
    config = await _fill(tmp_path)
    code, out, _ = await nephos("status", "-c", str(config))
    assert code == 1
    assert "score 65/100" in out
    lines = out.splitlines()
    aws = next(i for i, line in enumerate(lines) if line.startswith("aws") and "58" in line)
    vultr = next(i for i, line in enumerate(lines) if line.startswith("vultr") and "100" in line)
    assert aws < vultr  # worst first
    assert "2: 1 ok, 1 down" in lines[aws]
    assert "unavailable: credentials not found" in out
    assert "warehouse: 2 event(s) behind" in out
