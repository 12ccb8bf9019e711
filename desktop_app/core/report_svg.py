"""Inline SVG charts for the evaluation report page (``report.html``): heatmaps, bar charts, accuracy vs latency.

Everything here returns markup as a string, with every text from the report (labels, model names) passed
through :func:`esc` (HTML-escaped with quotes, unprintable characters written ``\\xNN``), also inside SVG
``<text>``, ``<title>`` and attributes. The charts are plain SVG 1.1 with no scripts, no external
resources and no ``xmlns`` URL (inline SVG in HTML5 needs none); they scale down with the page width.
:mod:`desktop_app.core.report_html` puts them together into the page.

Example::

    python -c "from desktop_app.core.report_svg import confusion_svg; \\
print(confusion_svg(['cat', 'dog'], ['cat', 'dog', '(other)'], [[9, 1, 0], [2, 8, 0]])[0])"
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from desktop_app.core.pareto import Axis, axis_for, pareto_front, placeable, point_labels
from workbench.names import printable

__all__ = [
    "DASH",
    "MATRIX_LIMIT",
    "Heatmap",
    "agreement_svg",
    "bar_chart_svg",
    "confusion_svg",
    "esc",
    "fmt_number",
    "fmt_pct",
    "heatmap_svg",
    "short",
    "tradeoff_svg",
]

DASH = "\u2014"
"""What a missing (None) number is shown as."""

MATRIX_LIMIT = 60
"""Most classes drawn in a confusion matrix; beyond it the classes with the most mistakes are kept."""
COUNTS_UP_TO = 20
"""Cell counts are written into confusion matrices of at most this many classes."""

# A sequential light-to-dark blue scale (ColorBrewer "Blues"), interpolated linearly.
_SCALE = ((247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107))
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"'


def esc(value: object) -> str:
    """``value`` as text safe anywhere in HTML or SVG (element text and quoted attributes)."""
    return html.escape(printable(str(value)), quote=True)


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (not escaped)."""
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "\u2026"


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def fmt_pct(value: object, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage (``0.9123`` -> ``"91.2 %"``); :data:`DASH` for None."""
    number = _finite(value)
    return DASH if number is None else f"{100 * number:.{digits}f}\u202f%"


def fmt_number(value: object, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals; :data:`DASH` for None."""
    number = _finite(value)
    return DASH if number is None else f"{number:,.{digits}f}"


def colour(value: float) -> str:
    """The scale's colour for ``value`` in [0, 1] as ``#rrggbb``."""
    position = min(max(value, 0.0), 1.0) * (len(_SCALE) - 1)
    low = min(int(position), len(_SCALE) - 2)
    t = position - low
    rgb = (round(a + (b - a) * t) for a, b in zip(_SCALE[low], _SCALE[low + 1], strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb)


@dataclass(frozen=True)
class Heatmap:
    """A matrix to draw: ``shade[r][c]`` in [0, 1] (or None: blank cell), the ``text`` written in each cell
    (empty: none) and the ``tooltip`` of each cell; axis titles and the largest label length shown."""

    rows: Sequence[str]
    columns: Sequence[str]
    shade: Sequence[Sequence[float | None]]
    text: Sequence[Sequence[str]]
    tooltip: Sequence[Sequence[str]]
    row_title: str
    column_title: str
    label_chars: int = 22
    cell: int = 0
    """Side of a cell in pixels; 0: chosen from the size of the matrix."""


def _cell_size(rows: int, columns: int, with_text: bool) -> int:
    largest = max(rows, columns, 1)
    if with_text:
        return 44 if largest <= 8 else 36 if largest <= 12 else 28
    return max(12, min(28, 720 // largest))


def heatmap_svg(chart: Heatmap) -> str:
    """The heatmap as an ``<svg>`` element: row labels on the left under ``row_title`` (rotated), column
    labels on top (slanted, or upright for small cells) under ``column_title``, one ``<rect>`` with a
    ``<title>`` tooltip per cell."""
    n_rows, n_cols = len(chart.rows), len(chart.columns)
    cell = chart.cell or _cell_size(n_rows, n_cols, any(t for row in chart.text for t in row))
    font = 12 if cell >= 20 else cell - 3
    label_w = 16 + int(min(max((len(r) for r in chart.rows), default=1), chart.label_chars) * font * 0.6)
    slant = 0.45 if cell >= 20 else 0.62
    col_h = 20 + int(min(max((len(c) for c in chart.columns), default=1), chart.label_chars) * font * slant)
    left, top = 26 + label_w, 24 + col_h
    width, height = left + n_cols * cell + (col_h if cell >= 20 else 8), top + n_rows * cell + 8
    parts = [
        f'<svg class="chart heatmap" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" {_FONT} font-size="{font}">',
        f'<text x="{left + n_cols * cell / 2:.0f}" y="14" text-anchor="middle" font-weight="600" font-size="12" '
        f'fill="#334155">{esc(chart.column_title)}</text>',
        f'<text transform="translate(14 {top + n_rows * cell / 2:.0f}) rotate(-90)" text-anchor="middle" '
        f'font-weight="600" font-size="12" fill="#334155">{esc(chart.row_title)}</text>',
    ]
    for c, name in enumerate(chart.columns):
        if cell >= 20:
            where = f"translate({left + c * cell + cell / 2:.1f} {top - 6}) rotate(-45)"
        else:
            where = f"translate({left + c * cell + cell / 2 + font / 3:.1f} {top - 4}) rotate(-90)"
        parts.append(
            f'<text transform="{where}" fill="#475569"><title>{esc(name)}</title>'
            f"{esc(short(name, chart.label_chars))}</text>"
        )
    for r, name in enumerate(chart.rows):
        baseline = top + r * cell + cell / 2 + font / 3
        parts.append(
            f'<text x="{left - 6}" y="{baseline:.1f}" text-anchor="end" fill="#475569"><title>{esc(name)}</title>'
            f"{esc(short(name, chart.label_chars))}</text>"
        )
        parts.extend(_heatmap_row(chart, r, left, top + r * cell, cell))
    parts.append(
        f'<rect x="{left}" y="{top}" width="{n_cols * cell}" height="{n_rows * cell}" fill="none" stroke="#cbd5e1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _heatmap_row(chart: Heatmap, r: int, left: int, y: int, cell: int) -> list[str]:
    parts = []
    for c in range(len(chart.columns)):
        shade = chart.shade[r][c]
        fill = "#ffffff" if shade is None else colour(shade)
        x = left + c * cell
        parts.append(
            f'<g><rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" stroke="#ffffff" '
            f'stroke-width="1"><title>{esc(chart.tooltip[r][c])}</title></rect>'
        )
        text = chart.text[r][c]
        if text:
            ink = "#ffffff" if shade is not None and shade > 0.55 else "#1e293b"
            size = min(13.0, cell * 0.36, cell * 1.5 / len(text))
            parts.append(
                f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + size / 3:.1f}" text-anchor="middle" '
                f'font-size="{size:.1f}" fill="{ink}" pointer-events="none">{esc(text)}</text>'
            )
        parts.append("</g>")
    return parts


def bar_chart_svg(
    names: Sequence[str], values: Sequence[object], *, back: Sequence[object] | None = None, legend: str = ""
) -> str:
    """Horizontal bars of fractions in [0, 1], one per name, with the value written after each bar; ``back``
    (optional, e.g. top-5 next to top-1) is drawn as a lighter bar behind. None draws no bar and a dash."""
    label_w = 16 + int(min(max((len(n) for n in names), default=1), 28) * 7.2)
    bar_w, row_h = 420, 30
    width, height = label_w + bar_w + 80, 12 + row_h * len(names) + (22 if legend else 6)
    parts = [
        f'<svg class="chart bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'{_FONT} font-size="13">'
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + tick * bar_w
        parts.append(f'<line x1="{x:.1f}" y1="6" x2="{x:.1f}" y2="{12 + row_h * len(names) - 4}" stroke="#e2e8f0"/>')
    for i, name in enumerate(names):
        y = 10 + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" fill="#334155"><title>{esc(name)}</title>'
            f"{esc(short(name, 28))}</text>"
        )
        behind = _finite(back[i]) if back is not None and i < len(back) else None
        if behind is not None:
            parts.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{bar_w * min(max(behind, 0), 1):.1f}" height="18" rx="3" '
                f'fill="#bfdbfe"><title>{esc(name)}: {esc(fmt_pct(behind))}</title></rect>'
            )
        value = _finite(values[i])
        if value is not None:
            parts.append(
                f'<rect x="{label_w}" y="{y + 6}" width="{bar_w * min(max(value, 0), 1):.1f}" height="12" rx="3" '
                f'fill="#2563eb"><title>{esc(name)}: {esc(fmt_pct(value))}</title></rect>'
            )
        parts.append(
            f'<text x="{label_w + bar_w + 8}" y="{y + 17}" fill="#0f172a" font-weight="600">'
            f"{esc(fmt_pct(values[i]))}</text>"
        )
    if legend:
        parts.append(f'<text x="{label_w}" y="{height - 6}" fill="#64748b" font-size="11">{esc(legend)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _kept_classes(matrix: Sequence[Sequence[float]], limit: int) -> list[int]:
    """Indices of the ``limit`` classes with the most mistakes (wrong answers plus false alarms), in order."""
    n = len(matrix)
    if n <= limit:
        return list(range(n))
    column_sums = [sum(column) for column in zip(*matrix, strict=True)]
    involved = [sum(matrix[i]) + column_sums[i] - 2 * matrix[i][i] for i in range(n)]
    best = sorted(range(n), key=lambda i: (-involved[i], i))[:limit]
    return sorted(best)


def confusion_svg(
    rows: Sequence[str], columns: Sequence[str], matrix: Sequence[Sequence[object]], *, limit: int = MATRIX_LIMIT
) -> tuple[str, list[str]]:
    """A confusion matrix (true class rows, predicted columns; the columns after the classes, such as
    ``(other)``, are always kept) as a row-normalised heatmap; returns the SVG and the names of the classes
    left out (more than ``limit`` classes: those with the fewest mistakes). Counts are written into the cells
    up to :data:`COUNTS_UP_TO` classes; every cell's tooltip gives the count and its share of the row."""
    rows = rows[: len(matrix)]
    counts = [[_finite(v) or 0.0 for v in row] for row in matrix[: len(rows)]]
    counts = [row + [0.0] * (len(columns) - len(row)) for row in counts]
    square = [row[: len(rows)] for row in counts]
    kept = _kept_classes(square, limit)
    shown_cols = kept + list(range(len(rows), len(columns)))
    totals = [sum(row) for row in counts]
    with_text = len(kept) <= COUNTS_UP_TO
    shade, text, tooltip = [], [], []
    for r in kept:
        total = totals[r]
        cells = [counts[r][c] for c in shown_cols]
        shade.append([cell / total if total else None for cell in cells])
        text.append([fmt_number(cell) if with_text and cell else "" for cell in cells])
        tooltip.append(
            [
                f"true {rows[r]} \u2192 predicted {columns[c]}: {fmt_number(counts[r][c])} of {fmt_number(total)}"
                f" ({fmt_pct(counts[r][c] / total if total else None)})"
                for c in shown_cols
            ]
        )
    chart = Heatmap(
        rows=[rows[r] for r in kept],
        columns=[columns[c] for c in shown_cols],
        shade=shade,
        text=text,
        tooltip=tooltip,
        row_title="true class",
        column_title="predicted",
    )
    left_out = [rows[i] for i in range(len(rows)) if i not in set(kept)]
    return heatmap_svg(chart), left_out


def agreement_svg(models: Sequence[str], matrix: Sequence[Sequence[object]]) -> str:
    """The models' pairwise top-1 agreement (fractions) as a heatmap with the percentage in every cell."""
    values = [[_finite(v) for v in row] for row in matrix]
    chart = Heatmap(
        rows=list(models),
        columns=list(models),
        shade=values,
        text=[[fmt_pct(v, 0) for v in row] for row in values],
        tooltip=[
            [f"{a} and {b} agree on {fmt_pct(v)} of the images" for b, v in zip(models, row, strict=False)]
            for a, row in zip(models, values, strict=False)
        ],
        row_title="model",
        column_title="model",
        label_chars=26,
        cell=60,
    )
    return heatmap_svg(chart)


def _middle(text: str, limit: int) -> str:
    """``text`` cut in the middle to ``limit`` characters (the end of a model name tells fp32 from int8)."""
    return text if len(text) <= limit else text[: limit // 2 - 1] + "\u2026" + text[-(limit - limit // 2) :]


def _tick(value: float) -> str:
    return f"{value:.0f}" if value >= 100 or value == int(value) else f"{value:.4g}"


def tradeoff_svg(names: Sequence[str], latencies: Sequence[object], accuracies: Sequence[object]) -> str:
    """Top-1 accuracy (fractions) against median batch-1 latency (ms), one labelled point per model, the
    Pareto front (:func:`~desktop_app.core.pareto.pareto_front`) joined and drawn larger; log-scale x when
    the latencies span more than ten times. Each point's ``<title>`` names the model with its figures.
    Models without both numbers are not drawn and are named under the chart. Empty string: nothing to draw."""
    points = [(_finite(lat), _finite(acc)) for lat, acc in zip(latencies, accuracies, strict=True)]
    placed = [i for i, (lat, acc) in enumerate(points) if placeable(lat, acc)]
    if not placed:
        return ""
    front = pareto_front(points)
    x_axis = axis_for([points[i][0] or 0.0 for i in placed], bounds=(0.0, math.inf))
    y_axis = axis_for([100 * (points[i][1] or 0.0) for i in placed], bounds=(0.0, 100.0))
    left, top, plot_w, plot_h = 64, 30, 520, 260
    missing = [names[i] for i in range(len(names)) if i not in set(placed)]
    labels = point_labels([str(name) for name in names])
    width, height = left + plot_w + 150, top + plot_h + 48 + (18 if missing else 0)

    def xy(i: int) -> tuple[float, float]:
        lat, acc = points[i]
        return (
            left + x_axis.fraction(lat or 0.0) * plot_w,
            top + plot_h - y_axis.fraction(100 * (acc or 0.0)) * plot_h,
        )

    parts = [
        f'<svg class="chart tradeoff" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" {_FONT} font-size="12">',
        *_tradeoff_axes(x_axis, y_axis, left, top, plot_w, plot_h),
    ]
    if len(front) > 1:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i) for i in front))
        parts.append(f'<polyline points="{line}" fill="none" stroke="#d9480f" stroke-width="2"/>')
    for i in placed:
        x, y = xy(i)
        on_front = i in front
        lat, acc = points[i]
        tip = f"{names[i]}: top-1 {fmt_pct(acc, 2)}, {fmt_number(lat, 3)} ms" + (" (Pareto front)" if on_front else "")
        parts.append(
            f'<g><circle cx="{x:.1f}" cy="{y:.1f}" r="{6 if on_front else 4.5}" '
            f'fill="{"#d9480f" if on_front else "#64748b"}" stroke="#ffffff"><title>{esc(tip)}</title></circle>'
            f'<text x="{x + 9:.1f}" y="{y + 4:.1f}" fill="#0f172a">{esc(_middle(labels[i], 28))}</text></g>'
        )
    if missing:
        parts.append(
            f'<text x="{left}" y="{height - 6}" fill="#64748b" font-size="11">not drawn (no latency or top-1): '
            f"{esc(', '.join(missing))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _tradeoff_axes(x_axis: Axis, y_axis: Axis, left: int, top: int, plot_w: int, plot_h: int) -> list[str]:
    """The frame, grid, ticks, axis titles and legend line of :func:`tradeoff_svg`."""
    parts = [
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#cbd5e1"/>',
    ]
    for value in x_axis.ticks:
        x = left + x_axis.fraction(value) * plot_w
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#e2e8f0"/>'
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#475569">{_tick(value)}</text>'
        )
    for value in y_axis.ticks:
        y = top + plot_h - y_axis.fraction(value) * plot_h
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#475569">{_tick(value)}</text>'
        )
    scale = " \u00b7 log scale" if x_axis.log else ""
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h + 34}" text-anchor="middle" font-weight="600" '
        f'fill="#334155">median latency, batch 1 (ms){scale}</text>'
        f'<text transform="translate(16 {top + plot_h / 2:.0f}) rotate(-90)" text-anchor="middle" '
        f'font-weight="600" fill="#334155">top-1 accuracy (%)</text>'
        f'<circle cx="{left + 6}" cy="14" r="4" fill="#64748b"/><text x="{left + 14}" y="18" fill="#334155">model'
        f'</text><line x1="{left + 70}" y1="14" x2="{left + 90}" y2="14" stroke="#d9480f" stroke-width="2"/>'
        f'<circle cx="{left + 80}" cy="14" r="5" fill="#d9480f"/>'
        f'<text x="{left + 98}" y="18" fill="#334155">Pareto front (no other model is faster and more accurate)</text>'
    )
    return parts
