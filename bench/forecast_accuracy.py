"""Forecast accuracy on synthetic fills: median absolute error of the time to threshold.

Runs nephos's forecast (a line or a line plus a daily cycle, chosen on a held-out tail, after
the last regime break, with an interval) beside two baselines on the same series:
``linear only`` (the same pipeline with the daily cycle switched off) and ``plain line`` (one
least-squares line over the whole window, R² >= 0.6, no interval: the textbook SQL
REGR_SLOPE forecast). Families that never cross count false forecasts.

    .venv/bin/python bench/forecast_accuracy.py [--per-family 100] [--step-minutes 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from nephos.analytics.forecast import ForecastSettings, forecast_series
from nephos.analytics.forecast_eval import Family, SyntheticSeries, make_series

THRESHOLD = 90.0
HORIZON_HOURS = 48.0


def plain_line(series: SyntheticSeries) -> float | None:
    """Hours to 90 by one line over the whole window, or None (R² < 0.6, falling, too far)."""
    now = series.now.timestamp() / 3600.0
    hours = np.array([p.ts.timestamp() / 3600.0 - now for p in series.points])
    values = np.array([p.value for p in series.points])
    slope, intercept = np.polyfit(hours, values, 1)
    fitted = intercept + slope * hours
    r2 = 1.0 - float(np.sum((values - fitted) ** 2)) / float(np.sum((values - values.mean()) ** 2))
    if slope <= 0 or r2 < 0.6 or values[-1] >= THRESHOLD:
        return None
    ahead = (THRESHOLD - intercept) / slope
    return float(ahead) if 0.0 <= ahead <= HORIZON_HOURS else None


def row(name: str, made: list[tuple[float | None, float | None]], crosses: bool) -> str:
    """One table row from (predicted, true) pairs."""
    forecasts = [(p, t) for p, t in made if p is not None]
    if not crosses:
        return f"| {name} | {len(made)} | {len(forecasts)} false | – | – |"
    errors = [abs(p - t) for p, t in forecasts if t is not None]
    relative = [abs(p - t) / t for p, t in forecasts if t is not None]
    mae = f"{statistics.median(errors):.2f} h" if errors else "–"
    rel = f"{100 * statistics.median(relative):.1f}%" if relative else "–"
    return f"| {name} | {len(made)} | {len(forecasts)} | {mae} | {rel} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-family", type=int, default=100)
    parser.add_argument("--step-minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    step = timedelta(minutes=args.step_minutes)
    chosen = ForecastSettings()
    linear_only = replace(chosen, harmonics=0)
    rng = np.random.default_rng(args.seed)
    lines = {"nephos": [], "linear only": [], "plain line": []}
    coverage: list[str] = []
    elapsed, fitted = 0.0, 0
    for family in Family:
        results: dict[str, list[tuple[float | None, float | None]]] = {k: [] for k in lines}
        inside = covered = 0
        for i in range(args.per_family):
            series = make_series(family, rng, now=now, step=step, name=f"vm-{i}")
            started = time.perf_counter()
            ours = forecast_series(series.points, now=now, threshold=THRESHOLD, settings=chosen)
            elapsed += time.perf_counter() - started
            fitted += 1
            line = forecast_series(
                series.points, now=now, threshold=THRESHOLD, settings=linear_only
            )
            results["nephos"].append((ours and ours.hours_to_threshold, series.true_hours))
            results["linear only"].append((line and line.hours_to_threshold, series.true_hours))
            results["plain line"].append((plain_line(series), series.true_hours))
            if ours is not None and series.true_hours is not None:
                inside += 1
                covered += ours.earliest_hours <= series.true_hours <= ours.latest_hours
        for name, made in results.items():
            lines[name].append(row(family.value, made, family.crosses))
        if inside:
            coverage.append(
                f"| {family.value} | {covered}/{inside} ({100 * covered / inside:.0f}%) |"
            )

    points = len(series.points)
    print(
        f"{args.per_family} series per family, {points} points each ({args.step_minutes:g}-minute"
    )
    print(f"data, 3 days), threshold 90%, horizon 48 h, seed {args.seed}.\n")
    header = "| family | series | forecasts | median abs error | median relative error |"
    for name, rows in lines.items():
        print(f"### {name}\n\n{header}\n|---|---:|---:|---:|---:|")
        print("\n".join(rows) + "\n")
    print("### interval coverage (nephos)\n\n| family | true crossing inside the interval |")
    print("|---|---:|")
    print("\n".join(coverage) + "\n")
    print(f"nephos forecast: {1000 * elapsed / fitted:.2f} ms per series ({fitted} series)")


if __name__ == "__main__":
    main()
