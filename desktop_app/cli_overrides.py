"""The ``classify`` flags that override a model's assumed preprocessing and labels, and remember them per file.

:func:`add_override_arguments` adds ``--resize``, ``--crop``, ``--interpolation``, ``--mean``, ``--std``,
``--channel-order``, ``--value-range``, ``--labels``, ``--remember-overrides`` and ``--forget-overrides``;
:func:`resolve_entry` merges the overrides remembered for the model file (by sha256, in
:class:`desktop_app.core.overrides.OverrideStore`) with the flags (flags win), remembers or forgets
them as asked and returns the entry to run. Its errors are :class:`OverrideFlagError`, a
:class:`desktop_app.cli_engine.FlagError`, so ``classify`` reports them as bad usage (exit code 2).
:func:`print_overrides` writes the "assumed / in use" lines.

Example::

    python -m desktop_app classify cat.jpg --model foreign.onnx --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5
    python -m desktop_app classify cat.jpg --model foreign.onnx --labels my_labels.txt --remember-overrides
    python -m desktop_app classify cat.jpg --model foreign.onnx --forget-overrides
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from desktop_app import cli_log
from desktop_app.cli_engine import FlagError
from desktop_app.core.catalog import ModelEntry
from desktop_app.core.overrides import (
    CHANNEL_ORDERS,
    VALUE_RANGES,
    OverrideError,
    OverrideStore,
    OverrideStoreError,
    PreprocessOverrides,
    apply_overrides,
    describe,
    file_sha256,
    parse_size,
    parse_triple,
    parse_value_range,
)
from workbench.names import display_path, printable
from workbench.preprocess import INTERPOLATIONS

__all__ = [
    "FLAGS",
    "OverrideFlagError",
    "add_override_arguments",
    "overrides_from_args",
    "print_overrides",
    "resolve_entry",
]

#: The flag of each :class:`PreprocessOverrides` field (and of the names its errors start with).
FLAGS = {
    "size": "--crop",
    "resize": "--resize",
    "interpolation": "--interpolation",
    "mean": "--mean",
    "std": "--std",
    "channel_order": "--channel-order",
    "value_range": "--value-range",
    "labels_file": "--labels",
    "labels": "--labels",
}


class OverrideFlagError(FlagError):
    """Overrides that cannot be used, a store that cannot be read or written (exit code 2); one line."""


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the override flags (an argument group "preprocessing and labels overrides") to ``parser``."""
    group = parser.add_argument_group(
        "preprocessing and labels overrides",
        "For a model file without workbench metadata the preprocessing and labels are assumed (ImageNet "
        "mean/std, resize 256/224 of the crop, bilinear, labels by class count); these flags replace what "
        "was assumed (they also override a workbench file's own metadata). Overrides remembered for the file "
        "(by its sha256) apply too; a flag wins over a remembered value.",
    )
    group.add_argument(
        "--resize",
        type=_flag(_resize, "--resize"),
        metavar="PX",
        help="resize the shorter side to PX pixels before the centre crop",
    )
    group.add_argument(
        "--crop",
        type=_flag(parse_size, "--crop"),
        metavar="PX|HxW",
        help="centre crop (the model's input size), PX square or H x W; a graph with a fixed input "
        "size only takes its own (without --resize, the resize follows the crop)",
    )
    group.add_argument("--interpolation", choices=tuple(INTERPOLATIONS), help="resize filter")
    group.add_argument(
        "--mean",
        type=_flag(_triple, "--mean"),
        metavar="R,G,B",
        help="per-channel mean subtracted after the value range is applied, in R, G, B order",
    )
    group.add_argument(
        "--std",
        type=_flag(_triple, "--std"),
        metavar="R,G,B",
        help="per-channel standard deviation divided by (each > 0), in R, G, B order",
    )
    group.add_argument(
        "--channel-order", choices=CHANNEL_ORDERS, help="channel order the model takes (mean/std stay in R, G, B order)"
    )
    group.add_argument(
        "--value-range",
        type=_flag(parse_value_range, "--value-range"),
        metavar="{0-1,0-255}",
        help=f"what 8-bit pixel values are mapped onto before the mean/std ({', '.join(VALUE_RANGES)})",
    )
    group.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="class names, one per line in output order (as many lines as the model has outputs)",
    )
    _add_memory_flags(group)


def overrides_from_args(args: argparse.Namespace) -> PreprocessOverrides | None:
    """The overrides the flags give, ``None`` when no override flag was given.

    Raises:
        OverrideFlagError: an invalid combination (``--std`` is checked per value by argparse already).
    """
    try:
        overrides = PreprocessOverrides(
            size=getattr(args, "crop", None),
            resize=getattr(args, "resize", None),
            interpolation=getattr(args, "interpolation", None),
            mean=getattr(args, "mean", None),
            std=getattr(args, "std", None),
            channel_order=getattr(args, "channel_order", None),
            value_range=getattr(args, "value_range", None),
            labels_file=getattr(args, "labels", None),
        )
    except OverrideError as exc:
        raise OverrideFlagError(_with_flag(str(exc))) from exc
    return None if overrides.empty else overrides


def resolve_entry(entry: ModelEntry, args: argparse.Namespace, store: OverrideStore) -> ModelEntry:
    """The entry to classify with: ``entry`` (the catalog's) with remembered overrides and the flags applied.

    ``--remember-overrides`` stores the merged overrides for the file, ``--forget-overrides`` drops what was
    stored (both after checking that the overrides apply). A damaged store is only a warning (logged) when
    nothing is to be stored or forgotten (the flags still apply); otherwise it is an error, so the file is
    never overwritten unseen. Notes about remembering are logged (:mod:`desktop_app.cli_log`: not with ``-q``).

    Raises:
        OverrideFlagError: the overrides do not apply (the flag named), or the store cannot be used.
    """
    flags = overrides_from_args(args)
    remember, forget = bool(getattr(args, "remember_overrides", False)), bool(getattr(args, "forget_overrides", False))
    if remember and flags is None:
        raise OverrideFlagError("--remember-overrides: give the overrides to remember (e.g. --mean, --labels)")
    name = display_path(entry.path.name)
    remembered, sha256 = None, None
    if remember or forget or store.path.exists():
        sha256 = _sha(entry)
        remembered = None if forget else _remembered(store, sha256, strict=remember)
    overrides = remembered.merged(flags) if remembered is not None and flags is not None else (flags or remembered)
    try:
        used = apply_overrides(entry, overrides)
    except OverrideError as exc:
        raise OverrideFlagError(_problem(str(exc), flags, remembered, store)) from exc
    try:
        if remember and overrides is not None and sha256 is not None:
            store.put(sha256, overrides, entry.path.name)
            cli_log.log().info("note: %s: overrides remembered in %s", name, display_path(store.path))
        elif forget and sha256 is not None:
            forgot = store.remove(sha256)
            cli_log.log().info(
                f"note: {name}: {'remembered overrides forgotten' if forgot else 'no remembered overrides'}"
            )
    except OverrideStoreError as exc:
        raise OverrideFlagError(str(exc)) from exc
    if remembered is not None:
        cli_log.log().info("note: %s: using overrides remembered in %s", name, display_path(store.path))
    return used


def print_overrides(entry: ModelEntry, overrides: PreprocessOverrides | None, err: TextIO) -> None:
    """One line per overridden field: ``  mean: 0.5, 0.5, 0.5 (assumed 0.485, 0.456, 0.406)``; nothing if none.

    Raises:
        OverrideFlagError: the overrides do not apply.
    """
    if overrides is None or overrides.empty:
        return
    try:
        rows = describe(entry, overrides)
    except OverrideError as exc:
        raise OverrideFlagError(_with_flag(str(exc))) from exc
    word = "assumed" if entry.card is None else "file"
    print(f"{display_path(entry.path.name)}: preprocessing and labels in use ({word} value in brackets):", file=err)
    for field, assumed, used in rows:
        mark = f" ({word} {assumed})" if assumed != used else ""
        print(f"  {field}: {printable(used)}{printable(mark)}", file=err)


def _add_memory_flags(group: argparse._ArgumentGroup) -> None:
    memory = group.add_mutually_exclusive_group()
    memory.add_argument(
        "--remember-overrides",
        action="store_true",
        help="remember these overrides for this model file (by its sha256) for later runs and the app",
    )
    memory.add_argument(
        "--forget-overrides",
        action="store_true",
        help="forget the overrides remembered for this model file (flags given still apply to this run)",
    )


def _remembered(store: OverrideStore, sha256: str, *, strict: bool) -> PreprocessOverrides | None:
    try:
        return store.get(sha256)
    except OverrideStoreError as exc:
        if strict:
            raise OverrideFlagError(f"{exc}; fix or remove that file to remember overrides") from exc
        cli_log.log().warning("warning: %s; remembered overrides not used", printable(str(exc)))
        return None


def _sha(entry: ModelEntry) -> str:
    try:
        return file_sha256(entry.path)
    except OSError as exc:
        raise OverrideFlagError(
            f"{display_path(entry.path)}: cannot read the model file ({exc.strerror or exc})"
        ) from exc


def _problem(
    message: str, flags: PreprocessOverrides | None, remembered: PreprocessOverrides | None, store: OverrideStore
) -> str:
    """The message naming the flag, or saying the value was remembered (and how to forget it)."""
    field = message.split(":", 1)[0]
    from_flag = flags is not None and field in FLAGS and getattr(flags, _attr(field)) is not None
    if remembered is not None and not from_flag and field in FLAGS and getattr(remembered, _attr(field)) is not None:
        return f"remembered overrides in {display_path(store.path)}: {message} (drop them with --forget-overrides)"
    return _with_flag(message)


def _attr(field: str) -> str:
    return "labels_file" if field == "labels" else field


def _with_flag(message: str) -> str:
    field, _, rest = message.partition(":")
    return f"{FLAGS[field]}:{rest}" if field in FLAGS and rest else message


def _flag(parse: Callable[[str], object], flag: str) -> Callable[[str], object]:
    """An argparse ``type`` that turns the parser's OverrideError into argparse's own message."""

    def convert(text: str) -> object:
        try:
            return parse(text)
        except OverrideError as exc:
            raise argparse.ArgumentTypeError(exc.args[0].partition(": ")[2] or str(exc)) from None

    convert.__name__ = flag
    return convert


def _resize(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise OverrideError(f"resize: expected a whole number of pixels, got {text!r}") from None
    PreprocessOverrides(resize=value)  # OverrideError when out of range
    return value


def _triple(text: str) -> tuple[float, float, float]:
    return parse_triple(text, "value")
