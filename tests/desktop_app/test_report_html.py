"""Tests for desktop_app.core.report_html (the self-contained ``report.html`` page) and report_svg.

The report dicts are made by hand in the shape ``build_report`` returns, with the metrics from the real
``compute_metrics(...).to_json()``, and real Pillow-written images in tmp_path for the thumbnails.

Run: ``.venv/bin/python -m pytest -q -n 0 tests/desktop_app/test_report_html.py``
"""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from desktop_app.core.metrics import compute_metrics
from desktop_app.core.report_html import THUMBNAIL_SIDE, render_html, thumbnail_uri
from desktop_app.core.report_svg import DASH, colour, confusion_svg, esc, fmt_number, fmt_pct, tradeoff_svg

PCT = "\u202f%"
HOSTILE = "<script>alert(1)</script>"
QUOTES = '"onmouseover=alert(2) x="'
VOID = {"meta", "img", "br", "hr", "input", "link", "source", "wbr", "col", "area", "base", "embed", "track"}


class Page(HTMLParser):
    """Collects tags, attributes and text, and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.svg_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if "svg" in self.stack:
            self.svg_text.append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"elements left open: {parser.stack}"
    return parser


def metrics_json(labels: list[str], classes: list[int], true: list[int], ranked: list[list[int]]) -> dict[str, Any]:
    confidence = np.linspace(0.9, 0.4, len(true))
    return compute_metrics(np.array(true), np.array(ranked), confidence, labels, classes).to_json(mistakes=0)


def model(name: str, metrics: dict[str, Any], mistakes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "file": f"models/{name}.onnx",
        "sha256": "ab" * 32,
        "provider": "CPU",
        "providers": ["CPUExecutionProvider"],
        "requested_provider": "auto",
        "fallback_reason": None,
        "class_mapping": {},
        "unknown_classes": [],
        "images_evaluated": metrics["images"],
        "failed": [],
        "seconds": 1.25,
        "images_per_second": 1234.5,
        "median_latency_ms": 3.25,
        "metrics": metrics,
        "worst_mistakes": mistakes,
    }
    entry.update(extra)
    return entry


def mistake(file: str, true: str, predicted: str, top: list[str]) -> dict[str, Any]:
    probabilities = [0.7, 0.2, 0.06, 0.03, 0.01][: len(top)]
    return {
        "file": file,
        "true_label": true,
        "predicted_label": predicted,
        "confidence": probabilities[0],
        "true_rank": top.index(true) + 1 if true in top else None,
        "top": [{"label": label, "probability": p} for label, p in zip(top, probabilities, strict=True)],
    }


def make_report(classes: tuple[str, str, str] = ("cat", "dog", "bird")) -> dict[str, Any]:
    """3 classes, 2 models: A (6 labels, 10 of 12 right), B (3 labels, no top-5, 9 of 12 right)."""
    cat, dog, bird = classes
    true = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    a_top1 = [0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 3]  # a cat called dog, a bird called "fish" (other)
    labels_a = [cat, dog, bird, "fish", "frog", "fox"]
    ranked_a = [[p, *[q for q in range(6) if q != p][:4]] for p in a_top1]
    b_top1 = [0, 0, 1, 1, 1, 1, 0, 1, 2, 2, 2, 0]
    ranked_b = [[p, *[q for q in range(3) if q != p]] for p in b_top1]
    a = model(
        "resnet-a",
        metrics_json(labels_a, [0, 1, 2], true, ranked_a),
        [
            mistake("cat/tabby.png", cat, dog, [dog, cat, "fox", bird, "fish"]),
            mistake("bird/gone.jpg", bird, "fish", ["fish", "frog", "fox", dog, cat]),
        ],
        unknown_classes=[{"name": "hamster", "images": 2, "reason": "no label of the model matches"}],
        failed=[{"file": "dog/broken.jpg", "error": "truncated or corrupt image data"}],
    )
    b = model(
        "tiny-b",
        metrics_json([cat, dog, bird], [0, 1, 2], true, ranked_b),
        [mistake("cat/tabby.png", cat, dog, [dog, cat, bird])],
        provider="CPU",
        requested_provider="CUDA",
        fallback_reason="CUDA is not available",
        images_per_second=None,
    )
    return {
        "schema": 1,
        "created": "2026-12-02T01:00:00+00:00",
        "data": {
            "root": "/data/pets",
            "layout": "folders",
            "split": None,
            "images": 14,
            "classes": [{"name": c, "images": 4} for c in classes] + [{"name": "hamster", "images": 2}],
            "problems": ["odd/loop.jpg: symbolic link loop, not followed"],
        },
        "versions": {"workbench": "0.1", "python": "3.11.7", "onnxruntime": "1.19", "numpy": "2.0", "pillow": "11"},
        "hardware": {
            "cpu": "Test CPU 9000",
            "cpu_features": ["avx2", "fma"],
            "cores": 16,
            "machine": "x86_64",
            "system": "Linux 6.1",
        },
        "models": [a, b],
        "comparison": {
            "models": ["resnet-a", "tiny-b"],
            "images_compared": 12,
            "note": "compared on the 3 classes both models know",
            "top1_agreement": [[1.0, 0.75], [0.75, 1.0]],
            "disagreements": 3,
            "disagreement_images": [
                {"file": "cat/tabby.png", "true_label": cat, "top1": {"resnet-a": dog, "tiny-b": dog}},
                {"file": "bird/gone.jpg", "true_label": bird, "top1": {"resnet-a": None, "tiny-b": cat}},
            ],
        },
    }


@pytest.fixture()
def image_root(tmp_path: Path) -> Path:
    (tmp_path / "cat").mkdir()
    Image.new("RGB", (400, 300), (200, 120, 40)).save(tmp_path / "cat" / "tabby.png")
    return tmp_path


def data_uris(page: str) -> list[str]:
    return re.findall(r'src="(data:image/jpeg;base64,[A-Za-z0-9+/=]+)"', page)


def test_page_is_well_formed_with_charts(image_root: Path) -> None:
    page = render_html(make_report(), image_root=image_root)
    parsed = parse(page)
    tags = [tag for tag, _ in parsed.tags]
    assert page.startswith("<!DOCTYPE html>")
    assert tags.count("svg") == 5  # accuracy bars, accuracy vs latency, two confusion matrices, agreement
    assert tags.count("html") == tags.count("body") == tags.count("head") == 1
    text = "".join(parsed.text)
    for heading in ("Accuracy", "Confusion matrix", "Per-class scores", "Worst mistakes", "Top-1 agreement"):
        assert heading in text
    assert "true class" in parsed.svg_text and "predicted" in parsed.svg_text
    assert "(other)" in parsed.svg_text
    ids = {attrs.get("id") for _, attrs in parsed.tags}
    links = {str(attrs.get("href")) for tag, attrs in parsed.tags if tag == "a"}
    assert links and {link[1:] for link in links} <= ids


def test_numbers_are_formatted_and_none_is_a_dash(image_root: Path) -> None:
    page = render_html(make_report(), image_root=image_root)
    text = "".join(parse(page).text)
    rows = re.findall(r"<tr>.*?</tr>", page)

    def cells(name: str) -> list[str]:
        row = next(row for row in rows if f"<b>{name}</b>" in row)
        return re.findall(r"<td[^>]*>(.*?)</td>", row)

    resnet, tiny = cells("resnet-a"), cells("tiny-b")
    # images, failed, top-1, top-5, macro F1, images/s, median ms
    assert resnet[3:] == ["12", "1", f"83.3{PCT}", f"100.0{PCT}", f"86.8{PCT}", "1,234.5", "3.25"]
    assert tiny[3:] == ["12", "0", f"66.7{PCT}", DASH, f"67.5{PCT}", DASH, "3.25"]  # 3 labels: no top-5
    assert "fell back from CUDA: CUDA is not available" in tiny[2]
    assert f"<b>83.3{PCT}</b><span>top-1</span>" in page
    assert "None" not in text and "nan" not in text.lower()


def test_confusion_counts_and_tooltips(image_root: Path) -> None:
    page = render_html(make_report(), image_root=image_root)
    parsed = parse(page)
    assert "true cat \u2192 predicted dog: 1 of 4 (25.0" in "".join(parsed.svg_text)
    assert "true bird \u2192 predicted (other): 1 of 4" in "".join(parsed.svg_text)
    svgs = re.findall(r'<svg class="chart heatmap".*?</svg>', page)
    first = Page()
    first.feed(svgs[0])
    counts = [t for t in first.svg_text if t.isdigit()]
    assert sorted(counts) == sorted(["3", "1", "4", "3", "1"])  # resnet-a: zeros are left blank


def test_thumbnail_is_a_small_jpeg(image_root: Path) -> None:
    page = render_html(make_report(), image_root=image_root)
    uris = data_uris(page)
    assert uris, "no thumbnail"
    assert len(set(uris)) == 1  # the one existing image, encoded once and reused
    image = Image.open(io.BytesIO(base64.b64decode(uris[0].split(",", 1)[1])))
    assert image.format == "JPEG"
    assert max(image.size) <= THUMBNAIL_SIDE and image.size == (160, 120)


def test_absolute_file_names_are_read_as_they_are(image_root: Path) -> None:
    report = make_report()
    report["models"][0]["worst_mistakes"][1]["file"] = str(image_root / "cat" / "tabby.png")
    page = render_html(report, image_root=image_root / "elsewhere")
    assert len(data_uris(page)) >= 1
    assert thumbnail_uri(image_root / "cat" / "tabby.png").startswith("data:image/jpeg;base64,")


def test_missing_and_undecodable_files_get_a_placeholder(image_root: Path) -> None:
    report = make_report()
    report["models"][1]["worst_mistakes"][0]["file"] = "cat/caf\\xe9.jpg"  # a display name, escaped
    (image_root / "notes").mkdir()
    report["comparison"]["disagreement_images"][0]["file"] = "notes"
    page = render_html(report, image_root=image_root)
    boxes = re.findall(r'<div class="missing".*?</div>', page)
    assert any("bird/gone.jpg: file not found" in box for box in boxes)
    assert any("cat/caf\\xe9.jpg: file not found" in box for box in boxes)
    assert any("notes: is a folder" in box for box in boxes)


def test_no_network_resources(image_root: Path) -> None:
    page = render_html(make_report(), image_root=image_root)
    assert "http://" not in page and "https://" not in page and "//" not in re.sub(r"data:[^\"]+", "", page)
    parsed = parse(page)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed"}
    for _, attrs in parsed.tags:
        for name in ("src", "href", "xlink:href", "action"):
            value = attrs.get(name)
            assert value is None or value.startswith(("data:image/jpeg;base64,", "#")), (name, value)
    assert "url(" not in page and "@import" not in page


def test_hostile_labels_and_names_are_escaped(image_root: Path) -> None:
    report = make_report((HOSTILE, QUOTES, "bird & <b>co</b>"))
    report["models"][0]["name"] = HOSTILE
    report["models"][0]["unknown_classes"][0]["name"] = QUOTES
    report["models"][1]["failed"] = [{"file": f"{HOSTILE}.jpg", "error": QUOTES}]
    report["data"]["root"] = f"/data/{HOSTILE}"
    report["comparison"]["note"] = HOSTILE
    page = render_html(report, image_root=image_root)
    assert "<script" not in page.lower()
    assert "<b>co</b>" not in page
    assert esc(HOSTILE) in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;onmouseover=alert(2) x=&quot;" in page
    parsed = parse(page)
    for _, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), attrs
    assert HOSTILE in "".join(parsed.svg_text)  # shown (as text) in the charts' labels and tooltips
    assert QUOTES in "".join(parsed.svg_text)
    assert any(attrs.get("title") == QUOTES for _, attrs in parsed.tags)  # attribute values keep the text


def test_what_ran_is_shown_per_model_as_escaped_text(image_root: Path) -> None:
    report = make_report()
    a, b = report["models"]
    a.update(engine="openvino", device="CPU", precision="bf16", ran_on="OpenVINO CPU, bf16")
    a.update(providers=["OpenVINO CPU"], runtime_precisions=["bf16", "fp32"])
    b.update(engine="onnxruntime", device=HOSTILE, precision="int8", ran_on=f"ONNX Runtime {HOSTILE}, int8")
    page = render_html(report, image_root=image_root)
    assert "<script" not in page.lower()
    text = "".join(parse(page).text)
    assert "Runs on: OpenVINO CPU, bf16 · engine openvino · device CPU · precision bf16" in text
    assert "compute precisions bf16, fp32 · providers OpenVINO CPU" in text
    assert f"Runs on: ONNX Runtime {HOSTILE}, int8" in text and f"device {HOSTILE} · precision int8" in text
    assert "ran on" in text and text.count("OpenVINO CPU, bf16") >= 2  # the accuracy table says it too
    del a["ran_on"]  # a report written before engines were recorded: the provider, as before
    assert "Runs on: CPU" in "".join(parse(render_html(report, image_root=image_root)).text)


def large_report(n: int = 100) -> dict[str, Any]:
    """n classes where the first 40 are always right and the others are confused with their neighbour
    (class-099 with class-040)."""
    names = [f"class-{i:03d}" for i in range(n)]
    true = [i for i in range(n) for _ in range(3)]
    top1 = [i if i < 40 or k < 2 else 40 + (i - 39) % (n - 40) for i in range(n) for k in range(3)]
    ranked = [[p, *[(p + j) % n for j in range(1, 5)]] for p in top1]
    report = make_report()
    report["models"] = [model("big", metrics_json(names, list(range(n)), true, ranked), [])]
    report.pop("comparison")
    return report


def test_large_matrix_is_bounded_and_says_so(image_root: Path) -> None:
    page = render_html(large_report(), image_root=image_root)
    parsed = parse(page)
    text = "".join(parsed.text)
    assert "Showing 60 of 100 classes" in text and "40 classes left out" in text
    svg = re.findall(r'<svg class="chart heatmap".*?</svg>', page)[0]
    assert svg.count("<rect") <= 60 * 61 + 1
    shown = Page()
    shown.feed(svg)
    svg_text = "".join(shown.svg_text)
    assert "class-099" in svg_text and "class-000" not in svg_text  # those without mistakes are left out
    assert page.index("Most confused pairs") < page.index('<svg class="chart heatmap"')
    assert "<details><summary><b>Per-class scores</b> (100 classes)" in page  # folded
    assert "No wrong top-1 answer" in text  # the hand-made model lists no worst mistakes


def test_confusion_svg_limit_and_scale() -> None:
    matrix = [[5 if r == c else 0 for c in range(9)] for r in range(8)]
    matrix[7][6] = 2
    svg, left_out = confusion_svg(
        [f"c{i}" for i in range(8)], [*(f"c{i}" for i in range(8)), "(other)"], matrix, limit=2
    )
    assert left_out == [f"c{i}" for i in range(6)]
    assert "c7 \u2192 predicted c6: 2 of 7" in svg and "c0" not in svg
    assert colour(0.0) == "#f7fbff" and colour(1.0) == "#08306b" and colour(2.0) == "#08306b"
    assert fmt_pct(None) == DASH and fmt_pct(float("nan")) == DASH and fmt_pct(0.5) == f"50.0{PCT}"
    assert fmt_number(1234567) == "1,234,567" and fmt_number("x") == DASH
    assert esc('a<b>"\x00') == "a&lt;b&gt;&quot;\\x00"


def test_empty_report_still_renders(tmp_path: Path) -> None:
    report: dict[str, Any] = {"schema": 1, "created": None, "data": {}, "versions": {}, "hardware": {}, "models": []}
    text = "".join(parse(render_html(report, image_root=tmp_path)).text)
    assert "No model was evaluated." in text


def test_the_accuracy_vs_latency_chart_marks_the_pareto_front(image_root: Path) -> None:
    report = make_report()
    report["models"][1]["median_latency_ms"] = 1.5  # tiny-b: faster, less accurate: both on the front
    report["models"].append(model(f"slow {HOSTILE}", report["models"][1]["metrics"], [], median_latency_ms=9.0))
    report["models"].append(model("no-latency", report["models"][1]["metrics"], [], median_latency_ms=None))
    page = render_html(report, image_root=image_root)
    parsed = parse(page)
    (chart,) = re.findall(r'<svg class="chart tradeoff".*?</svg>', page)
    assert "Accuracy vs latency" in "".join(parsed.text)
    titles = re.findall(r"<title>(.*?)</title>", chart)
    assert [t.split(":")[0] for t in titles] == ["resnet-a", "tiny-b", f"slow {esc(HOSTILE)}"]
    assert "(Pareto front)" in titles[0] and "(Pareto front)" in titles[1] and "Pareto" not in titles[2]
    assert HOSTILE not in page and esc(HOSTILE) in chart
    assert "no-latency" in chart and "not drawn" in chart  # named, not placed
    assert chart.count("<polyline") == 1
    assert "median latency, batch 1 (ms)" in chart and "top-1 accuracy (%)" in chart


def test_tradeoff_svg_log_scale_and_nothing_to_draw() -> None:
    wide = tradeoff_svg(["fast", "slow"], [0.5, 80.0], [0.5, 0.9])
    assert "log scale" in wide
    assert "log scale" not in tradeoff_svg(["a", "b"], [2.0, 3.0], [0.5, 0.9])
    assert tradeoff_svg(["a"], [None], [0.5]) == ""
