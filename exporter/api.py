"""The exporter as a library: build a verified, self-describing ONNX file for one architecture.

:func:`export_model` resolves the weights, traces the model, records labels, preprocessing,
provenance, the node -> module map and a golden self-test in the file's metadata, checks it
with ``onnx.checker`` (full check) and against PyTorch, and only then moves the temporary
file into place: without ``force`` the final name is created exclusively (a hard link), so of two
exports racing for one name the second fails instead of overwriting the first. Temporary files of
killed exports (``.<name>.<pid>@<host>.<random>.onnx.tmp``) are removed by the next export into the
folder. Every failure raises :class:`~exporter.errors.ExporterError`.

Example::

    python -c "from exporter.api import export_model; print(export_model('resnet18', 'random', '/tmp/m').path)"
"""

from __future__ import annotations

import errno
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO, TypeVar

import onnx
from torch import nn

import models
from exporter.errors import ExporterError, VerificationError
from exporter.interrupt import checkpoint
from exporter.onnx_build import DEFAULT_OPSET, build_node_map, conv_feeding_norms, export_graph, strip_node_metadata
from exporter.verify import (
    LoweredVerification,
    Verification,
    inputs_for,
    make_golden,
    torch_logits,
    verify,
)
from exporter.weights import ResolvedWeights, resolve_weights
from workbench.atomic import owner_tag, remove_stale_temps, temp_pattern
from workbench.contract import PRECISIONS, Golden, ModelCard, NodeMap
from workbench.paths import dir_problem, models_dir
from workbench.preprocess import Preprocess

DEFAULT_MODEL = "efficientnet_lite0"
TEMP_SUFFIX = ".onnx.tmp"
# _write_checked's temporary files: .<target stem>.<pid>@<host>.<random>.onnx.tmp
EXPORT_TEMP = temp_pattern(r"\.(?P<name>.+?)\.", TEMP_SUFFIX)
# os.link failing for these means the file system has no hard links (FAT, some network shares).
_NO_HARD_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}
Checked = TypeVar("Checked", Verification, LoweredVerification)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    card: ModelCard
    verification: Verification | LoweredVerification
    seconds: float


def output_name(name: str, label_set: str, tag: str, precision: str, image_size: int | None) -> str:
    """``resnet50-imagenet-1k-imagenet-fp32.onnx`` (``-64px`` appended for reduced-size exports)."""
    size = f"-{image_size}px" if image_size else ""
    return f"{name}-{label_set}-{tag}-{precision}{size}.onnx"


def _preprocess_at(spec: models.ModelSpec, crop: int) -> Preprocess:
    """The model's preprocessing at a ``crop`` px input (resize scaled like the native one)."""
    resize = round(crop * spec.resize_size / spec.crop_size)
    return Preprocess.from_dict(spec.preprocess_dict() | {"resize": resize, "crop": [crop, crop]})


def export_model(
    name: str,
    weights: str,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    force: bool = False,
    labels: str | None = None,
    num_classes: int | None = None,
    image_size: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    precision: str = "fp32",
    calibration: str | os.PathLike[str] | None = None,
    calibration_method: str = "minmax",
) -> ExportResult:
    """Export ``name`` with ``weights`` (``imagenet``, ``random`` or a path) into ``out_dir``.

    ``precision`` ``int8`` calibrates on the images in ``calibration`` (default: the shipped photos,
    augmented); ``fp16`` keeps float32 input/output. Both are verified against PyTorch fp32.
    """
    started = time.perf_counter()
    if precision not in PRECISIONS:
        raise ExporterError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    if calibration is not None and precision != "int8":
        raise ExporterError(f"--calibration {calibration}: only used with --precision int8")
    folder = writable_dir(models_dir(out_dir))
    for note in remove_stale_temps(folder, EXPORT_TEMP).notes():
        log(note)
    resolved = resolve_weights(name, weights, labels=labels, num_classes=num_classes, progress=progress)
    spec = models.get_spec(name)
    if image_size is not None and image_size < spec.min_size[0]:
        raise ExporterError(f"--image-size {image_size}: {name} needs at least {spec.min_size[0]} pixels")
    size = image_size if image_size not in (None, spec.crop_size) else None
    crop = size or spec.crop_size
    preprocess = _preprocess_at(spec, crop)
    target = inside(folder, output_name(name, resolved.label_set, resolved.tag, precision, size))
    if os.path.lexists(target) and not force:
        raise ExporterError(f"{target}: already exists (use --force to overwrite)")
    log(f"exporting {name} ({resolved.weights['source']} weights) at {crop}x{crop} ...")
    proto = export_graph(resolved.model, (crop, crop), opset)
    checkpoint()
    node_map = build_node_map(proto.graph, conv_feeding_norms(resolved.model, (crop, crop)))
    strip_node_metadata(proto.graph)
    photos, golden = inputs_for(preprocess, (crop, crop))
    golden_record = make_golden(torch_logits(resolved.model, golden), (crop, crop))
    card = _card(name, resolved, preprocess, opset, node_map, golden_record, weights)
    if precision != "fp32":
        from exporter.quant.lower import lower

        folder_arg = Path(calibration).expanduser() if calibration is not None else None
        lowered = lower(proto, card, resolved, (crop, crop), precision, folder_arg, calibration_method, log)
        proto, card = lowered.proto, lowered.card
        checkpoint()
        _stamp(proto, card)
        _write_checked(proto, target, lowered.check, force)
        return ExportResult(target, card, lowered.verification, time.perf_counter() - started)
    _stamp(proto, card)
    verification = _write_checked(proto, target, lambda tmp: verify(tmp, resolved.model, photos, golden), force)
    log(verification.summary())
    return ExportResult(target, card, verification, time.perf_counter() - started)


def _card(
    name: str,
    resolved: ResolvedWeights,
    preprocess: Preprocess,
    opset: int,
    node_map: NodeMap,
    golden: Golden,
    weights: str = "",
) -> ModelCard:
    return ModelCard(
        architecture=name,
        label_set=resolved.label_set,
        labels=resolved.labels,
        preprocess=preprocess,
        weights=resolved.weights | ({"builder_kwargs": resolved.builder_kwargs} if resolved.builder_kwargs else {}),
        precision="fp32",
        provenance=_provenance(opset) | complexity(resolved.model, (preprocess.crop[0], preprocess.crop[1])),
        training=_with_run(resolved.training, weights),
        node_map=node_map,
        golden=golden,
    )


def _with_run(training: dict[str, Any] | None, weights: str) -> dict[str, Any] | None:
    """A trained checkpoint's facts plus ``run``: the name of its run folder (``runs/my_photos-resnet18/best.pt``).

    A folder is a run folder when ``python -m exporter train`` wrote its ``split.json`` there; a checkpoint
    copied elsewhere gets no run name.
    """
    if training is None or weights in ("imagenet", "random") or "run" in training:
        return training
    folder = Path(weights).expanduser().resolve().parent
    return training | ({"run": folder.name} if (folder / "split.json").is_file() else {})


def dist_version(dist: str) -> str | None:
    """The installed version of a distribution, ``None`` when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def complexity(model: nn.Module, size: tuple[int, int]) -> dict[str, object]:
    """``parameters`` and ``gmacs`` (conv + linear multiply-accumulates per image, billions) at the export size."""
    from models.complexity import count_macs, count_params

    macs = count_macs(model, (3, *size))
    return {"parameters": count_params(model), "gmacs": round(macs / 1e9, 6), "gmacs_input": [3, *size]}


def _provenance(opset: int) -> dict[str, object]:
    version = dist_version
    runtime = version("onnxruntime-gpu") or version("onnxruntime")
    return {
        "exporter": "cnn-workbench " + (version("cnn-workbench") or "unknown"),
        "torch": version("torch"),
        "onnx": version("onnx"),
        "onnxscript": version("onnxscript"),
        "onnxruntime": runtime,
        "python": platform.python_version(),
        "opset": opset,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _stamp(proto: onnx.ModelProto, card: ModelCard) -> None:
    del proto.metadata_props[:]
    for key, value in card.to_metadata().items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "cnn-workbench exporter"
    proto.doc_string = f"{card.display_name}. Metadata contract: workbench.* keys, see docs/onnx-metadata.md."


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing a ``name`` that is not one plain file name (it must not leave ``folder``)."""
    separators = {os.sep, os.altsep or os.sep, "\0"}
    if name in ("", ".", "..") or any(sep in name for sep in separators) or Path(name).name != name:
        raise ExporterError(f"{name!r}: not a plain file name; refusing to write outside {folder}")
    return folder / name


def _write_checked(
    proto: onnx.ModelProto, target: Path, check: Callable[[Path], Checked], force: bool = False
) -> Checked:
    """Write to a temp file beside ``target``, check and verify it, then move it into place (see :func:`_publish`)."""
    prefix = f".{target.stem}.{owner_tag()}."
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=TEMP_SUFFIX)
    except OSError as exc:  # e.g. ENAMETOOLONG, or the folder made read-only since it was checked
        raise ExporterError(f"{target}: cannot create a temporary file beside it ({exc.strerror or exc})") from exc
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(proto.SerializeToString())
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise ExporterError(f"{target}: disk full while writing the model ({exc.strerror})") from exc
            raise ExporterError(f"{target}: cannot write the model ({exc.strerror})") from exc
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except onnx.checker.ValidationError as exc:
            first = str(exc).splitlines()[0]
            raise ExporterError(f"{target.name}: onnx.checker rejected the export ({first})") from exc
        result = check(tmp)
        if not result.passed:
            raise VerificationError(f"{target.name}: verification failed, file not kept. {result.summary()}")
        _make_readable(tmp)
        checkpoint()  # a Ctrl+C pressed during the checks: the temp file is removed, nothing is renamed
        _publish(tmp, target, force)
        return result
    finally:
        tmp.unlink(missing_ok=True)


def _publish(tmp: Path, target: Path, force: bool) -> None:
    """Give the checked ``tmp`` its final name: replace with ``force``, else create it exclusively.

    ``os.link`` fails with FileExistsError when another export (or anyone) created ``target`` since the
    first check; where the file system has no hard links, an ``O_EXCL`` placeholder claims the name.
    """
    try:
        if force:
            os.replace(tmp, target)
            return
        try:
            os.link(tmp, target)
        except OSError as exc:
            if isinstance(exc, FileExistsError) or exc.errno not in _NO_HARD_LINKS:
                raise
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            os.replace(tmp, target)
    except FileExistsError as exc:
        raise ExporterError(
            f"{target}: already exists, created while this export ran (another export?); use --force to overwrite"
        ) from exc
    except OSError as exc:
        raise ExporterError(f"{target}: cannot move the checked model into place ({exc.strerror or exc})") from exc


def _make_readable(path: Path) -> None:
    """Give the file the permissions a plain ``open()`` would (``mkstemp`` makes it owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def writable_dir(folder: Path, role: str = "output directory") -> Path:
    """Create ``folder`` (and parents) and check it takes files; else an error saying what the path is."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        problem = dir_problem(folder)
        if problem is not None:  # e.g. "output directory /m is a symlink to /gone, which does not exist"
            about_itself = problem.startswith(f"{os.path.abspath(folder)} ")
            raise ExporterError(f"{role} {problem}" if about_itself else f"{role} {folder}: {problem}") from exc
        raise ExporterError(f"{folder}: {role} is not writable ({exc.strerror or exc})") from exc
    return folder


def describe(result: ExportResult, stream: TextIO = sys.stdout) -> None:
    """A short human summary of a finished export."""
    size_mb = result.path.stat().st_size / 2**20
    print(f"wrote {result.path} ({size_mb:.1f} MiB) in {result.seconds:.1f} s", file=stream)
