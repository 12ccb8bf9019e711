"""``python -m exporter``: see :mod:`exporter.cli`.

Example::

    python -m exporter --help
"""

import sys

from exporter.cli import main

sys.exit(main())
