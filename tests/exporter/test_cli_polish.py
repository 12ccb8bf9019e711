"""What a new user trips over on the exporter's command line (issue 18): typos, --version, names, defaults.

Through real subprocesses: an unknown model is the first and only complaint (exit 2, a suggestion), both
ways of starting the exporter answer ``--version`` and show their own name, ``--weights`` has one default
in export/train/bench and ``train`` checks its data folder first.

Run: ``pytest tests/exporter/test_cli_polish.py -q -n 0``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from exporter.cli import build_parser
from exporter.cliutil import prog_name
from exporter.train.cli import plan_from_args
from tests.exporter.helpers import run_cli
from tests.helpers import REPO
from workbench.version import package_version

SCRIPT = Path(sys.executable).parent / "cnn-export"
TRAIN_DEFAULTS = (
    "--epochs N passes over the training split (default: 10)",
    "(default: 64)",
    "(default: sgd)",
    "(default: 5e-05)",
    "(default: 0.9)",
    "(default: 0.1)",
    "(default: 2)",
    "(default: 0.08)",
    "augmentation (default: 0)",
    "(default: sgd 0.05, adamw 0.001)",
    "(default: runs/<data>-<model>)",
    "DIR/<class>/<image files>",
)


def _error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stderr.splitlines() if "error:" in line]


@pytest.mark.parametrize(
    "args",
    [
        ("export", "--model", "resnet5"),  # no --weights/--out: the name is still the first complaint
        ("bench", "--model", "resnet5", "--batches", "x"),
        ("train", "--model", "resnet5", "--data", "/no/such/folder"),
    ],
    ids=["export", "bench", "train"],
)
def test_unknown_model_is_one_error_line_with_a_suggestion(args: tuple[str, ...], tmp_path: Path) -> None:
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert _error_lines(proc) == [
        f"python -m exporter {args[0]}: error: unknown model 'resnet5'; did you mean resnet50?"
    ]
    assert not any(tmp_path.iterdir())  # no run folder, no JSON record


def test_registry_suggests_the_closest_name() -> None:
    from models.registry import UnknownModelError, check_model_name, close_names

    assert check_model_name("resnet50") == "resnet50"
    assert close_names("Densenet12") == ["densenet121"]
    with pytest.raises(UnknownModelError, match="did you mean vgg16_bn"):
        check_model_name("vgg16bn")
    with pytest.raises(KeyError, match="valid names: densenet121"):
        check_model_name("alexnet")


def test_version_from_the_package() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'\nversion = "{package_version()}"\n' in pyproject
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"python -m exporter {package_version()}"


@pytest.mark.skipif(not SCRIPT.is_file(), reason="the console script is not installed (pip install -e .)")
def test_console_script_names_itself() -> None:
    version = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert version.returncode == 0 and version.stdout.strip() == f"cnn-export {package_version()}"
    helped = subprocess.run([str(SCRIPT), "bench", "--help"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: cnn-export bench ")
    assert "python -m exporter" not in helped.stdout


def test_prog_name_follows_how_it_was_started() -> None:
    assert prog_name("/venv/bin/cnn-export") == "cnn-export"
    assert prog_name("/repo/exporter/__main__.py") == "python -m exporter"
    assert prog_name("-c") == "python -m exporter"


def _subcommand_help(command: str) -> str:
    parser = build_parser("cnn-export")
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return " ".join(actions[0].choices[command].format_help().split())


@pytest.mark.parametrize("command", ["export", "train", "bench"])
def test_one_weights_story_said_in_help(command: str) -> None:
    model = ["--model", "resnet18"] if command != "train" else ["--model", "resnet18", "--data", "d"]
    assert build_parser("cnn-export").parse_args([command, *model]).weights == "imagenet"
    text = _subcommand_help(command)
    assert "--weights SOURCE" in text and "official weights" in text and "(default: imagenet)" in text


def test_train_help_shows_every_default() -> None:
    text = _subcommand_help("train")
    for shown in TRAIN_DEFAULTS:
        assert shown in text, shown


def _image_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 3) -> Path:
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (12, 12), (40 * index, 10 * i, 90)).save(root / name / f"{i}.png")
    return root


def test_train_checks_the_data_folder_first(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.png").write_bytes(b"")
    for data, problem in ((tmp_path / "missing", "no such folder"), (flat, "no class subfolders")):
        proc = run_cli("train", "--data", str(data), "--epochs", "0", cwd=tmp_path)  # no --model, bad --epochs
        assert proc.returncode == 2
        (line,) = _error_lines(proc)
        assert line.startswith(f"error: --data: {data}: {problem}")
        assert "expected DIR/<class>/<image files>" in line and "DIR/train|val|test/<class>/<image files>" in line
    assert not (tmp_path / "runs").exists()


def test_train_has_a_default_run_folder(tmp_path: Path) -> None:
    data = _image_folder(tmp_path / "pets")
    args = build_parser().parse_args(["train", "--model", "resnet18", "--data", str(data), "--weights", "random"])
    plan, out, resumed = plan_from_args(args)
    assert out == Path("runs/pets-resnet18") and plan.name == "pets-resnet18" and resumed is None
