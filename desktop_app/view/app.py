"""Entry point of the desktop app: parse arguments, create the QApplication, show the main window.

Example::

    python -m desktop_app --models-dir ~/my-models
    CNN_WORKBENCH_SETTINGS=/tmp/wb.ini python -m desktop_app photo.jpg holiday/
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from desktop_app.view.settings import APPLICATION, DISPLAY_NAME, ORGANISATION
from workbench.paths import ENV_VAR


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m desktop_app",
        description="Classify photos with self-describing ONNX models and profile them layer by layer.",
    )
    parser.add_argument("--models-dir", help=f"folder of .onnx models (default: ${ENV_VAR} or the per-user folder)")
    parser.add_argument("images", nargs="*", help="image files or folders to classify right away")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the GUI until its window closes; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = _application()
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(DISPLAY_NAME)
    app.setStyle("Fusion")
    from desktop_app.view.main_window import MainWindow  # after QApplication exists

    window = MainWindow(models_dir=args.models_dir)
    window.show()
    _close_on_ctrl_c(window)
    if args.images:
        window.add_paths(args.images)
    return int(app.exec())


def _application() -> QApplication:
    """The running QApplication (e.g. a test's), else a new one."""
    existing = QApplication.instance()
    if existing is None:
        return QApplication([sys.argv[0] if sys.argv else "cnn-workbench"])
    if not isinstance(existing, QApplication):
        raise RuntimeError(f"the window needs a QApplication, but a {type(existing).__name__} is already running")
    return existing


def _close_on_ctrl_c(window: QWidget) -> None:
    """Ctrl+C in the terminal closes the window properly (settings saved, workers joined)."""
    signal.signal(signal.SIGINT, lambda *_: window.close())
    timer = QTimer(window, interval=250)  # lets the Python interpreter run its signal handlers
    timer.timeout.connect(lambda: None)
    timer.start()


if __name__ == "__main__":
    raise SystemExit(main())
