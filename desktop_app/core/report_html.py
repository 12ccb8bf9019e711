"""The evaluation report as one self-contained HTML page (``report.html``), from the ``report.json`` document.

:func:`render_html` turns the dict :func:`desktop_app.core.report.build_report` returns into a page that
needs nothing else: CSS inline, charts as inline SVG (:mod:`desktop_app.core.report_svg`), thumbnails as
``data:image/jpeg;base64`` URIs, no script and no link to anything outside the page. It shows the data set
and the machine, an accuracy table with a bar chart of top-1 per model and an accuracy-vs-latency chart
(the Pareto front marked), then per model its confusion matrix
(a heatmap), most confused pairs, per-class scores, unknown classes, failed images and worst mistakes (with
their top-5), and the comparison of the models. Every text from the report (labels and names come from
model files and folder names) is HTML-escaped; a missing number is shown as a dash; an image that cannot
be opened gets a box saying why instead of its thumbnail.

Example::

    python -m desktop_app evaluate ~/data/pets --model resnet50 --model mobilenet_v3 --out reports/pets
    # writes reports/pets/report.html (with report.json and predictions.csv)
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop_app.core.report_svg import (
    MATRIX_LIMIT,
    agreement_svg,
    bar_chart_svg,
    confusion_svg,
    esc,
    fmt_number,
    fmt_pct,
    short,
    tradeoff_svg,
)
from workbench.imageio import ImageLoadError, load_image

__all__ = ["THUMBNAIL_SIDE", "render_html"]

THUMBNAIL_SIDE = 160
"""Largest side of a thumbnail, in pixels."""
DISAGREEMENT_ROWS = 100
"""Disagreement images listed in the comparison table (the first ones with thumbnails)."""
DISAGREEMENT_THUMBNAILS = 12
FAILED_ROWS = 200
"""Failed images listed per model."""
MANY_CLASSES = 30
"""Above this many classes the most-confused pairs come before the (bounded) matrix and the class table is folded."""

_CSS = """
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--soft:#f8fafc;--accent:#2563eb;--ok:#15803d;--bad:#b91c1c}
*{box-sizing:border-box}
body{margin:0;background:#f1f5f9;color:var(--ink);line-height:1.5;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 20px 64px}
header.top{background:#fff;border-bottom:1px solid var(--line)}
header.top>div{max-width:1200px;margin:0 auto;padding:24px 20px 16px}
h1{font-size:26px;margin:0 0 4px;letter-spacing:-.01em}
h2{font-size:21px;margin:0 0 12px}
h3{font-size:16px;margin:24px 0 8px;color:#1e293b}
.sub{color:var(--muted);margin:0 0 12px;word-break:break-all}
nav{display:flex;flex-wrap:wrap;gap:6px;margin-top:12px}
nav a{font-size:13px;text-decoration:none;color:var(--accent);background:#eff6ff;padding:3px 10px;border-radius:999px}
section{background:#fff;border:1px solid var(--line);border-radius:12px;padding:20px 22px;margin:20px 0;
box-shadow:0 1px 2px rgba(15,23,42,.04)}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin:0}
.facts div{background:var(--soft);border:1px solid var(--line);border-radius:8px;padding:8px 12px;min-width:0}
.facts dt{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.meta{color:var(--muted);font-size:13px;margin:6px 0;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:10px;margin:12px 0}
.card-n{background:var(--soft);border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.card-n b{display:block;font-size:22px;font-variant-numeric:tabular-nums}
.card-n span{font-size:12px;color:var(--muted)}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:14px;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);background:var(--soft)}
td.n,th.n{text-align:right;white-space:nowrap}
tbody tr:nth-child(even){background:#fbfdff}
.side{display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start}.side>div:last-child{flex:1;min-width:280px}
.minibar{display:inline-block;width:70px;height:8px;margin-right:8px;background:#e2e8f0;border-radius:3px;
overflow:hidden;vertical-align:middle}.minibar i{display:block;height:100%;background:var(--accent)}
.why{display:block;color:var(--muted);font-size:12px}
svg.chart{max-width:100%;height:auto;display:block;margin:8px 0}
.note{background:#fffbeb;border:1px solid #fde68a;border-radius:8px;padding:8px 12px;font-size:14px}
.warn{background:#fef2f2;border:1px solid #fecaca;border-radius:8px;padding:8px 12px;font-size:14px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:14px}
figure{margin:0;border:1px solid var(--line);border-radius:10px;padding:10px;background:#fff;min-width:0}
.thumb{display:block;margin:0 auto 8px;max-width:160px;max-height:160px;border-radius:6px}
.missing{display:flex;align-items:center;justify-content:center;flex-direction:column;width:160px;height:120px;
margin:0 auto 8px;border:2px dashed #cbd5e1;border-radius:6px;color:var(--muted);font-size:12px;text-align:center;
padding:6px;overflow-wrap:anywhere}
td .thumb,td .missing{margin:0;max-width:96px;max-height:96px}
td .missing{width:96px;height:72px}
.file{font-size:12px;color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}
ol.top{list-style:none;padding:0;margin:8px 0 0;font-size:12px}
ol.top li{display:grid;grid-template-columns:minmax(0,1fr) 60px 46px;gap:6px;align-items:center}
ol.top .lbl{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
ol.top .bar{background:#e2e8f0;border-radius:3px;height:8px;overflow:hidden}
ol.top .bar i{display:block;height:100%;background:var(--accent)}
ol.top li.is-true .bar i{background:var(--ok)} ol.top li.is-pred .bar i{background:var(--bad)}
ol.top .p{text-align:right;font-variant-numeric:tabular-nums}
details summary{cursor:pointer;color:var(--accent);margin:8px 0}
footer{color:var(--muted);font-size:12px;text-align:center}
@media (max-width:640px){main{padding:12px 8px}section{padding:14px 12px}}
@media print{body{background:#fff}section{box-shadow:none;break-inside:avoid-page}nav{display:none}}
"""


def render_html(report: dict[str, Any], *, image_root: Path) -> str:
    """The whole page for ``report`` (the dict ``build_report`` returns); image files named in it are read
    relative to ``image_root`` (absolute names as they are) to make the thumbnails."""
    thumbs = _Thumbnails(image_root)
    data = report.get("data") or {}
    models = list(report.get("models") or [])
    comparison = report.get("comparison")
    body = [_header(report, models, comparison is not None), "<main>", _accuracy(models)]
    body += [_model_section(i, model, thumbs) for i, model in enumerate(models)]
    if comparison:
        body.append(_comparison(comparison, thumbs))
    body.append(
        f"<footer>report schema {esc(report.get('schema'))} \u00b7 created {esc(_when(report.get('created')))}</footer>"
    )
    body.append("</main>")
    title = f"Evaluation report \u2014 {short(str(data.get('root', '')), 80)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


class _Thumbnails:
    """JPEG thumbnails as ``<img>`` tags with data URIs, made once per file; a box with the reason when the
    file cannot be opened."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[str, str] = {}

    def tag(self, file: object) -> str:
        name = str(file)
        if name not in self.made:
            path = Path(name)
            try:
                uri = thumbnail_uri(path if path.is_absolute() else self.root / path)
            except ImageLoadError as err:
                self.made[name] = _missing(name, err.reason)
            except OSError as err:
                self.made[name] = _missing(name, f"cannot make a thumbnail ({err})")
            else:
                self.made[name] = f'<img class="thumb" src="{uri}" alt="{esc(name)}" title="{esc(name)}">'
        return self.made[name]


def _missing(name: str, reason: str) -> str:
    return f'<div class="missing" title="{esc(name)}"><b>no image</b><span>{esc(name)}: {esc(reason)}</span></div>'


def thumbnail_uri(path: Path, side: int = THUMBNAIL_SIDE) -> str:
    """The image at ``path`` shrunk to at most ``side`` pixels a side, as a ``data:image/jpeg;base64`` URI.

    Raises:
        ImageLoadError: the file cannot be read as an image (the reason says why).
        OSError: the thumbnail cannot be encoded.
    """
    image = load_image(path, min_side=side)
    image.thumbnail((side, side))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _header(report: dict[str, Any], models: Sequence[dict[str, Any]], compared: bool) -> str:
    data, hardware = report.get("data") or {}, report.get("hardware") or {}
    classes = data.get("classes") or []
    facts = [
        ("Layout", esc(data.get("layout"))),
        ("Split", esc(data.get("split") or "\u2014")),
        ("Images", fmt_number(data.get("images"))),
        ("Classes", fmt_number(len(classes))),
        ("Models", fmt_number(len(models))),
        ("Created", esc(_when(report.get("created")))),
    ]
    cpu = " \u00b7 ".join(
        esc(part)
        for part in (
            hardware.get("cpu"),
            f"{fmt_number(hardware.get('cores'))} cores",
            hardware.get("machine"),
            hardware.get("system"),
        )
        if part
    )
    versions = " \u00b7 ".join(f"{esc(k)} {esc(v)}" for k, v in (report.get("versions") or {}).items())
    links = ['<a href="#accuracy">accuracy</a>']
    links += [f'<a href="#model-{i}">{esc(short(str(m.get("name")), 40))}</a>' for i, m in enumerate(models)]
    if compared:
        links.append('<a href="#comparison">comparison</a>')
    features = ", ".join(esc(f) for f in hardware.get("cpu_features") or [])
    problems = data.get("problems") or []
    return "".join(
        [
            '<header class="top"><div><h1>Evaluation report</h1>',
            f'<p class="sub">{esc(data.get("root"))}</p><dl class="facts">',
            "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts),
            f'</dl><p class="meta">Hardware: {cpu}',
            f'<details><summary>CPU features</summary><p class="meta">{features}</p></details>' if features else "",
            f'</p><p class="meta">Versions: {versions}</p>',
            _problem_box(problems),
            f"<nav>{''.join(links)}</nav></div></header>",
        ]
    )


def _when(created: object) -> str:
    """The ISO time stamp ``2026-12-02T01:00:00+00:00`` shown as ``2026-12-02 01:00:00 UTC``."""
    if not created:
        return "\u2014"
    return str(created).replace("T", " ", 1).replace("+00:00", " UTC")


def _problem_box(problems: Sequence[object]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{esc(p)}</li>" for p in problems[:50])
    more = f"<li>\u2026 and {len(problems) - 50} more</li>" if len(problems) > 50 else ""
    return f'<div class="warn"><b>Problems with the data set ({len(problems)})</b><ul>{items}{more}</ul></div>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table from already-escaped cells; the columns in ``numeric`` are right-aligned."""

    def cell(tag: str, i: int, text: str) -> str:
        return f'<{tag} class="n">{text}</{tag}>' if i in numeric else f"<{tag}>{text}</{tag}>"

    head = "".join(cell("th", i, esc(h)) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _provider(model: dict[str, Any], facts: bool = False) -> str:
    """What ran the model (``ran_on``: engine, device, precision; older reports: the provider), with ``facts``
    the engine, device, precision and providers one by one, then any fallback."""
    text = esc(model.get("ran_on") or model.get("provider") or "\u2014") + (_engine_facts(model) if facts else "")
    requested, reason = model.get("requested_provider"), model.get("fallback_reason")
    if reason:
        text += f'<span class="why">fell back from {esc(requested or "?")}: {esc(reason)}</span>'
    return text


def _engine_facts(model: dict[str, Any]) -> str:
    """`` · engine openvino · device CPU · precision fp32 · providers OpenVINO CPU`` (the keys the report has)."""
    facts = [(key, model.get(key)) for key in ("engine", "device", "precision")]
    facts.append(("compute precisions", ", ".join(map(str, model.get("runtime_precisions") or ())) or None))
    facts.append(("providers", ", ".join(map(str, model.get("providers") or ())) or None))
    return "".join(f" \u00b7 {esc(key)} {esc(value)}" for key, value in facts if value)


def _accuracy(models: Sequence[dict[str, Any]]) -> str:
    headers = ["model", "file", "ran on", "images", "failed", "top-1", "top-5", "macro F1", "images/s", "median ms"]
    rows = []
    for i, m in enumerate(models):
        metrics = m.get("metrics") or {}
        rows.append(
            [
                f'<a href="#model-{i}"><b>{esc(m.get("name"))}</b></a>',
                f'<span class="why">{esc(m.get("file"))}</span>',
                _provider(m),
                fmt_number(m.get("images_evaluated")),
                fmt_number(len(m.get("failed") or [])),
                fmt_pct(metrics.get("top1")),
                fmt_pct(metrics.get("top5")),
                fmt_pct((metrics.get("macro") or {}).get("f1")),
                fmt_number(m.get("images_per_second"), 1),
                fmt_number(m.get("median_latency_ms"), 2),
            ]
        )
    names = [str(m.get("name")) for m in models]
    top1 = [(m.get("metrics") or {}).get("top1") for m in models]
    top5 = [(m.get("metrics") or {}).get("top5") for m in models]
    chart = bar_chart_svg(names, top1, back=top5, legend="dark bar: top-1 accuracy \u00b7 light bar: top-5")
    tradeoff = tradeoff_svg(names, [m.get("median_latency_ms") for m in models], top1)
    if tradeoff:
        tradeoff = f'<h3>Accuracy vs latency</h3><div class="scroll">{tradeoff}</div>'
    return (
        '<section id="accuracy"><h2>Accuracy</h2>'
        + (chart + tradeoff if models else "<p>No model was evaluated.</p>")
        + _table(headers, rows, numeric=range(3, 10))
        + "</section>"
    )


def _model_section(i: int, model: dict[str, Any], thumbs: _Thumbnails) -> str:
    metrics = model.get("metrics") or {}
    macro = metrics.get("macro") or {}
    cards = [
        ("top-1", fmt_pct(metrics.get("top1"))),
        ("top-5", fmt_pct(metrics.get("top5"))),
        ("macro F1", fmt_pct(macro.get("f1"))),
        ("macro precision", fmt_pct(macro.get("precision"))),
        ("macro recall", fmt_pct(macro.get("recall"))),
        ("images/s", fmt_number(model.get("images_per_second"), 1)),
        ("median latency ms", fmt_number(model.get("median_latency_ms"), 2)),
    ]
    sha = str(model.get("sha256") or "")
    parts = [
        f'<section id="model-{i}"><h2>{esc(model.get("name"))}</h2>',
        f'<p class="meta">{esc(model.get("file"))} \u00b7 sha256 <span title="{esc(sha)}">{esc(sha[:12])}</span>'
        f" \u00b7 {fmt_number(model.get('seconds'), 2)} s in all</p>",
        f'<p class="meta">Runs on: {_provider(model, facts=True)}</p>',
        '<div class="cards">',
        "".join(f'<div class="card-n"><b>{v}</b><span>{esc(k)}</span></div>' for k, v in cards),
        "</div>",
        _confusion(metrics),
        _class_table(metrics.get("classes") or []),
        _unknown_and_failed(model),
        _mistakes(model.get("worst_mistakes") or [], thumbs),
        "</section>",
    ]
    return "".join(parts)


def _confusion(metrics: dict[str, Any]) -> str:
    confusion = metrics.get("confusion") or {}
    rows, columns, matrix = confusion.get("rows") or [], confusion.get("columns") or [], confusion.get("matrix")
    pairs = _most_confused(metrics.get("most_confused") or [])
    if matrix is None or not rows:
        return "<h3>Confusion matrix</h3><p>No confusion matrix in the report.</p>" + pairs
    svg, left_out = confusion_svg(rows, columns, matrix, limit=MATRIX_LIMIT)
    text = [
        "<h3>Confusion matrix</h3>",
        '<p class="meta">Rows: the true class; columns: the top-1 prediction ("(other)": a label outside the '
        "data set's classes). Colour: share of the row; hover a cell for its count.</p>",
    ]
    if left_out:
        names = ", ".join(esc(n) for n in left_out[:40]) + (" \u2026" if len(left_out) > 40 else "")
        text.append(
            f'<p class="note">Showing {len(rows) - len(left_out)} of {len(rows)} classes (those with the most '
            f"mistakes); {len(left_out)} classes left out: {names}. Predictions of left-out classes are not drawn; "
            "colours are shares of the whole row.</p>"
        )
    if len(rows) > MANY_CLASSES:
        return "".join(text[:1]) + pairs + "".join(text[1:]) + f'<div class="scroll">{svg}</div>'
    return "".join(text) + f'<div class="side"><div class="scroll">{svg}</div><div>{pairs}</div></div>'


def _most_confused(pairs: Sequence[dict[str, Any]]) -> str:
    if not pairs:
        return ""
    most = max((p.get("count") or 0 for p in pairs[:20]), default=0)
    rows = [
        [
            esc(p.get("true_label")),
            esc(p.get("predicted_label")),
            _minibar((p.get("count") or 0) / most if most else 0.0) + fmt_number(p.get("count")),
        ]
        for p in pairs[:20]
    ]
    return "<h3>Most confused pairs</h3>" + _table(["true class", "predicted as", "images"], rows, numeric=[2])


def _minibar(fraction: float) -> str:
    """A small inline bar, ``fraction`` (0 to 1) of it filled."""
    return f'<span class="minibar"><i style="width:{min(max(fraction, 0.0), 1.0) * 100:.1f}%"></i></span>'


def _class_table(classes: Sequence[dict[str, Any]]) -> str:
    if not classes:
        return ""
    rows = [
        [
            esc(c.get("label")),
            fmt_pct(c.get("precision")),
            fmt_pct(c.get("recall")),
            _minibar(float(c.get("f1") or 0)) + fmt_pct(c.get("f1")),
            fmt_number(c.get("support")),
        ]
        for c in classes
    ]
    table = _table(["class", "precision", "recall", "F1", "images"], rows, numeric=[1, 2, 3, 4])
    opened = " open" if len(classes) <= MANY_CLASSES else ""
    return f"<details{opened}><summary><b>Per-class scores</b> ({len(classes)} classes)</summary>{table}</details>"


def _unknown_and_failed(model: dict[str, Any]) -> str:
    parts = []
    unknown = model.get("unknown_classes") or []
    if unknown:
        rows = [[esc(u.get("name")), fmt_number(u.get("images")), esc(u.get("reason") or "\u2014")] for u in unknown]
        parts.append(
            f"<h3>Classes the model does not know ({len(unknown)})</h3>"
            '<p class="meta">Their images are left out of the scores.</p>'
            + _table(["class", "images", "why"], rows, numeric=[1])
        )
    failed = model.get("failed") or []
    if failed:
        rows = [[esc(f.get("file")), esc(f.get("error"))] for f in failed[:FAILED_ROWS]]
        more = f'<p class="meta">\u2026 and {len(failed) - FAILED_ROWS} more.</p>' if len(failed) > FAILED_ROWS else ""
        parts.append(f"<h3>Images that failed ({len(failed)})</h3>" + _table(["file", "error"], rows) + more)
    return "".join(parts)


def _mistakes(mistakes: Sequence[dict[str, Any]], thumbs: _Thumbnails) -> str:
    if not mistakes:
        return "<h3>Worst mistakes</h3><p>No wrong top-1 answer.</p>"
    cards = "".join(_mistake_card(m, thumbs) for m in mistakes)
    return (
        "<h3>Worst mistakes</h3>"
        '<p class="meta">The most confident wrong top-1 answers, with the model\'s top-5 '
        '(<span class="ok">true class</span>, <span class="bad">its answer</span>).</p>'
        f'<div class="grid">{cards}</div>'
    )


def _mistake_card(mistake: dict[str, Any], thumbs: _Thumbnails) -> str:
    true, predicted = mistake.get("true_label"), mistake.get("predicted_label")
    rank = mistake.get("true_rank")
    rank_text = f"true class ranked {fmt_number(rank)}" if rank else "true class not in the model's top answers"
    bars = []
    for entry in (mistake.get("top") or [])[:5]:
        label, probability = entry.get("label"), entry.get("probability")
        kind = ' class="is-true"' if label == true else ' class="is-pred"' if label == predicted else ""
        width = min(max(float(probability or 0), 0.0), 1.0) * 100
        bars.append(
            f'<li{kind}><span class="lbl" title="{esc(label)}">{esc(label)}</span>'
            f'<span class="bar"><i style="width:{width:.1f}%"></i></span>'
            f'<span class="p">{fmt_pct(probability)}</span></li>'
        )
    return (
        f"<figure>{thumbs.tag(mistake.get('file'))}<figcaption>"
        f'<div class="file" title="{esc(mistake.get("file"))}">{esc(mistake.get("file"))}</div>'
        f'<div>true: <span class="ok">{esc(true)}</span></div>'
        f'<div>answer: <span class="bad">{esc(predicted)}</span> ({fmt_pct(mistake.get("confidence"))})</div>'
        f'<div class="meta">{rank_text}</div><ol class="top">{"".join(bars)}</ol></figcaption></figure>'
    )


def _comparison(comparison: dict[str, Any], thumbs: _Thumbnails) -> str:
    models = [str(m) for m in comparison.get("models") or []]
    agreement = comparison.get("top1_agreement") or []
    images = comparison.get("disagreement_images") or []
    parts = [
        '<section id="comparison"><h2>Comparison</h2>',
        f"<p>{fmt_number(comparison.get('images_compared'))} images compared; the models' top-1 answers differ on "
        f"<b>{fmt_number(comparison.get('disagreements'))}</b>.</p>",
        f'<p class="note">{esc(comparison.get("note"))}</p>' if comparison.get("note") else "",
        "<h3>Top-1 agreement</h3>",
        f'<div class="scroll">{agreement_svg(models, agreement)}</div>' if models and agreement else "",
    ]
    if images:
        rows = []
        for n, item in enumerate(images[:DISAGREEMENT_ROWS]):
            true, answers = item.get("true_label"), item.get("top1") or {}
            cells = [thumbs.tag(item.get("file")) if n < DISAGREEMENT_THUMBNAILS else "", esc(item.get("file"))]
            cells.append(esc(true))
            cells += [_answer(answers.get(name), true) for name in models]
            rows.append(cells)
        shown = min(len(images), DISAGREEMENT_ROWS)
        parts.append(f"<h3>Images the models disagree on (first {shown})</h3>")
        parts.append(_table(["", "file", "true class", *models], rows))
    parts.append("</section>")
    return "".join(parts)


def _answer(answer: object, true: object) -> str:
    if answer is None:
        return '<span class="why">\u2014</span>'
    return f'<span class="{"ok" if answer == true else "bad"}">{esc(answer)}</span>'
