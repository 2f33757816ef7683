"""A user never sees a traceback for a mistake they can make.

Every command runs as a real ``python -m nephos`` process (HOME and the working directory in
a temporary folder) with bad flags, bad values, missing or broken files and broken configs. It
must exit with the documented code (3 usage or configuration, 4 a backend unreachable) and say
so in one line on stderr, or in click's usage block for a command-line syntax error. The
processes run in parallel, once per module, and each case is a test of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from nephos.stream.replay import ReplayTransport
from nephos.stream.transport import ConnectError, StreamEnded, WebSocketTransport

USAGE, BACKEND = 3, 4
LINE, BLOCK = "one line", "usage block"


@dataclass(frozen=True)
class Case:
    """One invocation: its arguments (``{w}`` is the working folder), what it must do."""

    name: str
    argv: tuple[str, ...]
    code: int
    stderr: str = LINE
    env: tuple[tuple[str, str], ...] = ()
    known_bug: str | None = None


def case(
    name: str,
    args: str | list[str],
    code: int = USAGE,
    *,
    stderr: str = LINE,
    env: tuple[tuple[str, str], ...] = (),
    known_bug: str | None = None,
) -> Case:
    """A :class:`Case`; ``args`` as one string splits on spaces."""
    argv = tuple(args.split() if isinstance(args, str) else args)
    return Case(name, argv, code, stderr, env, known_bug)


CASES = [
    # The command line itself: click's usage block, exit 3.
    case("unknown-command", "bogus", stderr=BLOCK),
    case("status-unknown-flag", "status --bogus", stderr=BLOCK),
    case("alerts-limit-not-a-number", "alerts list --limit banana", stderr=BLOCK),
    case("alerts-ack-without-id", "alerts ack", stderr=BLOCK),
    case("alerts-resolve-without-id", "alerts resolve", stderr=BLOCK),
    case("destroy-unknown-flag", "destroy --bogus", stderr=BLOCK),
    case("etl-metrics-port-out-of-range", "etl run --once --metrics-port 99999", stderr=BLOCK),
    case("sentinel-metrics-port-zero", "sentinel run --metrics-port 0", stderr=BLOCK),
    case("predict-unknown-source", "predict --source banana", stderr=BLOCK),
    case("tail-since-negative", "tail --since -5", stderr=BLOCK),
    case("anomalies-score-without-file", "anomalies score", stderr=BLOCK),
    # Values the command reads itself: one line, exit 3.
    case("anomalies-since-banana", "anomalies --since banana"),
    case("predict-window-with-a-space", ["predict", "--window", "2 minutes"]),
    case("summary-since-banana", "summary --since banana -c {w}/ok.yaml"),
    case("trend-window-banana", "trend cpu --window banana -c {w}/ok.yaml"),
    case("report-unknown-format", "report --format banana -c {w}/ok.yaml"),
    case("agent-interval-with-a-space", ["agent", "--once", "--interval", "2 minutes"]),
    case("agent-url-not-a-url", "agent --once --url notaurl"),
    case("agent-interval-without-a-unit", "agent --once --interval 10"),
    case("agent-interval-under-a-second", "agent --once --interval 500ms"),
    case("agent-buffer-max-banana", "agent --once --buffer-max banana"),
    case("summary-unknown-narrator", "summary --narrator banana -c {w}/ok.yaml"),
    case("demo-duration-banana", "demo --headless --duration banana"),
    case("tail-url-not-a-url", "tail --url notaurl"),
    case("tail-url-port-out-of-range", "tail --url ws://127.0.0.1:99999/"),
    case("watch-url-not-a-url", "watch --url notaurl"),
    case("hub-listen-not-an-address", "hub -c {w}/ok.yaml --listen notanaddress"),
    case("deploy-parameter-without-value", "deploy --dry-run --parameter banana"),
    case("inventory-without-providers", "inventory -c {w}/ok.yaml"),
    case("alerts-ack-unknown-id", "alerts ack nosuch -c {w}/ok.yaml"),
    case("explain-unknown-alert", "explain-alert nosuch -c {w}/ok.yaml"),
    case("sentinel-without-targets", "sentinel run --once -c {w}/empty.yaml"),
    case("snowflake-unknown-connection", "snowflake init --dry-run --connection nosuch"),
    # Files named on the command line.
    case("score-missing-file", "anomalies score {w}/missing.csv"),
    case("score-not-a-csv", "anomalies score {w}/notes.txt"),
    case("score-binary-file", "anomalies score {w}/binary.csv"),
    case("score-output-under-a-file", "anomalies score {w}/ok.csv -o {w}/notes.txt/out.csv"),
    case("watch-missing-recording", "watch --replay {w}/missing.jsonl"),
    case("init-into-a-directory", "init {w}/adir"),
    case("init-under-a-file", "init {w}/notes.txt/nephos.yaml"),
    # Configs: missing, a directory, not UTF-8, bad YAML, an unknown key, $NEPHOS_CONFIG.
    case("status-config-missing", "status -c {w}/missing.yaml"),
    case("validate-config-directory", "config validate -c {w}/adir"),
    case("sentinel-config-binary", "sentinel run --once -c {w}/binary.yaml"),
    case("alerts-config-bad-yaml", "alerts list -c {w}/invalid.yaml"),
    case("etl-config-unknown-key", "etl run --once -c {w}/unknown.yaml"),
    case("snowflake-config-missing", "snowflake init --dry-run -c {w}/missing.yaml"),
    case("deploy-config-missing", "deploy --dry-run -c {w}/missing.yaml"),
    case("destroy-config-bad-yaml", "destroy --yes --json -c {w}/invalid.yaml"),
    case("tail-config-directory", "tail -c {w}/adir"),
    case("watch-config-bad-yaml", "watch -c {w}/invalid.yaml"),
    case("trend-config-directory", "trend cpu -c {w}/adir"),
    case("explain-config-unknown-key", "explain-alert x -c {w}/unknown.yaml"),
    case("status-env-config-nowhere", "status", env=(("NEPHOS_CONFIG", "{w}/nowhere.yaml"),)),
    case("watch-env-config-nowhere", "watch", env=(("NEPHOS_CONFIG", "{w}/nowhere.yaml"),)),
    # Backends that cannot be reached or created: one line, exit 4.
    case("status-no-store-yet", "status -c {w}/fresh1.yaml", BACKEND),
    case("sentinel-store-under-a-file", "sentinel run --once -c {w}/blocked.yaml", BACKEND),
    case("etl-store-under-a-file", "etl run --once -c {w}/blocked.yaml", BACKEND),
    case("hub-store-under-a-file", "hub -c {w}/blocked.yaml", BACKEND),
    case("summary-store-under-a-file", "summary -c {w}/blocked.yaml", BACKEND),
    case("trend-store-under-a-file", "trend cpu -c {w}/blocked.yaml", BACKEND),
    case("report-store-under-a-file", "report -c {w}/blocked.yaml", BACKEND),
    case("explain-store-under-a-file", "explain-alert x -c {w}/blocked.yaml", BACKEND),
    case("anomalies-no-warehouse-yet", "anomalies -c {w}/fresh2.yaml", BACKEND),
    case("predict-no-warehouse-yet", "predict --source warehouse -c {w}/fresh3.yaml", BACKEND),
    case("predict-no-store-yet", "predict --source store -c {w}/fresh4.yaml", BACKEND),
    case(
        "predict-warehouse-under-a-file",
        "predict --source warehouse -c {w}/blocked-warehouse.yaml",
        BACKEND,
    ),
    case("report-output-a-directory", "report -c {w}/ok.yaml -o {w}/adir"),
    case("report-output-under-a-file", "report -c {w}/ok.yaml -o {w}/notes.txt/report.md"),
    case("demo-store-under-a-file", "demo --headless --duration 1s --store {w}/notes.txt/hot.db"),
]


@dataclass(frozen=True)
class Outcome:
    code: int | None
    stderr: str


def _workspace(root: Path) -> Path:
    """The working folder: configs, CSVs and obstacles the cases name."""
    work = root / "work"
    (root / "home").mkdir()
    work.mkdir()
    (work / "adir").mkdir()
    (work / "notes.txt").write_text("plain words\n")
    (work / "binary.csv").write_bytes(b"\xff\xfe\x00\x80garbage")
    (work / "binary.yaml").write_bytes(b"\xff\xfe\x00\x80garbage")
    (work / "invalid.yaml").write_text("targets: [\n")
    (work / "unknown.yaml").write_text("bogus: 1\n")
    (work / "empty.yaml").write_text("")
    (work / "ok.csv").write_text("timestamp,value\n2026-01-01T00:00:00Z,1\n")
    configs = {
        "ok": ("data", "data"),  # cases that run may create these files
        "blocked": ("notes.txt", "data"),  # a file stands where the store's folder would be
        "blocked-warehouse": ("data", "notes.txt"),
        **{f"fresh{n}": (f"fresh{n}", f"fresh{n}") for n in range(1, 5)},  # one case each
    }
    for name, (hot, warehouse) in configs.items():
        (work / f"{name}.yaml").write_text(
            "storage:\n"
            f"  hot: {{backend: sqlite, path: {work / hot / 'hot.db'}}}\n"
            f"  warehouse: {{backend: duckdb, path: {work / warehouse / 'wh.duckdb'}}}\n"
            "targets:\n  - name: api\n    url: http://127.0.0.1:9/\n"
        )
    return work


def _run(c: Case, root: Path, work: Path) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEPHOS_", "AWS_"))}
    env.update(HOME=str(root / "home"), NO_COLOR="1", COLUMNS="100")
    env.update({k: v.format(w=work) for k, v in c.env})
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nephos", *(a.format(w=work) for a in c.argv)],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return Outcome(None, "(still running after 60 s)")
    return Outcome(done.returncode, done.stderr)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("robustness")
    work = _workspace(root)
    with ThreadPoolExecutor(max_workers=max(2, min(6, os.cpu_count() or 2))) as pool:
        runs = {c.name: pool.submit(_run, c, root, work) for c in CASES}
        return {name: run.result() for name, run in runs.items()}


def _params() -> list[object]:
    return [
        pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.known_bug)])
        if c.known_bug
        else pytest.param(c, id=c.name)
        for c in CASES
    ]


@pytest.mark.parametrize("c", _params())
def test_a_mistake_exits_with_its_code_and_one_clear_message(
    c: Case, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[c.name]
    assert "Traceback" not in outcome.stderr
    assert outcome.code == c.code, outcome.stderr
    if c.stderr == BLOCK:
        assert outcome.stderr.startswith("Usage: nephos")
        assert "Error: " in outcome.stderr
    else:
        lines = outcome.stderr.strip().splitlines()
        assert len(lines) == 1, outcome.stderr
        assert lines[0].startswith("nephos: ")
        assert len(lines[0]) < 400


def test_every_command_on_the_command_line_is_exercised() -> None:
    import click
    import typer

    from nephos.cli.main import app

    def leaves(command: click.Command, path: str) -> list[str]:
        if isinstance(command, click.Group):
            return [
                name
                for sub_name, sub in command.commands.items()
                for name in leaves(sub, f"{path} {sub_name}".strip())
            ]
        return [path]

    covered = {" ".join(c.argv[:2]) for c in CASES} | {c.argv[0] for c in CASES}
    missing = [name for name in leaves(typer.main.get_command(app), "") if name not in covered]
    assert missing == []


async def test_a_recording_that_is_not_text_ends_the_replay_instead_of_raising(
    tmp_path: Path,
) -> None:
    recording = tmp_path / "recording.jsonl"
    recording.write_bytes(b"\xff\xfe\x00\x80")
    connection = await ReplayTransport(recording).connect("replay://recording/", {})
    with pytest.raises(StreamEnded, match="cannot be read"):
        await connection.recv()


async def test_a_hub_url_with_an_impossible_port_is_a_connect_error() -> None:
    with pytest.raises(ConnectError, match="not a usable hub URL"):
        await WebSocketTransport(open_timeout=1.0).connect("ws://127.0.0.1:99999/", {})
