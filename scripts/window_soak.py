"""Soak the real window: thousands of small real images dropped as one folder, all classified, then a clean quit.

The parent makes N small images from the shared photos (``tests/data/chelsea.png``, ``coffee.png``:
crops at 24-96 px, PNG and JPEG, every one different) and a small classifier with workbench metadata
(unless ``--models-dir`` names real models), then starts the app in a child process exactly as
``python -m desktop_app --models-dir DIR`` starts it. Inside the running app the child waits for the
model, drops the folder on the window through real drag-enter and drop events, waits until every row
has its result, checks the rows and closes the window. The parent waits for the child with
``os.wait4`` and prints how many images were classified, the times, the child's peak RSS and its exit
status (PySide6 6.12.0 on CPython 3.11 aborted here: SIGABRT, "exit 134", ``bool_dealloc``).
Exits 0 only when every image was classified and the app exited 0. With ``--quit-after K`` the child
closes the window once K images have their result, while the rest are still being classified (a
user quitting mid-folder); it then passes when at least K were classified and the app exited 0.
User settings are never touched.

Example::

    python scripts/window_soak.py --images 5000
    python scripts/window_soak.py --images 600 --quit-after 200
    python scripts/window_soak.py --images 5000 --models-dir ~/.local/share/cnn-workbench/models
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = (REPO / "tests" / "data" / "chelsea.png", REPO / "tests" / "data" / "coffee.png")
CLASSES = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="how many image files to drop (default 5000)")
    parser.add_argument("--models-dir", help="models folder to use (default: a small model made for the run)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds the child may take in all")
    parser.add_argument(
        "--quit-after", type=int, default=0, metavar="K", help="close the window once K images are classified"
    )
    parser.add_argument("--child", nargs=3, metavar=("MODELS", "FOLDER", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error("--images must be at least 1")
    if not 0 <= args.quit_after <= args.images:
        parser.error("--quit-after must be between 0 and --images")
    return args


# ---- the parent ----------------------------------------------------------------------------------------------------
def make_images(folder: Path, count: int) -> list[Path]:
    """``count`` different small crops of the two photos, alternately PNG and JPEG."""
    from PIL import Image, ImageEnhance

    bases = [Image.open(p).convert("RGB") for p in PHOTOS]
    paths = []
    for i in range(count):
        base = bases[i % len(bases)]
        side = 24 + (i * 7) % 73  # 24..96 px
        box_w, box_h = base.width // 2, base.height // 2
        x, y = (i * 37) % (base.width - box_w), (i * 53) % (base.height - box_h)
        tile = base.crop((x, y, x + box_w, y + box_h)).resize((side, max(8, side * 3 // 4)), Image.BILINEAR)
        tile = ImageEnhance.Brightness(tile).enhance(0.8 + 0.4 * ((i * 11) % 97) / 96)
        path = folder / f"img_{i:05d}.{'png' if i % 2 == 0 else 'jpg'}"
        if path.suffix == ".jpg":
            tile.save(path, quality=90)
        else:
            tile.save(path)
        paths.append(path)
    return paths


def make_model(folder: Path) -> Path:
    """A small real CNN (conv, relu, global pool, linear) with workbench metadata, random weights."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from workbench.contract import ModelCard
    from workbench.preprocess import Preprocess

    rng = np.random.default_rng(0)
    size, channels = 32, 8
    inits = [
        numpy_helper.from_array((rng.standard_normal((channels, 3, 3, 3)) * 0.3).astype(np.float32), "conv.weight"),
        numpy_helper.from_array(np.zeros(channels, np.float32), "conv.bias"),
        numpy_helper.from_array(rng.standard_normal((CLASSES, channels)).astype(np.float32), "fc.weight"),
        numpy_helper.from_array(rng.standard_normal(CLASSES).astype(np.float32), "fc.bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv", pads=[1] * 4),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["p"], ["f"], name="/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "soaknet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="window_soak")
    model.ir_version = 8
    card = ModelCard(
        architecture="soaknet",
        label_set="soak-10",
        labels=tuple(f"class {i}" for i in range(CLASSES)),
        preprocess=Preprocess(resize=36, crop=(size, size)),
        weights={"source": "random", "trained": False},
    )
    for key, value in card.to_metadata().items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    path = folder / "soaknet-soak10-random-fp32.onnx"
    onnx.save(model, str(path))
    return path


def run_child(
    models: Path, folder: Path, work: Path, timeout_s: float, quit_after: int = 0
) -> tuple[int, int, float, dict]:
    """Start the app in a child; returns (wait status, peak RSS in KiB, seconds, the child's report)."""
    result = work / "result.json"
    env = {**os.environ, "CNN_WORKBENCH_SETTINGS": str(work / "settings.ini"), "PYTHONPATH": str(REPO)}
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(models), str(folder), str(result)]
    command += ["--quit-after", str(quit_after)]
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, cwd=work)
    deadline = start + timeout_s
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            child.kill()
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.2)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    seconds = time.perf_counter() - start
    report = json.loads(result.read_text(encoding="utf-8")) if result.is_file() else {}
    return status, usage.ru_maxrss, seconds, report


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return f"killed by {signal.Signals(number).name} (shell exit status {128 + number})"
    return f"exit status {os.WEXITSTATUS(status)}"


def parent(args: argparse.Namespace) -> int:
    import PySide6

    with tempfile.TemporaryDirectory(prefix="window-soak-") as tmp:
        work = Path(tmp)
        folder = work / "images"
        folder.mkdir()
        start = time.perf_counter()
        make_images(folder, args.images)
        made = time.perf_counter() - start
        if args.models_dir:
            models = Path(args.models_dir).expanduser()
        else:
            models = work / "models"
            models.mkdir()
            make_model(models)
        print(
            f"window soak: Python {platform.python_version()}, PySide6 {PySide6.__version__}; "
            f"{args.images} images made in {made:.1f} s; models: {models}",
            flush=True,
        )
        status, rss_kib, seconds, report = run_child(models, folder, work, args.timeout, args.quit_after)
    classified, errors = report.get("classified", 0), report.get("errors", [])
    print(f"model: {report.get('model', '?')}")
    print(f"classified: {classified} of {args.images} ({len(errors)} errors{': ' + errors[0] if errors else ''})")
    print(
        f"time: drop to last result {report.get('drop_to_done_s', float('nan')):.1f} s, "
        f"app start to model loaded {report.get('start_to_loaded_s', float('nan')):.1f} s, "
        f"child process in all {seconds:.1f} s"
    )
    print(f"peak RSS of the app: {rss_kib / 1024:.0f} MiB")
    print(f"app process: {describe_status(status)}")
    if args.quit_after:
        left = report.get("listed", 0) - classified
        print(f"quit after {args.quit_after} results: {left} still to classify when the window closed")
    wanted = classified >= args.quit_after if args.quit_after else classified == args.images
    ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and wanted and not errors
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


# ---- the child: the app itself ---------------------------------------------------------------------------------------
def child(models: str, folder: str, result_file: str, quit_after: int = 0) -> int:
    """Run ``python -m desktop_app --models-dir MODELS`` and drive it from inside its own event loop."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.__main__ import main as app_main

    started = time.perf_counter()
    report: dict = {}
    _app = QApplication([sys.argv[0]])  # app_main reuses it; the timer below needs it to exist first
    QTimer.singleShot(0, lambda: _drive(Path(folder), Path(result_file), report, started, quit_after))
    code = app_main(["--models-dir", models])
    report["app_exit_code"] = code
    Path(result_file).write_text(json.dumps(report), encoding="utf-8")
    return code


def _drive(folder: Path, result_file: Path, report: dict, started: float, quit_after: int = 0) -> None:
    """Wait for the model, drop ``folder``, wait for every result (or ``quit_after`` of them), write the
    report, close the window."""
    import PySide6
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from desktop_app.view.main_window import MainWindow

    (window,) = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    timer = QTimer(window, singleShot=True)

    def give_up(reason: str) -> None:
        report["errors"] = [*report.get("errors", []), reason]
        window.close()

    def drop() -> None:
        report["dropped"] = True
        report["start_to_loaded_s"] = time.perf_counter() - started
        report["model"] = window.loaded.model.entry.name
        if quit_after:
            counted = [0]

            def one_more(_key: int) -> None:
                counted[0] += 1
                if counted[0] == quit_after:
                    finished()

            window.imageClassified.connect(one_more)
        else:
            window.batchFinished.connect(finished)
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(folder))])
        pos = QPoint(window.width() // 2, window.height() // 2)
        buttons, keys, copy = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, Qt.DropAction.CopyAction
        report["dropped_at"] = time.perf_counter()
        # PySide6 6.12 takes a QPointF here (its QPoint form is deprecated), 6.11 only a QPoint
        point = QPointF(pos) if PySide6.__version_info__ >= (6, 12) else pos
        enter = QDragEnterEvent(point, copy, mime, buttons, keys)
        QApplication.sendEvent(window, enter)
        if not enter.isAccepted():
            give_up("the window refused the drag")
            return
        QApplication.sendEvent(window, QDropEvent(QPointF(pos), copy, mime, buttons, keys))

    def finished() -> None:
        records = list(window.image_list.records.values())
        report["drop_to_done_s"] = time.perf_counter() - report.pop("dropped_at")
        report["listed"] = len(records)
        report["classified"] = sum(1 for r in records if r.scores and r.error is None)
        report["errors"] = [r.error for r in records if r.error][:20]
        result_file.write_text(json.dumps(report), encoding="utf-8")  # kept even if the exit then aborts
        timer.stop()
        QTimer.singleShot(0, window.close)  # quit as a user would: the window's close, then app.exec returns

    window.modelFailed.connect(lambda message: give_up(f"the model did not load: {message}"))
    timer.timeout.connect(lambda: give_up("timed out waiting for the results"))
    timer.start(900_000)
    if window.loaded is not None:
        drop()
    else:
        window.modelLoaded.connect(lambda _loaded: None if report.get("dropped") else drop())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(*args.child, args.quit_after)
    sys.path.insert(0, str(REPO))
    return parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
