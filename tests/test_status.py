"""``nephos sentinel run --once`` and ``nephos status`` as a user runs them: subprocesses, real
servers, a real store; exit codes and JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nephos.sim.http_server import HttpSim, Respond


@pytest.fixture
async def web() -> AsyncIterator[HttpSim]:
    sim = HttpSim()
    sim.add_route("/ok", Respond(200, body="fine"))
    sim.add_route("/down", Respond(503, body="no"))
    async with sim:
        yield sim


async def nephos(*args: str) -> tuple[int, str, str]:
    """Run the CLI in a subprocess without blocking the loop that serves the test's servers."""
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


def _write_config(tmp_path: Path, sim: HttpSim, targets: dict[str, str]) -> Path:
    lines = [
        "storage:",
        "  hot:",
        f"    path: {tmp_path / 'hot.db'}",
        "sentinel:",
        "  timeout: 2s",
        "targets:",
    ]
    for name, path in targets.items():
        lines += [f"  - name: {name}", f"    url: {sim.url(path)}", "    provider: vultr"]
    config = tmp_path / "nephos.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


async def test_status_lists_targets_worst_first_and_exits_by_the_worst_health(
    tmp_path: Path, web: HttpSim
) -> None:
    config = _write_config(tmp_path, web, {"alpha": "/ok", "beta": "/down"})
    code, out, _ = await nephos("sentinel", "run", "--once", "--json", "-c", str(config))
    assert code == 2
    lines = [json.loads(line) for line in out.splitlines()]
    assert {d["result"]["target"] for d in lines if d["type"] == "check"} == {"alpha", "beta"}

    code, out, _ = await nephos("status", "--json", "-c", str(config))
    assert code == 2
    status = json.loads(out)
    assert status["health"] == "unhealthy"
    [vultr] = status["providers"]
    assert [t["target"] for t in vultr["targets"]] == ["beta", "alpha"]
    assert vultr["targets"][0]["status_code"] == 503
    assert vultr["targets"][0]["last_check"].endswith("Z")


async def test_a_healthy_fleet_exits_zero_and_reads_as_ok(tmp_path: Path, web: HttpSim) -> None:
    config = _write_config(tmp_path, web, {"alpha": "/ok"})
    code, out, _ = await nephos("sentinel", "run", "--once", "-c", str(config))
    assert code == 0
    assert "● ok" in out
    code, out, _ = await nephos("status", "-c", str(config))
    assert code == 0
    assert "alpha" in out
    assert "● ok" in out


async def test_status_without_a_store_says_so_in_one_line_and_exits_4(tmp_path: Path) -> None:
    config = tmp_path / "nephos.yaml"
    config.write_text(f"storage:\n  hot:\n    path: {tmp_path / 'missing' / 'hot.db'}\n")
    code, out, err = await nephos("status", "-c", str(config))
    assert code == 4
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "no hot store at" in err


async def test_status_prints_untrusted_names_and_reasons_literally(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from nephos.config.types import HotStoreConfig
    from nephos.model import CheckKind, CheckResult, Health
    from nephos.store import open_hot_store

    store_path = tmp_path / "hot.db"
    store = open_hot_store(HotStoreConfig(path=str(store_path)))
    await store.open()
    await store.put_results(
        [
            CheckResult(
                target="[red]evil[/red]",
                kind=CheckKind.HTTP,
                ts=datetime.now(UTC),
                health=Health.DEGRADED,
                latency_ms=1500.0,
                success=True,
                reason="slow [bold]\nforged line",
            )
        ]
    )
    await store.close()
    config = tmp_path / "nephos.yaml"
    config.write_text(f"storage:\n  hot:\n    path: {store_path}\n")
    code, out, _ = await nephos("status", "-c", str(config))
    assert code == 1
    assert "[red]evil[/red]" in out
    assert "▲ degraded" in out
    assert "forged line" in out
    assert not any(line.startswith("forged") for line in out.splitlines())


async def test_status_on_a_fresh_machine_says_how_to_create_data_and_exits_4(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NEPHOS_CONFIG"}
    env["HOME"] = str(tmp_path)  # no config anywhere, the default store path is missing
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nephos",
        "status",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 4
    assert out == b""
    assert len(lines) == 1
    assert "nephos sentinel run" in lines[0] and "nephos demo" in lines[0]


async def test_status_names_the_hub_that_watch_would_connect_to(
    tmp_path: Path, web: HttpSim
) -> None:
    config = _write_config(tmp_path, web, {"alpha": "/ok"})
    with config.open("a") as handle:
        handle.write("hub:\n  listen: 0.0.0.0:9911\n  token: a-long-enough-test-token-0123\n")
    code, _, _ = await nephos("sentinel", "run", "--once", "-c", str(config))
    assert code == 0
    code, out, _ = await nephos("status", "--json", "-c", str(config))
    assert code == 0
    assert json.loads(out)["hub"] == "ws://127.0.0.1:9911/"
    code, out, _ = await nephos("status", "-c", str(config))
    assert "ws://127.0.0.1:9911/" in out
