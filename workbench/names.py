"""One way to show file names (and other untrusted text) everywhere: printable, on one line, nothing lost.

A file name on Linux is bytes; Python turns bytes that are not valid in the file-system encoding into
lone surrogates (``os.fsdecode``'s ``surrogateescape``), which a strict UTF-8 stream refuses to write.
:func:`display_path` writes each such byte as ``\\xNN`` (the byte itself, as ``backslashreplace``
does for bytes), so ``b"caf\\xe9.jpg"`` is shown ``caf\\xe9.jpg`` in messages, tables and JSON alike.
ASCII control characters (a newline or an ESC in a name) are written ``\\xNN`` too, and other control,
line-separator and bidirectional-override code points ``\\uXXXX``; every other character is kept, so a
valid name is shown unchanged. A backslash itself is kept as it is (Windows paths stay readable).

Example::

    python -c "import os; from workbench.names import display_path; print(display_path(b'caf\\xe9.jpg'))"
"""

from __future__ import annotations

import os
import re

__all__ = ["display_path", "natural_key", "printable"]

# Lone surrogates (undecodable bytes of a file name), C0/C1 controls and DEL, line/paragraph separators,
# bidirectional embeddings, overrides and isolates.
_DIGITS = re.compile(r"(\d+)")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` safe to print in any locale and on one line, with nothing lost.

    A lone surrogate from ``os.fsdecode`` (an undecodable byte ``NN`` of a file name) and an ASCII
    control character become ``\\xNN``, i.e. always the byte itself; other control, separator and
    bidirectional-override code points become ``\\uXXXX``. Everything else is kept unchanged.
    """
    return _UNPRINTABLE.sub(_escape_char, text)


def display_path(path: str | os.PathLike[str] | bytes) -> str:
    """A file name as it is shown and written everywhere (messages, tables, JSON): see :func:`printable`.

    Example: the name ``b"caf\\xe9.jpg"`` (latin-1 bytes in a UTF-8 file system) is shown ``caf\\xe9.jpg``.
    """
    return printable(os.fsdecode(path))


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # surrogateescape: the original byte
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def natural_key(name: str | os.PathLike[str]) -> tuple[object, ...]:
    """Sort key putting ``img2`` before ``img10`` (runs of digits compare as numbers, the rest case-insensitively;
    the exact text breaks ties), the order a file manager shows."""
    text = os.fspath(name)
    parts = _DIGITS.split(text)
    return (tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), text)
