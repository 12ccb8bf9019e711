"""HEIC/HEIF photos (what phones take) for Pillow, through ``pi-heif`` when it is installed.

``pi-heif`` is the decode-only build of ``pillow-heif`` by the same maintainers: its wheels bundle libheif and
the libde265 HEVC decoder (both LGPL) and leave out the x265 encoder (GPL) that ``pillow-heif``'s wheels
carry, which an Apache-2.0 application that only reads photos does not need. Importing this module registers
the opener once, before :mod:`workbench.imageio` lists the extensions Pillow can open; without ``pi-heif``,
HEIC files are refused with a message that says so.

Example::

    python -c "from workbench.heif import HEIF_SUPPORT; print(HEIF_SUPPORT)"
"""

from __future__ import annotations

import importlib.util

__all__ = ["HEIF_SUPPORT"]

#: Whether Pillow can open .heic/.heif files in this installation.
HEIF_SUPPORT = importlib.util.find_spec("pi_heif") is not None

if HEIF_SUPPORT:
    import pi_heif

    pi_heif.register_heif_opener()
