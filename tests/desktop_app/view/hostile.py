"""Helpers for the view's hostile-markup tests: files whose texts reference an image, and what the window shows.

``hostile_files`` writes models and an image whose labels and file names hold HTML with ``<img src=...>``;
``show_every_tooltip`` and ``visit_every_tab`` make Qt lay out and draw everything the window has;
``green_pixels`` counts the pixels of the referenced (pure green) image in a grab.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_hostile.py -q
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QToolTip, QWidget

from desktop_app.view.main_window import MainWindow
from tests.desktop_app.view.helpers import CLASSES, build_model
from tests.helpers import DATA

GREEN = (0, 255, 0)


def hostile_files(root: Path, src: str, name_src: str) -> tuple[Path, Path]:
    """Models and an image whose texts reference an image: labels ``src``, file names ``name_src``.

    A file name cannot hold a slash, so ``name_src`` is relative (looked up in the cwd).
    Returns (models folder, image file).
    """
    models, images = root / "models", root / "images"
    models.mkdir(parents=True)
    images.mkdir()
    labels = tuple(f'<b>bold {i}</b><img src="{src}" width="60" height="60">' for i in range(CLASSES))
    build_model(models / "hostile.onnx", architecture="<b>bold</b> net", labels=labels, trained=True)
    build_model(models / f"<b>foreign<img src={name_src}>.onnx", card=False, seed=3)
    (models / f"<i>broken<img src={name_src}>.onnx").write_text("not an onnx file")
    image = images / f"<b>cat<img src={name_src} width=60 height=60>.png"
    shutil.copy(DATA / "chelsea.png", image)
    return models, image


def green_image(path: Path) -> Path:
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(QColor(*GREEN))
    assert image.save(str(path))
    return path


def every_tooltip(window: MainWindow) -> list[tuple[QWidget, str]]:
    """(widget, tooltip) of every widget and of every item of the window's lists, combos and tables."""
    tips = [(w, w.toolTip()) for w in window.findChildren(QWidget) if w.toolTip()]
    for view in window.findChildren(QAbstractItemView):
        model = view.model()
        for row in range(model.rowCount(QModelIndex())):
            column = 0
            while (index := model.index(row, column)).isValid():  # list models keep columnCount private
                if tip := index.data(Qt.ItemDataRole.ToolTipRole):
                    tips.append((view, str(tip)))
                column += 1
    for combo in window.findChildren(QComboBox):
        tips += [(combo, str(t)) for i in range(combo.count()) if (t := combo.itemData(i, Qt.ItemDataRole.ToolTipRole))]
    return tips


def show_every_tooltip(window: MainWindow) -> int:
    """Let Qt lay out each tooltip as it would on hover (a rich one would load its images here)."""
    tips = every_tooltip(window)
    for widget, tip in tips:
        QToolTip.showText(widget.mapToGlobal(QPoint(2, 2)), tip, widget)
    QToolTip.hideText()
    return len(tips)


def visit_every_tab(window: MainWindow) -> list[QImage]:
    """Grab the window on each tab and with the model dropdown's popup open."""
    shots = []
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        shots.append(window.grab().toImage())
    window.model_combo.showPopup()
    shots.append(window.model_combo.view().window().grab().toImage())
    window.model_combo.hidePopup()
    window.tabs.setCurrentIndex(0)
    return shots


def green_pixels(image: QImage) -> int:
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    data = bytes(rgb.constBits())
    stride, width = rgb.bytesPerLine(), rgb.width()
    rows = (data[y * stride : y * stride + 3 * width] for y in range(rgb.height()))
    return sum(row.count(bytes(GREEN)) for row in rows)  # exact RGB triples (no theme colour is pure green)
