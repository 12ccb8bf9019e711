"""``python -m desktop_app``: the desktop app, or the headless ``classify`` / ``profile`` commands.

Example::

    python -m desktop_app classify cat.jpg --json
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (also the ``cnn-workbench`` console script)."""
    from desktop_app.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
