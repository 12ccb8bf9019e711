"""The "Model info" tab: what the ONNX file says about itself, plus the golden self-test result.

Besides the card it shows the input shape, the parameters (counted from the file's weight initializers),
the GMACs when the card records them (``provenance.gmacs``; else "unknown") and the file size.

The summary is our own HTML; every value in it comes from the file and is escaped
(:func:`~desktop_app.view.text.rich`), so a label or name holding markup is shown, never rendered.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.model_info import ModelInfoPanel, ModelInfo; app = QApplication([]); \\
p = ModelInfoPanel(); p.show_info(ModelInfo(title='demo', path='demo.onnx')); print(p.text())"
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from desktop_app.view.text import PlainLabel, rich, shown

WARN = "#c62828"
OK = "#2e7d32"


@dataclass(frozen=True)
class ModelInfo:
    """Everything the panel shows; built by :mod:`desktop_app.view.backend` from core objects."""

    title: str
    path: str
    architecture: str = ""
    labels: Sequence[str] = ()
    label_set: str = ""
    preprocess: Mapping[str, Any] = field(default_factory=dict)
    weights: Mapping[str, Any] = field(default_factory=dict)
    trained: bool | None = None
    precision: str = ""
    training: Mapping[str, Any] | None = None
    quantization: Mapping[str, Any] | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    notices: Sequence[str] = ()
    error: str | None = None
    golden: str = "not run yet"
    golden_ok: bool | None = None
    load: str = ""
    input_shape: str = ""  # e.g. "1 x 3 x 224 x 224 (NCHW, float32; any batch size)"
    parameters: int | None = None  # weight values in the file's initializers
    gmacs: float | None = None  # multiply-accumulates per image in billions, when the file records them
    file_bytes: int | None = None


class ModelInfoPanel(QWidget):
    """An HTML summary beside the full label list."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.labels_title = PlainLabel("Labels")
        self.label_list = QListWidget()
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.labels_title)
        side_layout.addWidget(self.label_list)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.browser)
        splitter.addWidget(side)
        splitter.setSizes([640, 260])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.show_info(None)

    def show_info(self, info: ModelInfo | None) -> None:
        self.label_list.clear()
        if info is None:
            self.browser.setHtml("<p>No model loaded.</p>")
            self.labels_title.setText("Labels")
            return
        self.label_list.addItems([f"{i}: {shown(name)}" for i, name in enumerate(info.labels)])
        self.labels_title.setText(f"Labels ({len(info.labels)})")
        self.browser.setHtml(render_html(info))

    def text(self) -> str:
        return self.browser.toPlainText()


def render_html(info: ModelInfo) -> str:
    """The summary as simple HTML (QTextBrowser's subset)."""
    esc = rich
    parts = [f"<h3>{esc(info.title)}</h3>", f"<p><small>{esc(info.path)}</small></p>"]
    if info.error:
        parts.append(f'<p style="color:{WARN}"><b>Unavailable:</b> {esc(info.error)}</p>')
    if info.trained is False:
        parts.append(
            f'<p style="color:{WARN}"><b>UNTRAINED:</b> random weights; predictions are meaningless '
            "(useful for timing and pipeline checks only).</p>"
        )
    for notice in info.notices:
        parts.append(f'<p style="color:#ef6c00"><b>Notice:</b> {esc(notice)}</p>')
    golden_color = OK if info.golden_ok else (WARN if info.golden_ok is False else "#616161")
    rows = [
        ("Architecture", esc(info.architecture or "unknown")),
        ("Input", esc(info.input_shape or "—")),
        ("Parameters", esc(parameters_text(info.parameters))),
        (
            "GMACs",
            esc(f"{info.gmacs:.2f} per image" if info.gmacs is not None else "unknown (not recorded in the file)"),
        ),
        ("File size", esc(size_text(info.file_bytes))),
        ("Labels", esc(f"{len(info.labels)} ({info.label_set})" if info.label_set else str(len(info.labels)))),
        ("Precision", esc(info.precision or "?")),
        ("Weights", _mapping(info.weights)),
        ("Preprocessing", _mapping(info.preprocess)),
        ("Training", _mapping(info.training) if info.training else "—"),
        ("Quantization", _quantization(info.quantization) if info.quantization else "—"),
        ("Provenance", _mapping(info.provenance) if info.provenance else "—"),
        ("Golden self-test", f'<span style="color:{golden_color}">{esc(info.golden)}</span>'),
        ("Session", esc(info.load or "—")),
    ]
    table = "".join(f'<tr><td valign="top"><b>{k}</b></td><td>{v}</td></tr>' for k, v in rows)
    parts.append(f'<table cellspacing="2" cellpadding="3">{table}</table>')
    return "".join(parts)


def parameters_text(count: int | None) -> str:
    """``11.7 M (11,689,512, counted from the file's weights)``; ``unknown`` when not counted."""
    if count is None:
        return "unknown"
    short = f"{count / 1e6:.1f} M" if count >= 100_000 else f"{count / 1e3:.1f} k" if count >= 1000 else str(count)
    return (
        f"{short} ({count:,}, counted from the file's weights)"
        if count >= 1000
        else f"{short} (from the file's weights)"
    )


def size_text(size: int | None) -> str:
    """``44.7 MB (46,827,520 bytes)``."""
    if size is None:
        return "unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit} ({size:,} bytes)"
    return f"{size} bytes"


def _rounded(value: Any) -> Any:
    """Floats to 6 significant digits (0.4980392156862745 -> 0.498039), recursively."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _quantization(value: Mapping[str, Any]) -> str:
    """The export's own sentence first, the layers kept in fp32 by module, then the other facts."""
    rest = dict(value)
    lines = [rich(str(rest.pop("summary")))] if isinstance(rest.get("summary"), str) else []
    kept = rest.pop("fp32_fallback", None)
    if isinstance(kept, list) and kept:
        names = [_kept_name(k) for k in kept if isinstance(k, dict)]
        lines.append(f"kept in fp32: {rich('; '.join(names))}")
    return "<br>".join([*lines, _mapping(rest)])


def _kept_name(layer: Mapping[str, Any]) -> str:
    """One fp32 fallback by its PyTorch modules (files from before the module names: its ONNX node)."""
    modules = layer.get("modules")
    if isinstance(modules, list) and modules:
        return ", ".join(str(m) for m in modules)
    return str(layer.get("module") or layer.get("node") or "?")


def _mapping(value: Mapping[str, Any] | None) -> str:
    if not value:
        return "—"
    items = []
    for key, item in value.items():
        text = item if isinstance(item, str) else json.dumps(_rounded(item))
        items.append(f"{rich(key)}: {rich(text)}")
    return "<br>".join(items)
