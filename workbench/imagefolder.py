"""The ImageFolder rules shared by training and evaluation: which subfolders are classes, which files are images.

A class is a subfolder of the data folder whose name does not start with ``.``; its images are the files
anywhere below it whose suffix is in :data:`workbench.imageio.IMAGE_EXTENSIONS` (any case) and whose name
does not start with ``.`` (``._IMG_0001.jpg`` AppleDouble files, ``.DS_Store``). A pre-split tree holds
the :data:`SPLITS` folders, each an ImageFolder of its own.

Example::

    python -c "from pathlib import Path; from workbench.imagefolder import class_folders as f; print(f(Path('.')))"
"""

from __future__ import annotations

from pathlib import Path

from workbench.imageio import IMAGE_EXTENSIONS

#: The split folders of a pre-split ImageFolder, in training order.
SPLITS = ("train", "val", "test")


def class_folders(folder: Path) -> list[Path]:
    """The class subfolders of ``folder``, sorted by name (hidden ones skipped); ``[]`` when it has none."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def class_files(class_dir: Path) -> list[Path]:
    """The image files anywhere below ``class_dir``, sorted by path string (hidden files skipped)."""
    return sorted(
        (
            p
            for p in class_dir.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        ),
        key=str,
    )
