"""Pillow <-> Qt image conversion (QImage is safe to build off the GUI thread; QPixmap is not).

Example::

    python -c "from PIL import Image; from desktop_app.view.qimage import to_qimage; \\
print(to_qimage(Image.new('RGB', (4, 3))).size())"
"""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage

PREVIEW_SIDE = 640
THUMB_SIDE = 64


def to_qimage(img: Image.Image) -> QImage:
    """A deep-copied RGB888 QImage of an RGB Pillow image."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    width, height = rgb.size
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def shrunk(img: Image.Image, side: int) -> Image.Image:
    """A copy no larger than ``side`` x ``side`` (aspect kept)."""
    small = img.copy()
    small.thumbnail((side, side), Image.Resampling.BILINEAR)
    return small


def qimage_to_png_bytes(image: QImage) -> bytes:
    """Encode a QImage (e.g. from the clipboard) as PNG bytes for ``imageio.load_image``."""
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # PySide6's stub types ``format`` as bytes, but the binding accepts only str (bytes raise ValueError)
    if not image.save(buffer, "PNG"):  # type: ignore[call-overload]
        raise ValueError("could not encode the pasted image as PNG")
    buffer.close()
    return bytes(array.data())
