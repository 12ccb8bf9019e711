"""The window's folder rate vs headless ``evaluate`` on the same folder and model, in one run (bound: >= 90%).

Generates (once) real-sized JPEGs from the real photos (``scripts/bench_folder.py``'s folder), then
alternates, ``--rounds`` times:

* ``evaluate``: :func:`desktop_app.core.evaluate.evaluate_model`, what ``python -m desktop_app evaluate``
  runs (the images as one labelled class; accuracy is not the point): the images/s it reports, first
  image to last (model load, the latency runs and the metrics excluded);
* ``window``: the real app in a child process (``scripts/window_soak.py``: ``python -m desktop_app`` with a
  models folder holding only this model), the folder dropped through real drag and drop events, timed
  from the drop to the last row's result (folder search, thumbnails and previews included).

Prints both rates per round, the medians and their ratio (window / evaluate), with the CPU it ran on.

Example::

    python scripts/bench_window_folder.py --model-file ~/models/efficientnet_lite0-imagenet-1k-imagenet-fp32.onnx
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path[:0] = [str(SCRIPTS.parent), str(SCRIPTS)]

from bench_folder import make_folder  # noqa: E402
from window_soak import describe_status, run_child  # noqa: E402

from desktop_app.core.catalog import inspect_model  # noqa: E402
from desktop_app.core.evaluate import evaluate_model  # noqa: E402
from desktop_app.core.labelled import LabelledImage, LabelledSet  # noqa: E402
from desktop_app.core.runtime import load_model  # noqa: E402
from workbench.cpu import cpu_info  # noqa: E402


def evaluate_rate(model_file: Path, paths: list[Path]) -> float:
    """The images/s that ``evaluate`` reports (its pipeline, first image to last) on ``paths`` as one class."""
    loaded = load_model(inspect_model(model_file), "cpu")
    items = tuple(LabelledImage(path, "tabby") for path in paths)
    labelled = LabelledSet(root=paths[0].parent, layout="csv", split=None, items=items, classes=("tabby",))
    evaluation = evaluate_model(loaded, labelled)
    if evaluation.failures or evaluation.images_per_second is None:
        raise SystemExit(f"evaluation failed: {evaluation.failures[:3]}")
    return evaluation.images_per_second


def window_rate(model_file: Path, folder: Path, count: int, timeout_s: float) -> float:
    """Images/s of the real window on ``folder``, drop to last result."""
    with tempfile.TemporaryDirectory(prefix="bench-window-") as tmp:
        work = Path(tmp)
        models = work / "models"
        models.mkdir()
        shutil.copy(model_file, models / model_file.name)
        status, _rss, _seconds, report = run_child(models, folder, work, timeout_s)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or report.get("classified") != count:
        raise SystemExit(f"the window run failed: {describe_status(status)}, report {report}")
    return count / float(report["drop_to_done_s"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model-file", required=True, type=Path, help="the .onnx file both sides run")
    parser.add_argument("--count", type=int, default=300, help="photos in the folder (default 300)")
    parser.add_argument("--folder", default="/tmp/cnn-workbench-photos", help="where the JPEGs are generated")
    parser.add_argument("--rounds", type=int, default=2, help="evaluate/window pairs to run (default 2)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one window run may take")
    args = parser.parse_args(argv)
    model_file = args.model_file.expanduser().resolve()
    if not model_file.is_file():
        parser.error(f"--model-file {model_file}: no such file")
    paths = make_folder(Path(args.folder), args.count)
    # the window searches the folder: give it exactly these files, in a folder of their own
    folder = Path(args.folder) / f"window-{args.count}"
    folder.mkdir(exist_ok=True)
    for path in paths:
        link = folder / path.name
        if not link.exists():
            os.link(path, link)
    print(f"{len(paths)} JPEGs in {folder}; model {model_file.name}; CPU {cpu_info()[0]}, {os.cpu_count()} cores")
    headless, window = [], []
    for round_ in range(1, args.rounds + 1):
        headless.append(evaluate_rate(model_file, paths))
        window.append(window_rate(model_file, folder, len(paths), args.timeout))
        print(f"round {round_}: evaluate {headless[-1]:6.1f} img/s   window {window[-1]:6.1f} img/s", flush=True)
    evaluate_median, window_median = statistics.median(headless), statistics.median(window)
    ratio = window_median / evaluate_median
    print(f"median: evaluate {evaluate_median:.1f} img/s, window {window_median:.1f} img/s", end=", ")
    print(f"window/evaluate {ratio:.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
