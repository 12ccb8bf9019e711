"""Measure drop-to-top-5 in the real window: a 12-megapixel JPEG dropped on an already-loaded model.

Makes 4000x3000 JPEGs from the shared cat photo (each slightly different, so no cache helps),
opens the window on the models folder, waits for the model, drops one photo as a warm-up, then
drops each photo through real drag-and-drop events and times until its top-5 rows are on screen.
Prints every time and the median; a measurement script, not a test.

Example::

    python scripts/measure_drop_latency.py --models-dir ~/.local/share/cnn-workbench/models --drops 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import PySide6  # noqa: E402
from PIL import Image, ImageEnhance  # noqa: E402
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from screenshot import wait_for  # noqa: E402

from desktop_app.view.main_window import MainWindow  # noqa: E402
from desktop_app.view.settings import AppSettings  # noqa: E402


def make_photos(folder: Path, count: int) -> list[Path]:
    base = Image.open(REPO / "tests" / "data" / "chelsea.png").convert("RGB").resize((4000, 3000), Image.BICUBIC)
    paths = []
    for i in range(count):
        path = folder / f"cat_12mp_{i}.jpg"
        ImageEnhance.Brightness(base).enhance(0.9 + 0.02 * i).save(path, quality=92)
        paths.append(path)
    return paths


def drop(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    point = QPoint(window.width() // 2, window.height() // 2)
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    # PySide6 6.11's QDragEnterEvent takes a QPoint only; 6.12 deprecates that form for QPointF.
    enter_pos = QPointF(point) if PySide6.__version_info__ >= (6, 12) else point
    QApplication.sendEvent(window, QDragEnterEvent(enter_pos, Qt.DropAction.CopyAction, mime, buttons, modifiers))
    QApplication.sendEvent(window, QDropEvent(QPointF(point), Qt.DropAction.CopyAction, mime, buttons, modifiers))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", help="models folder (default: the app's)")
    parser.add_argument("--drops", type=int, default=8, help="timed drops")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication(["measure"])
    with tempfile.TemporaryDirectory(prefix="drop-latency-") as tmp:
        photos = make_photos(Path(tmp), args.drops + 1)
        settings = AppSettings(QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        settings.provider = "cpu"
        window = MainWindow(models_dir=args.models_dir, settings=settings)
        window.resize(1280, 800)
        window.show()
        wait_for(window.modelsScanned, 120, "listing the models folder")
        wait_for(window.modelLoaded, 300, "loading the model", window.modelFailed)
        print(f"model: {window.current_entry().name}; photo: 4000x3000 JPEG ({photos[0].stat().st_size // 1024} KiB)")
        times = []
        for i, photo in enumerate(photos):
            start = time.perf_counter()
            drop(window, photo)
            wait_for(window.batchFinished, 60, "the classification")
            app.processEvents()
            elapsed = time.perf_counter() - start
            rows = window.result_panel.rows()
            if len(rows) != 5:
                raise SystemExit(f"expected 5 rows on screen, got {rows}")
            label = "warm-up" if i == 0 else f"drop {i}"
            print(f"{label:8s} {elapsed * 1000:7.1f} ms  top-1: {rows[0][0]} {rows[0][1]}")
            if i:
                times.append(elapsed)
        window.shutdown()
    print(
        f"median drop-to-top-5: {statistics.median(times) * 1000:.0f} ms over {len(times)} drops "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); load average {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
