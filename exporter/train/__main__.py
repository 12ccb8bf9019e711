"""``python -m exporter.train``: the same as ``python -m exporter train`` (see :mod:`exporter.train.cli`).

Example::

    torchrun --nproc_per_node=2 -m exporter.train --model resnet18 --data ~/digits --image-size 32 --out runs/ddp
"""

import sys

from exporter.train.cli import main

sys.exit(main())
