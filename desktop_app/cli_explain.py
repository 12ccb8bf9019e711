"""``python -m desktop_app explain``: where in an image a model sees a class, as an overlay PNG and a raw map.

``--method cam`` computes a class activation map from the ONNX file alone (models that end in global average
pooling + a linear classifier: ResNet, DenseNet, Inception-v3, EfficientNet-Lite0); ``contrastive`` is its
class-contrastive form (what makes the class likelier than the others); ``occlusion`` slides a
grey patch over the input and measures the probability drop (any classifier; slower); ``auto`` (default)
uses the contrastive CAM where the file supports it (it localizes and passes the deletion check best:
docs/explain.md), else occlusion, and says which made the map. ``--save-map`` writes the
raw map (H x W float32 in [0, 1] on the original image's pixel grid, NaN where the centre crop did not see)
as ``.npy``; both files are written atomically. Exit codes: 0 done, 2 bad usage (unknown class, unreadable
image, unusable model, --method cam on a file without a CAM head, an unwritable output).

Example::

    python -m desktop_app explain cat.jpg --model efficientnet_lite0 --class "tiger cat" --out overlay.png \\
        --save-map map.npy
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from PIL import Image
from tqdm import tqdm

from desktop_app import cli_log
from desktop_app.core.cam import CamResult, CamUnsupportedError, class_activation_map, open_cam_session
from desktop_app.core.catalog import ModelChoiceError, ModelEntry, choose_model
from desktop_app.core.occlusion import occlusion_map
from desktop_app.core.overlay import COLORMAPS, write_map, write_overlay
from desktop_app.core.providers import ModelLoadError, one_line
from desktop_app.core.runtime import load_model
from workbench.imageio import ImageLoadError, load_image
from workbench.names import display_path, printable
from workbench.version import prog_name

MODULE_FORM = "python -m desktop_app"  # as desktop_app.cli names itself
METHODS = ("auto", "cam", "contrastive", "occlusion")
_METHOD_NAMES = {"cam": " (class activation map)", "contrastive": " (contrastive CAM: Grad-CAM of the log-probability)"}
EXIT_OK, EXIT_USAGE = 0, 2


class ExplainUsageError(Exception):
    """Bad usage of ``explain``: one line on stderr, exit code 2."""


def add_parser(
    commands: argparse._SubParsersAction, add_engine_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register ``explain`` (``add_engine_options`` adds --models-dir and --provider, as for ``classify``)."""
    parser = commands.add_parser(
        "explain",
        help="where in an image the model sees a class: overlay PNG and raw map (headless)",
        description="Explain one prediction: a class activation map (cam) from the ONNX file, or occlusion "
        "sensitivity (occlusion; any model), drawn over the image. Exit code 0 when done, 2 on bad usage.",
    )
    parser.add_argument("image", metavar="IMAGE", help="the image to explain")
    parser.add_argument(
        "--model",
        metavar="NAME_OR_FILE",
        help="an .onnx file, or a file stem / display name / architecture in the models folder "
        "(default: the first usable model, preferring efficientnet_lite0)",
    )
    add_engine_options(parser)
    parser.add_argument(
        "--class",
        dest="class_spec",
        metavar="LABEL_OR_INDEX",
        help="the class to explain: a label of the model (case and separators ignored) or its index "
        "(default: the top-1 class)",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="auto",
        help="cam (class activation map), contrastive (CAM of the class's log-probability: what makes it likelier "
        "than the other classes), occlusion (any model; slower), or auto: contrastive where the model supports it, "
        "else occlusion (default: auto)",
    )
    parser.add_argument("--out", metavar="PNG", type=Path, required=True, help="write the overlay here (PNG)")
    parser.add_argument(
        "--save-map", metavar="NPY", type=Path, help="also write the raw map: H x W float32 in [0, 1], NaN unseen"
    )
    parser.add_argument("--opacity", type=_opacity, default=0.5, metavar="A", help="map opacity, 0 to 1 (default: 0.5)")
    parser.add_argument("--colormap", choices=COLORMAPS, default="turbo", help="colormap (default: turbo)")


def _opacity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def run_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The ``explain`` command; returns the exit code (bad usage: one line on ``err``, 2)."""
    try:
        return _explain(args, out, err)
    except (ExplainUsageError, ModelChoiceError, ModelLoadError, CamUnsupportedError) as exc:
        print(f"{prog_name(MODULE_FORM)} explain: error: {printable(one_line(str(exc)))}", file=err)
        return EXIT_USAGE


def _explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    for target in (args.out, args.save_map):
        if target is not None and not target.parent.resolve().is_dir():
            raise ExplainUsageError(f"{display_path(target)}: its folder does not exist")
    entry = choose_model(args.model, args.models_dir)
    try:
        image = load_image(args.image)
    except ImageLoadError as exc:
        raise ExplainUsageError(str(exc)) from exc
    for notice in entry.notices:
        cli_log.log().info("note: %s: %s", display_path(entry.path.name), printable(notice))
    index = None if args.class_spec is None else resolve_class(args.class_spec, entry)
    print(f"model: {printable(entry.name)} ({display_path(entry.path.name)})", file=out)
    result = _make_map(entry, image, index, args, err)
    print(
        f"class: {printable(result.label)} [{result.class_index}], probability {100 * result.probability:.2f}%",
        file=out,
    )
    print(f"method: {result.method}{_METHOD_NAMES.get(result.method, '')}", file=out)
    try:
        write_overlay(args.out, image, result.map, opacity=args.opacity, cmap=args.colormap)
        print(f"overlay: {display_path(args.out)}", file=out)
        if args.save_map is not None:
            write_map(args.save_map, result.map)
            print(f"map: {display_path(args.save_map)}", file=out)
    except OSError as exc:
        raise ExplainUsageError(
            f"{display_path(exc.filename or args.out)}: cannot write ({exc.strerror or exc})"
        ) from exc
    return EXIT_OK


def _make_map(
    entry: ModelEntry, image: Image.Image, index: int | None, args: argparse.Namespace, err: TextIO
) -> CamResult:
    if args.method in ("cam", "contrastive", "auto"):
        try:
            method = "contrastive" if args.method == "auto" else args.method
            return class_activation_map(open_cam_session(entry, args.provider), image, index, method=method)
        except CamUnsupportedError as exc:
            if args.method != "auto":
                raise CamUnsupportedError(f"{exc}; use --method occlusion (works for any model)") from exc
            cli_log.log().info("note: %s; using occlusion instead", printable(one_line(str(exc))))
    from desktop_app.cli import _warn_about  # the classify command's warnings (imported late: cli imports us)

    model = load_model(entry, args.provider)
    _warn_about(model, entry, args.provider)
    bar = tqdm(
        total=0, desc="occlusion", unit="run", file=err, disable=not _is_terminal(err) or cli_log.quiet(), leave=False
    )

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        return occlusion_map(model, image, index, progress=progress)
    finally:
        bar.close()


def _normalised(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).casefold()


def resolve_class(spec: str, entry: ModelEntry) -> int:
    """The class index for ``--class``: an index, or a label (case, spaces, ``_`` and ``-`` ignored).

    Raises:
        ExplainUsageError: out of range, or no such label (with the closest labels).
    """
    classes = entry.num_classes or len(entry.labels)
    text = spec.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        index = int(text)
        if not 0 <= index < classes:
            raise ExplainUsageError(
                f"--class {text}: out of range; {display_path(entry.path.name)} has classes 0 to {classes - 1}"
            )
        return index
    key = _normalised(text)
    for index, label in enumerate(entry.labels):
        if _normalised(label) == key:
            return index
    close = difflib.get_close_matches(text, list(entry.labels), n=3, cutoff=0.6)
    hint = f" (closest: {', '.join(repr(printable(c)) for c in close)})" if close else ""
    raise ExplainUsageError(
        f"--class {printable(text)!r}: not a label of {display_path(entry.path.name)}{hint}; give a label or an index"
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m desktop_app.cli_explain explain ...``: the command on its own, until ``desktop_app.cli`` has it."""
    from desktop_app.cli import _add_engine_options, escape_unencodable

    escape_unencodable(sys.stdout, sys.stderr)
    parser = argparse.ArgumentParser(prog=prog_name(MODULE_FORM))
    add_parser(parser.add_subparsers(dest="command", required=True), _add_engine_options)
    return run_explain(parser.parse_args(argv), sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
