"""The ``classify`` override flags (desktop_app.cli_overrides) on a real argparse parser, and remembering per file.

Run: ``pytest tests/desktop_app/test_cli_overrides.py -q -n 0``
"""

from __future__ import annotations

import argparse
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app import cli_log
from desktop_app.cli_engine import FlagError
from desktop_app.cli_overrides import (
    OverrideFlagError,
    add_override_arguments,
    overrides_from_args,
    print_overrides,
    resolve_entry,
)
from desktop_app.core.catalog import ModelEntry, inspect_model
from desktop_app.core.overrides import OverrideStore, PreprocessOverrides, file_sha256
from tests.desktop_app.overrides_helpers import channel_model, labels_file

HALF = (0.5, 0.5, 0.5)


Messages = Callable[[], io.StringIO]


@pytest.fixture
def messages() -> Iterator[Messages]:
    """``messages()``: a fresh stream that the commands' log (notes and warnings) writes to from now on."""

    def fresh() -> io.StringIO:
        stream = io.StringIO()
        cli_log.setup_logging(0, stream)
        return stream

    yield fresh
    logging.getLogger(cli_log.LOGGER).handlers.clear()


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classify", exit_on_error=True)
    parser.add_argument("paths", nargs="*")
    add_override_arguments(parser)
    return parser


@pytest.fixture
def foreign(tmp_path: Path) -> ModelEntry:
    return inspect_model(channel_model(tmp_path / "foreign.onnx"))


@pytest.fixture
def store(tmp_path: Path) -> OverrideStore:
    return OverrideStore(tmp_path / "cfg" / "overrides.json")


def test_flags_become_overrides(parser: argparse.ArgumentParser, tmp_path: Path) -> None:
    args = parser.parse_args(
        ["--resize", "300", "--crop", "256x224", "--interpolation", "bicubic", "--mean", "0.5,0.5,0.5",
         "--std", "0.5 0.5 0.5", "--channel-order", "BGR", "--value-range", "0-255", "--labels", str(tmp_path / "l")]
    )  # fmt: skip
    assert overrides_from_args(args) == PreprocessOverrides(
        size=(256, 224), resize=300, interpolation="bicubic", mean=HALF, std=HALF,
        channel_order="BGR", value_range=(0.0, 255.0), labels_file=tmp_path / "l",
    )  # fmt: skip
    assert overrides_from_args(parser.parse_args([])) is None
    assert overrides_from_args(parser.parse_args(["--crop", "224"])) == PreprocessOverrides(size=(224, 224))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mean", "0.5,0.5"], "argument --mean: expected 3 numbers"),
        (["--crop", "big"], "argument --crop: expected PX or HxW"),
        (["--resize", "0"], "argument --resize: expected a whole number of pixels from 1 to 4096"),
        (["--value-range", "0-2"], "argument --value-range: expected one of 0-1, 0-255"),
        (["--interpolation", "lanczos"], "argument --interpolation: invalid choice"),
        (["--remember-overrides", "--forget-overrides"], "not allowed with argument"),
    ],
)
def test_bad_flags_are_argparse_errors(
    parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_std_zero_names_the_flag(parser: argparse.ArgumentParser) -> None:
    with pytest.raises(OverrideFlagError, match=r"^--std: every value must be > 0"):
        overrides_from_args(parser.parse_args(["--std", "0,1,1"]))
    assert issubclass(OverrideFlagError, FlagError)  # classify reports it as bad usage (exit code 2)


def test_help_lists_every_flag(parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    for flag in ("--resize PX", "--crop PX|HxW", "--mean R,G,B", "--std R,G,B", "--channel-order {RGB,BGR}",
                 "--value-range {0-1,0-255}", "--labels FILE", "--remember-overrides", "--forget-overrides",
                 "--interpolation {nearest,bilinear,bicubic}"):  # fmt: skip
        assert flag in text, flag


def test_remember_then_reuse_then_forget(
    parser: argparse.ArgumentParser, foreign: ModelEntry, store: OverrideStore, tmp_path: Path, messages: Messages
) -> None:
    names = labels_file(tmp_path / "names.txt", ["x", "y", "z"])
    err = messages()
    used = resolve_entry(foreign, parser.parse_args(["--mean", "0.5,0.5,0.5", "--labels", str(names),
                                                     "--remember-overrides"]), store)  # fmt: skip
    assert used.labels == ("x", "y", "z") and used.preprocess is not None and used.preprocess.mean == HALF
    assert "overrides remembered in" in err.getvalue()
    sha = file_sha256(foreign.path)
    assert store.get(sha) == PreprocessOverrides(mean=HALF, labels_file=names)

    err = messages()
    again = resolve_entry(foreign, parser.parse_args([]), store)  # a later run without flags
    assert again.labels == ("x", "y", "z") and again.preprocess == used.preprocess
    assert "using overrides remembered in" in err.getvalue()

    flags_win = resolve_entry(foreign, parser.parse_args(["--mean", "0.1,0.2,0.3"]), store)
    assert flags_win.preprocess is not None and flags_win.preprocess.mean == (0.1, 0.2, 0.3)
    assert flags_win.labels == ("x", "y", "z")  # the remembered labels still apply
    assert store.get(sha) == PreprocessOverrides(mean=HALF, labels_file=names)  # not remembered without the flag

    err = messages()
    forgot = resolve_entry(foreign, parser.parse_args(["--forget-overrides", "--resize", "30"]), store)
    assert "remembered overrides forgotten" in err.getvalue()
    assert forgot.labels == foreign.labels and forgot.preprocess is not None and forgot.preprocess.resize == 30
    assert store.get(sha) is None
    assert resolve_entry(foreign, parser.parse_args([]), store) is foreign


def test_remembered_overrides_follow_the_content_not_the_name(
    parser: argparse.ArgumentParser, foreign: ModelEntry, store: OverrideStore, tmp_path: Path
) -> None:
    resolve_entry(foreign, parser.parse_args(["--resize", "40", "--remember-overrides"]), store)
    copy = tmp_path / "renamed.onnx"
    copy.write_bytes(foreign.path.read_bytes())
    renamed = resolve_entry(inspect_model(copy), parser.parse_args([]), store)
    assert renamed.preprocess is not None and renamed.preprocess.resize == 40


def test_errors_name_the_flag_or_the_store(
    parser: argparse.ArgumentParser, foreign: ModelEntry, store: OverrideStore, tmp_path: Path
) -> None:
    short = labels_file(tmp_path / "short.txt", ["a"])
    with pytest.raises(OverrideFlagError, match=r"^--labels: .*short\.txt has 1 names but the model has 3 outputs"):
        resolve_entry(foreign, parser.parse_args(["--labels", str(short)]), store)
    with pytest.raises(OverrideFlagError, match=r"^--crop: foreign\.onnx takes a fixed input of 16x16"):
        resolve_entry(foreign, parser.parse_args(["--crop", "20"]), store)
    with pytest.raises(OverrideFlagError, match="--remember-overrides: give the overrides to remember"):
        resolve_entry(foreign, parser.parse_args(["--remember-overrides"]), store)
    assert not store.path.exists()  # nothing was remembered by failed runs
    names = labels_file(tmp_path / "names.txt", ["a", "b", "c"])
    resolve_entry(foreign, parser.parse_args(["--labels", str(names), "--remember-overrides"]), store)
    names.unlink()
    with pytest.raises(OverrideFlagError, match=r"^remembered overrides in .*overrides\.json: labels: .*names\.txt"):
        resolve_entry(foreign, parser.parse_args([]), store)
    fixed = resolve_entry(foreign, parser.parse_args(["--forget-overrides"]), store)
    assert fixed.labels == foreign.labels


def test_a_damaged_store_warns_when_reading_and_refuses_when_writing(
    parser: argparse.ArgumentParser, foreign: ModelEntry, store: OverrideStore, messages: Messages
) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{oops", encoding="utf-8")
    err = messages()
    used = resolve_entry(foreign, parser.parse_args(["--resize", "30"]), store)
    assert used.preprocess is not None and used.preprocess.resize == 30
    assert "warning:" in err.getvalue() and "overrides.json: damaged overrides store" in err.getvalue()
    with pytest.raises(OverrideFlagError, match=r"overrides\.json: damaged .*fix or remove that file"):
        resolve_entry(foreign, parser.parse_args(["--resize", "30", "--remember-overrides"]), store)
    assert store.path.read_text(encoding="utf-8") == "{oops"


def test_print_overrides(foreign: ModelEntry) -> None:
    err = io.StringIO()
    print_overrides(foreign, PreprocessOverrides(mean=HALF, channel_order="BGR"), err)
    lines = err.getvalue().splitlines()
    assert lines[0] == "foreign.onnx: preprocessing and labels in use (assumed value in brackets):"
    assert "  mean: 0.5, 0.5, 0.5 (assumed 0.485, 0.456, 0.406)" in lines
    assert "  channel order: BGR (assumed RGB)" in lines and "  resize: 18 px" in lines
    silent = io.StringIO()
    print_overrides(foreign, None, silent)
    assert silent.getvalue() == ""
