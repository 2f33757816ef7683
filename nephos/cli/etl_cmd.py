"""``nephos etl run``: the hot store's change feed into the warehouse, in the foreground.

The loop is ``nephos.warehouse.etl.Etl``; this module opens the backends named in the config,
runs it once (``--once``) or until SIGINT/SIGTERM, and prints what it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nephos.cli.common import MetricsPortOption, VerboseOption
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.cli.sentinel_cmd import configure_logging
from nephos.clock import Clock, SystemClock
from nephos.config.types import Config
from nephos.errors import BackendError, WarehouseError

if TYPE_CHECKING:
    from nephos.warehouse.etl_lag import EtlLag

__all__ = ["register", "run_etl"]


def _summary(totals: dict[str, int], lag: EtlLag | None) -> str:
    line = (
        f"loaded {totals['events']} events ({totals['loaded']} new) in {totals['batches']} batches"
    )
    if totals["missing"]:
        line += f"; {totals['missing']} events were purged before loading"
    if lag is not None:
        line += f"; checkpoint {lag.checkpoint}; lag {lag.events} events, {lag.seconds:.1f}s"
    return line


def _serve_metrics(port: int) -> tuple[Any, Any]:
    """A CollectorRegistry served at ``http://127.0.0.1:<port>/metrics``, and its server.

    Raises:
        BackendError: the port could not be bound.
    """
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    try:
        server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise BackendError(f"metrics: cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    return registry, server


async def run_etl(
    config: Config,
    *,
    once: bool,
    json_out: bool = False,
    batch_size: int = 5000,
    max_batch_age: float = 0.5,
    metrics_port: int | None = None,
    clock: Clock | None = None,
) -> int:
    """Open the hot store and the warehouse and run the ETL; the process exit code.

    Without ``once`` it runs until SIGINT or SIGTERM, retrying an unreachable warehouse. With
    ``metrics_port`` its Prometheus metrics (lag included) are served on 127.0.0.1 meanwhile.

    Raises:
        BackendError: the metrics port could not be bound (exit 4).
        StoreError: the hot store could not be opened (exit 4).
        WarehouseError: with ``once``, the warehouse could not be reached (exit 4).
        ConfigError: the warehouse backend is unknown or misconfigured.
        UsageError: the batch size or age is out of range.
    """
    from nephos.store import open_hot_store
    from nephos.warehouse import open_warehouse
    from nephos.warehouse.etl import Etl

    clock = clock or SystemClock()
    registry, server = _serve_metrics(metrics_port) if metrics_port is not None else (None, None)
    store = open_hot_store(config.storage.hot, clock=clock)
    try:
        await store.open()
        warehouse = open_warehouse(config.storage.warehouse, clock=clock)
        etl = Etl(
            store,
            warehouse,
            clock=clock,
            batch_size=batch_size,
            max_batch_age=max_batch_age,
            registry=registry,
        )
        try:
            if once:
                report = await etl.run_once()
                typer.echo(
                    json.dumps(report.to_dict()) if json_out else _summary(etl.totals, report.lag)
                )
                return 0
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, etl.stop)
            try:
                await etl.run()
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            lag = etl.last_lag
            with contextlib.suppress(Exception):  # a summary must not turn a stop into a failure
                lag = await etl.lag()
            if json_out:
                typer.echo(json.dumps({**etl.totals, "lag": lag.to_dict() if lag else None}))
            else:
                typer.echo(_summary(etl.totals, lag))
            return 0
        finally:
            with contextlib.suppress(WarehouseError):
                await warehouse.close()
    finally:
        await store.close()
        if server is not None:
            server.shutdown()
            server.server_close()


def register(app: typer.Typer) -> None:
    """Add ``nephos etl run`` to ``app``."""
    group = typer.Typer(help="Hot store to warehouse.", no_args_is_help=True)

    @group.command("run")
    def run(
        config: ConfigOption = None,
        once: Annotated[
            bool, typer.Option("--once", help="Load everything committed so far, then exit.")
        ] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
        batch_size: Annotated[
            int | None,
            typer.Option(
                "--batch-size",
                min=1,
                help="Most events per warehouse load [config etl.batch_size].",
            ),
        ] = None,
        max_batch_age: Annotated[
            float | None,
            typer.Option(
                "--max-batch-age",
                min=0.0,
                help="Seconds an event waits for a batch [config etl.max_batch_age].",
            ),
        ] = None,
        metrics_port: MetricsPortOption = None,
        verbose: VerboseOption = False,
    ) -> int:
        """Load the hot store's change feed into the warehouse until Ctrl-C (or once)."""
        configure_logging(verbose)
        cfg = load_cli_config(config)
        return asyncio.run(
            run_etl(
                cfg,
                once=once,
                json_out=json_out,
                batch_size=cfg.etl.batch_size if batch_size is None else batch_size,
                max_batch_age=(
                    cfg.etl.max_batch_age.total_seconds()
                    if max_batch_age is None
                    else max_batch_age
                ),
                metrics_port=metrics_port,
            )
        )

    app.add_typer(group, name="etl")
