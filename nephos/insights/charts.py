"""Charts without a plotting library: text sparklines, a block chart for the terminal, and inline
SVG for HTML reports. Deterministic (the same points give the same bytes), so reports of the
same period are identical.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from nephos.insights.words import number

__all__ = ["sparkline", "svg_chart", "terminal_chart"]

_BLOCKS = "▁▂▃▄▅▆▇█"


def _scaled(values: Sequence[float], levels: int) -> list[int]:
    low, high = min(values), max(values)
    if high - low < 1e-12:
        return [levels // 2] * len(values)
    return [min(levels - 1, int((v - low) / (high - low) * (levels - 1) + 0.5)) for v in values]


def sparkline(values: Sequence[float], *, width: int = 48) -> str:
    """``values`` as a line of block characters, at most ``width`` long (means of groups)."""
    if not values:
        return ""
    points = _resample(values, width)
    return "".join(_BLOCKS[i] for i in _scaled(points, len(_BLOCKS)))


def _resample(values: Sequence[float], width: int) -> list[float]:
    if len(values) <= width:
        return list(values)
    out = []
    for i in range(width):
        start = i * len(values) // width
        end = max(start + 1, (i + 1) * len(values) // width)
        chunk = values[start:end]
        out.append(sum(chunk) / len(chunk))
    return out


def terminal_chart(
    points: Sequence[tuple[datetime, float]], *, unit: str = "", width: int = 60, height: int = 8
) -> str:
    """A block chart of ``points`` with its range on the left and its time span below."""
    if not points:
        return ""
    values = _resample([v for _, v in points], width)
    low, high = min(values), max(values)
    cells = height * len(_BLOCKS)
    levels = _scaled(values, cells) if high > low else [cells // 2] * len(values)
    suffix = "%" if unit in ("percent", "%") else (f" {unit}" if unit else "")
    label_top = f"{number(high, 2)}{suffix}"
    label_low = f"{number(low, 2)}{suffix}"
    pad = max(len(label_top), len(label_low))
    rows = []
    for row in range(height - 1, -1, -1):
        line = []
        for level in levels:
            filled = level + 1 - row * len(_BLOCKS)
            line.append(" " if filled <= 0 else _BLOCKS[min(filled, len(_BLOCKS)) - 1])
        label = label_top if row == height - 1 else (label_low if row == 0 else "")
        rows.append(f"{label:>{pad}} ┤{''.join(line)}")
    start = points[0][0].astimezone(UTC).strftime("%m-%d %H:%M")
    end = points[-1][0].astimezone(UTC).strftime("%m-%d %H:%M UTC")
    axis = " " * pad + " └" + "─" * len(values)
    gap = " " * max(1, len(values) - len(start) - len(end))
    span = " " * (pad + 2) + start + gap + end
    return "\n".join([*rows, axis, span]) + "\n"


def svg_chart(
    points: Sequence[tuple[datetime, float]],
    *,
    title: str,
    unit: str = "",
    width: int = 640,
    height: int = 160,
    y_floor: float | None = None,
) -> str:
    """An inline SVG line chart with a title, the value range and the time span.

    Args:
        points: ``(time, value)``, oldest first.
        title: shown above the line (escaped).
        unit: appended to the range labels.
        width: pixels.
        height: pixels.
        y_floor: the bottom of the value axis (default: the lowest value).
    """
    label = html.escape(title)
    if not points:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40" role="img" '
            f'aria-label="{label}"><text x="4" y="24" font-size="13">{label}: no data</text></svg>'
        )
    left, right, top, bottom = 56, 8, 24, 22
    values = [v for _, v in points]
    low = min(values) if y_floor is None else min(y_floor, min(values))
    high = max(values)
    span = high - low or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(points) - 1)
    coords = " ".join(
        f"{left + i * step:.1f},{top + plot_h - (v - low) / span * plot_h:.1f}"
        for i, v in enumerate(values)
    )
    suffix = f" {unit}" if unit else ""
    start = points[0][0].astimezone(UTC).strftime("%m-%d %H:%M")
    end = points[-1][0].astimezone(UTC).strftime("%m-%d %H:%M UTC")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}">'
        f'<text x="{left}" y="15" font-size="13" font-weight="bold">{label}</text>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#999"/>'
        f'<text x="{left - 4}" y="{top + 10}" font-size="11" text-anchor="end">'
        f"{html.escape(number(high, 2) + suffix)}</text>"
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="11" text-anchor="end">'
        f"{html.escape(number(low, 2) + suffix)}</text>"
        f'<polyline fill="none" stroke="#2b6cb0" stroke-width="1.5" points="{coords}"/>'
        f'<text x="{left}" y="{height - 6}" font-size="11">{start}</text>'
        f'<text x="{width - right}" y="{height - 6}" font-size="11" text-anchor="end">{end}</text>'
        "</svg>"
    )
