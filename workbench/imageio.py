"""Robust image loading for the workbench: any supported file -> 8-bit RGB Pillow image.

Every way a photo can fail to load (missing, unreadable, empty, not an image, SVG,
truncated, decompression bomb, ...) is reported as one :class:`ImageLoadError` whose
message names the file and the problem on a single line, so the GUI can show it as-is.

The returned image always has mode ``"RGB"``, is fully decoded (no lazy file access),
has its EXIF orientation applied, and has transparency composited onto white.
Greyscale 16-bit images are scaled to 8 bits by their real bit depth instead of being
clipped to white as ``Image.convert("RGB")`` would do.

Folders are walked by :func:`find_image_files`, which returns the image files plus one
:class:`PathProblem` per path it had to skip (a symbolic-link loop, a broken link, a FIFO or device
named like an image, a folder it cannot list), so one bad entry never hides the rest of a folder.
File names are shown with :func:`display_path`: bytes that are not valid in the file-system encoding
(``os.fsdecode``'s surrogate escapes) and control characters are written ``\\xNN``, so every name is
printable in any locale, on one line, with every byte kept.

Example::

    from workbench.imageio import ImageLoadError, display_path, find_image_files, load_image

    found = find_image_files(["holiday/", "cat.jpg"])
    for problem in found.problems:
        print(problem)  # e.g. "holiday/loop.jpg: symbolic link loop, not followed"
    for path in found.files:
        try:
            img = load_image(path, min_side=224)  # large JPEGs decode at reduced size
        except ImageLoadError as err:
            print(err)  # e.g. "cat.jpg: truncated or corrupt image data (image file is truncated)"
        else:
            print(display_path(path), img.size)
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from workbench.heif import HEIF_SUPPORT  # registers the HEIC/HEIF opener (pi-heif) when installed
from workbench.names import display_path, natural_key, printable

__all__ = [
    "CLIPBOARD_NAME",
    "IMAGE_EXTENSIONS",
    "FoundImages",
    "ImageLoadError",
    "PathProblem",
    "display_path",
    "find_image_files",
    "iter_image_files",
    "load_image",
    "printable",
]

# Registered but not decoded by Pillow itself: EPS/PS (a PostScript program, needs Ghostscript), MPEG (video),
# IPTC (metadata); stub formats (HDF5, GRIB, BUFR, WMF) need a handler the application installs.
_REFUSED_FORMATS = frozenset({"EPS", "MPEG", "IPTC"})
_REFUSED_SUFFIXES = frozenset({".svg", ".svgz"})  # refused by load_image, whatever a plugin may say


def _openable_extensions() -> frozenset[str]:
    """The suffixes (lower case, with the dot) of every format the installed Pillow can open and decode."""
    suffixes = set()
    for suffix, image_format in Image.registered_extensions().items():  # calls Image.init()
        opener = Image.OPEN.get(image_format)
        if opener is None or image_format in _REFUSED_FORMATS:
            continue
        if not (isinstance(opener[0], type) and issubclass(opener[0], ImageFile.StubImageFile)):
            suffixes.add(suffix.lower())
    return frozenset(suffixes - _REFUSED_SUFFIXES)


#: Suffixes (lower case, with the dot) the file dialogs offer and folder scans keep: every format Pillow opens.
IMAGE_EXTENSIONS: frozenset[str] = _openable_extensions()

CLIPBOARD_NAME = "<clipboard>"  # the name error messages give in-memory (pasted) image data

_HEADER_BYTES = 4096
_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
_UINT16_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
# Exceptions Pillow's decoders raise for damaged data ("image file is truncated",
# "broken PNG file", "Truncated File Read", zlib errors, bad struct sizes, ...).
_CORRUPT_DATA_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)


class ImageLoadError(Exception):
    """An image could not be loaded; ``str(err)`` is ``"<file>: <problem>"`` on one line.

    Attributes:
        path: the file as given by the caller (or ``"<clipboard>"`` for in-memory data).
        reason: the problem, e.g. ``"file not found"``.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = printable(_one_line(reason))
        super().__init__(f"{display_path(path)}: {self.reason}")


def load_image(source: str | os.PathLike[str] | bytes, *, min_side: int | None = None) -> Image.Image:
    """Load ``source`` (a file path or in-memory encoded bytes) as a fully decoded RGB image.

    Args:
        source: path of an image file, or the encoded bytes of one (e.g. pasted data).
        min_side: if given, JPEGs may be decoded at 1/2, 1/4 or 1/8 scale (much faster),
            but only while the decoded shorter side stays >= ``2 * min_side``.
            Other formats are always decoded at full size.

    Raises:
        ImageLoadError: the data cannot be turned into an image (message says why).
        ValueError: ``min_side`` is not a positive int.
    """
    if min_side is not None and (isinstance(min_side, bool) or not isinstance(min_side, int) or min_side < 1):
        raise ValueError(f"min_side must be a positive int or None, got {min_side!r}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageLoadError(CLIPBOARD_NAME, "empty image data (0 bytes)")
        header = data[:_HEADER_BYTES]
        _reject_svg(CLIPBOARD_NAME, header, suffix="")
        return _decode(io.BytesIO(data), CLIPBOARD_NAME, header, min_side)
    name = os.fspath(source)
    path = Path(name)
    with _open_regular_file(path, name) as fp:
        try:
            header = fp.read(_HEADER_BYTES)
            fp.seek(0)
        except OSError as exc:
            raise ImageLoadError(name, _os_error_reason(exc)) from exc
        if not header:
            raise ImageLoadError(name, "file is empty (0 bytes)")
        _reject_svg(name, header, suffix=path.suffix.lower())
        return _decode(fp, name, header, min_side)


@dataclass(frozen=True)
class PathProblem:
    """A path skipped while looking for image files; ``str()`` is ``"<path>: <reason>"`` on one line."""

    path: Path
    reason: str
    error: OSError | None = None  # the OS error behind it, if any (e.g. a folder that cannot be listed)

    def __str__(self) -> str:
        return f"{display_path(self.path)}: {self.reason}"


@dataclass(frozen=True)
class FoundImages:
    """What :func:`find_image_files` found: the files to load, and the paths it had to skip."""

    files: tuple[Path, ...]
    problems: tuple[PathProblem, ...]


def find_image_files(paths: Iterable[str | os.PathLike[str]]) -> FoundImages:
    """Expand ``paths`` into the image files to load (deterministic order) and the paths skipped on the way.

    Folders are searched recursively (names in natural order, ``2.jpg`` before ``10.jpg``; hidden
    files and folders skipped, symlinked folders not followed) and only files with a suffix in
    :data:`IMAGE_EXTENSIONS` (any case) are kept. Anything given explicitly that is not a folder is
    kept as-is, whatever its suffix or even if it does not exist, so that :func:`load_image` reports
    a proper error for it later.
    Duplicates are dropped. Nothing is opened and nothing blocks: inside a folder, a symbolic-link
    loop, a broken link or a FIFO, device or socket named like an image, and a folder that cannot
    be listed (or is reached twice, e.g. through a bind mount) are each one :class:`PathProblem`,
    and the walk goes on with the rest.
    """
    files: list[Path] = []
    problems: list[PathProblem] = []
    seen: set[str] = set()
    for given in paths:
        path = Path(given)
        found = _walk_folder(path, problems) if _is_folder(path) else [path]
        for file in found:
            key = os.path.normcase(os.path.abspath(file))
            if key not in seen:
                seen.add(key)
                files.append(file)
    return FoundImages(tuple(files), tuple(problems))


def iter_image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files of :func:`find_image_files` as a list (kept for callers that cannot show its problems).

    Loops, broken links and special files inside folders are left out without a word; use
    :func:`find_image_files` to report them.

    Raises:
        OSError: a folder (or one of its sub-folders) cannot be listed.
    """
    found = find_image_files(paths)
    for problem in found.problems:
        if problem.error is not None and problem.reason.startswith(_CANNOT_LIST):
            raise problem.error
    return list(found.files)


_CANNOT_LIST = "cannot list folder"
_DIR, _FILE = "dir", "file"


def _is_folder(path: Path) -> bool:
    """``path`` is a folder (a symlink named explicitly is followed); any stat failure means it is not."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing, loop, no permission, NUL in the name: load_image says which
        return False


def _walk_folder(folder: Path, problems: list[PathProblem]) -> list[Path]:
    """Image files below ``folder``, depth first, entries sorted by name (an explicit stack: no recursion limit)."""
    visited: set[tuple[int, int]] = set()
    found: list[Path] = []
    top = _list_folder(folder, problems, visited)
    stack = [iter(top)] if top is not None else []
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        kind = _entry_kind(entry, problems)
        if kind == _FILE:
            found.append(Path(entry.path))
        elif kind == _DIR:
            entries = _list_folder(Path(entry.path), problems, visited)
            if entries is not None:
                stack.append(iter(entries))
    return found


def _list_folder(
    folder: Path, problems: list[PathProblem], visited: set[tuple[int, int]]
) -> list[os.DirEntry[str]] | None:
    """The sorted entries of ``folder``, or None (and one problem) when it cannot be listed or was seen before."""
    try:
        info = os.stat(folder)
        key = (info.st_dev, info.st_ino)
        if key in visited:
            problems.append(
                PathProblem(folder, "the same folder as one already searched (a bind mount?), not searched again")
            )
            return None
        visited.add(key)
        with os.scandir(folder) as scan:
            return sorted(scan, key=lambda e: natural_key(e.name))
    except OSError as exc:
        problems.append(PathProblem(folder, f"{_CANNOT_LIST} ({_os_error_reason(exc, folder=True)})", exc))
        return None


def _entry_kind(entry: os.DirEntry[str], problems: list[PathProblem]) -> str | None:
    """``_DIR`` to search, ``_FILE`` to keep, or None to skip (adding a problem when the skip needs a word)."""
    image_name = os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
    try:
        if _is_hidden(entry):
            return None
        if entry.is_dir(follow_symlinks=False):
            return _DIR
        if not image_name and not entry.is_symlink():
            return None  # notes.txt, a FIFO called "pipe": not an image candidate, nothing to say
        mode = entry.stat().st_mode  # follows a symbolic link; never opens the entry
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            problems.append(PathProblem(Path(entry.path), "symbolic link loop, not followed", exc))
        elif image_name:
            reason = "broken symbolic link" if isinstance(exc, FileNotFoundError) else _os_error_reason(exc)
            problems.append(PathProblem(Path(entry.path), reason, exc))
        return None
    if not image_name or stat.S_ISDIR(mode):
        return None  # a link to a folder (not followed) or to a file that is not an image
    if stat.S_ISREG(mode):
        return _FILE
    problems.append(PathProblem(Path(entry.path), f"not a regular file ({_file_kind(mode)}), skipped"))
    return None


def _is_hidden(entry: os.DirEntry[str]) -> bool:
    """Dot-files everywhere, plus the "hidden" attribute on Windows."""
    if entry.name.startswith("."):
        return True
    hidden_flag = getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0)
    if not hidden_flag:
        return False
    return bool(getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0) & hidden_flag)


def _open_regular_file(path: Path, name: str) -> BinaryIO:
    """Open ``path`` for binary reading, turning every OS-level failure into ImageLoadError.

    Only a regular file is opened: a FIFO would block the open (and a device could act on it), so the
    type is checked with ``stat`` first, and again on the open descriptor (opened non-blocking) in case
    the file was swapped in between.
    """
    try:
        _check_regular(name, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except OSError as exc:
        raise ImageLoadError(name, _os_error_reason(exc)) from exc
    except ValueError as exc:  # "embedded null byte"
        raise ImageLoadError(name, f"invalid file name ({exc})") from exc
    try:
        _check_regular(name, os.fstat(fd).st_mode)
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")  # the caller closes it (`with` block)
    except OSError as exc:
        os.close(fd)
        raise ImageLoadError(name, _os_error_reason(exc)) from exc
    except BaseException:
        os.close(fd)
        raise


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS = _NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


def _check_regular(name: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise ImageLoadError(name, "is a folder, not an image file")
    if not stat.S_ISREG(mode):
        raise ImageLoadError(name, f"not a regular file ({_file_kind(mode)})")


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO, named pipe"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _os_error_reason(exc: OSError, *, folder: bool = False) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return "folder not found" if folder else "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not an image file"
    return f"cannot read {'folder' if folder else 'file'} ({exc.strerror or exc})"


def _reject_svg(name: str, header: bytes, suffix: str) -> None:
    text = header.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    is_svg = text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!--", b"<!doctype")) and b"<svg" in text)
    if is_svg or suffix in (".svg", ".svgz"):
        raise ImageLoadError(name, "SVG vector images are not supported; export it to PNG")


def _describe_unidentified(header: bytes) -> str:
    """Reason text for data Pillow does not recognise as any image format."""
    if header[4:8] == b"ftyp" and header[8:12] in _HEIF_BRANDS:
        if HEIF_SUPPORT:
            return "damaged HEIC/HEIF image, or a kind the HEIF decoder cannot read"
        return "HEIC/HEIF images are not supported (install pi-heif); convert it to JPEG or PNG"
    if b"\x00" not in header:
        try:
            header.decode("utf-8")
        except UnicodeDecodeError:
            pass  # binary data of an unknown kind: fall through to the generic reason
        else:
            return "not an image (the file contains text)"
    return "not an image file, or an unknown image format"


def _decode(fp: BinaryIO, name: str, header: bytes, min_side: int | None) -> Image.Image:
    """Identify, fully decode and orient the image in ``fp``; then convert it to RGB."""
    try:
        with warnings.catch_warnings():
            # Keep Pillow's decompression-bomb guard on and make its warning zone
            # (between 1x and 2x MAX_IMAGE_PIXELS) an error too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as im:
                _check_dimensions(im.size, name)
                if min_side is not None and im.format in _DRAFT_FORMATS:
                    im.draft("RGB", (2 * min_side, 2 * min_side))
                im.load()  # full decode now, so truncation is detected here
                oriented = ImageOps.exif_transpose(im)  # always a new, detached image
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageLoadError(name, _describe_unidentified(header)) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(name, f"image too large to decode safely ({exc})") from exc
    except MemoryError as exc:
        raise ImageLoadError(name, "not enough memory to decode the image") from exc
    except _CORRUPT_DATA_ERRORS as exc:
        raise ImageLoadError(name, f"truncated or corrupt image data ({exc})") from exc
    except Exception as exc:  # any other decoder failure, reported with its original message
        raise ImageLoadError(name, f"could not decode image ({type(exc).__name__}: {exc})") from exc
    return _to_rgb(oriented, name)


def _check_dimensions(size: tuple[int, int], name: str) -> None:
    """Reject empty images, and oversized ones even if the warning filter was bypassed."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageLoadError(name, f"image has no pixels ({width}x{height})")
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ImageLoadError(
            name,
            f"image too large to decode safely ({width}x{height} = {width * height} pixels "
            f"exceeds the limit of {limit} pixels; possible decompression bomb)",
        )


def _to_rgb(im: Image.Image, name: str) -> Image.Image:
    """Convert a decoded image of any Pillow mode to 8-bit RGB."""
    mode = im.mode
    if mode in _UINT16_MODES:
        return _grey_to_rgb(_uint16_to_uint8(np.asarray(im)))
    if mode == "I":
        return _grey_to_rgb(_int32_to_uint8(np.asarray(im)))
    if mode == "F":
        return _grey_to_rgb(_float_to_uint8(np.asarray(im)))
    if mode in _ALPHA_MODES or "transparency" in im.info:
        return _flatten_onto_white(im, name)
    if mode == "RGB":
        return im
    return _convert(im, "RGB", name)  # 1, L, P, CMYK, YCbCr, LAB, HSV, RGBX


def _convert(im: Image.Image, mode: str, name: str) -> Image.Image:
    try:
        return im.convert(mode)
    except ValueError as exc:
        raise ImageLoadError(name, f"unsupported pixel format {im.mode!r} ({exc})") from exc


def _flatten_onto_white(im: Image.Image, name: str) -> Image.Image:
    """Composite an image with alpha (or a transparent colour/palette entry) onto white."""
    if im.mode == "La":
        im = _convert(im, "LA", name)  # Pillow cannot convert premultiplied "La" to RGBA directly
    rgba = _convert(im, "RGBA", name)
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _grey_to_rgb(grey: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8)).convert("RGB")


def _uint16_to_uint8(values: np.ndarray) -> np.ndarray:
    """0..65535 -> 0..255 with rounding (65535 / 257 == 255 exactly)."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _int32_to_uint8(values: np.ndarray) -> np.ndarray:
    """Mode "I": 16-bit PNG/PGM/TIFF data holds 0..65535; anything else is min-max stretched."""
    if values.size and values.min() >= 0 and values.max() <= 65535:
        return _uint16_to_uint8(values)
    return _stretch_to_uint8(values.astype(np.float64))


def _float_to_uint8(values: np.ndarray) -> np.ndarray:
    """Mode "F": data within 0..1 or 0..255 keeps its scale, other ranges are stretched."""
    values = np.where(np.isfinite(values), values, 0.0).astype(np.float64)
    low, high = (values.min(), values.max()) if values.size else (0.0, 0.0)
    if low >= 0.0 and high <= 1.0:
        return np.floor(values * 255.0 + 0.5).astype(np.uint8)
    if low >= 0.0 and high <= 255.0:
        return np.floor(values + 0.5).astype(np.uint8)
    return _stretch_to_uint8(values)


def _stretch_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map min..max linearly onto 0..255 (a constant image becomes black)."""
    low = values.min() if values.size else 0.0
    span = (values.max() - low) if values.size else 0.0
    if span <= 0:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.floor((values - low) * (255.0 / span) + 0.5).astype(np.uint8)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
