"""Take a screenshot of the real workbench window classifying a photo (offscreen unless a display exists).

Loads a model from the models folder (or the given file), classifies a photo, waits for the
result, optionally profiles it and shows another tab, then saves ``QWidget.grab()`` as PNG.
User settings are never touched (a temporary settings file is used).

Example::

    python scripts/screenshot.py --models-dir ~/.local/share/cnn-workbench/models --out docs/screenshot.png
    python scripts/screenshot.py --model model.onnx --tab timing --out /tmp/timing.png
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402 (after the sys.path tweak)
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop_app.view.empty_state import create_command  # noqa: E402
from desktop_app.view.main_window import MainWindow  # noqa: E402
from desktop_app.view.settings import AppSettings  # noqa: E402

TABS = {  # --tab -> the window's panel (tabs are chosen by widget, not by position)
    "prediction": "result_panel",
    "explain": "explain_panel",
    "compare": "compare_panel",
    "timing": "timing_panel",
    "evaluate": "evaluate_panel",
    "inspect": "inspect_panel",
    "info": "info_panel",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", help="models folder (default: the app's models folder)")
    parser.add_argument("--model", help="an .onnx file to use (its folder becomes the models folder)")
    parser.add_argument(
        "--image", action="append", help="photo(s) to classify (default: tests/data/chelsea.png, coffee.png)"
    )
    parser.add_argument("--tab", choices=sorted(TABS), default="prediction", help="tab to show in the screenshot")
    parser.add_argument("--runs", type=int, default=10, help="timed runs when --tab timing")
    parser.add_argument("--depth", type=int, default=2, help="timing depth when --tab timing (0 = single nodes)")
    parser.add_argument("--provider", choices=("auto", "cuda", "cpu"), default="cpu", help="execution provider")
    parser.add_argument("--size", default="1280x800", help="window size WIDTHxHEIGHT")
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshot.png"), help="PNG file to write")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each step")
    return parser.parse_args(argv)


def wait_for(signal: object, timeout_s: float, what: str, failure: object | None = None) -> None:
    """Run the event loop until ``signal`` fires; SystemExit if ``failure`` fires or after ``timeout_s``."""
    loop = QEventLoop()
    fired: list[bool] = []
    failed: list[str] = []
    signal.connect(lambda *_: (fired.append(True), loop.quit()))
    if failure is not None:
        failure.connect(lambda message: (failed.append(str(message)), loop.quit()))
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    if failed:
        raise SystemExit(f"screenshot: {what} failed: {failed[0]}")
    if not fired:
        faulthandler.dump_traceback(all_threads=True)  # where the work is stuck, for the bug report
        raise SystemExit(f"screenshot: timed out after {timeout_s:.0f} s waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.model and not Path(args.model).is_file():
        raise SystemExit(f"screenshot: --model {args.model}: no such file")
    if not os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QApplication.instance() or QApplication(["screenshot"])
    app.setStyle("Fusion")
    folder = Path(args.model).resolve().parent if args.model else args.models_dir
    with tempfile.TemporaryDirectory(prefix="workbench-shot-") as tmp:
        settings = AppSettings(QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        if args.model:
            settings.last_model = Path(args.model).name
        settings.provider = args.provider
        window = MainWindow(models_dir=folder, settings=settings)
        width, height = (int(v) for v in args.size.lower().split("x"))
        window.resize(width, height)
        window.show()
        wait_for(window.modelsScanned, args.timeout, "listing the models folder")
        if window.current_entry() is None:
            raise SystemExit(
                f"screenshot: no usable model in {window.models_dir}; "
                f"create one with: {create_command(window.models_dir)}"
            )
        wait_for(window.modelLoaded, args.timeout, "loading the model", window.modelFailed)
        images = args.image or [str(REPO / "tests" / "data" / name) for name in ("chelsea.png", "coffee.png")]
        window.add_paths(images)
        wait_for(window.batchFinished, args.timeout, "the classification")
        if args.tab == "timing":
            window.timing_panel.runs.setValue(args.runs)
            window.timing.profile(args.runs)
            wait_for(window.timing.profiled, args.timeout, "profiling", window.timing.profileFailed)
            panel = window.timing_panel
            panel.depth_combo.setCurrentIndex(max(0, panel.depth_combo.findData(args.depth)))
        window.tabs.setCurrentWidget(getattr(window, TABS[args.tab]))
        app.processEvents()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            raise SystemExit(f"screenshot: could not write {out}")
        print(f"wrote {out} ({window.model_combo.currentText()}; {window.provider_label.text()})")
        window.close()  # saves to the temporary settings file and joins the workers
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
