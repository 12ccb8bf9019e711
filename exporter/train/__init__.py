"""Training: fine-tune or train any registered architecture on ImageFolder or Pascal VOC data, then export.

Modules: :mod:`~exporter.train.data` (ImageFolder, splits, datasets, samplers), :mod:`~exporter.train.voc`
(VOC 2012 devkit reader), :mod:`~exporter.train.augment` (training augmentation and the evaluation
preprocessing), :mod:`~exporter.train.features` (frozen-backbone feature cache), :mod:`~exporter.train.loop`
(training loop, DDP), :mod:`~exporter.train.checkpoint` and :mod:`~exporter.train.cli` (the ``train`` command).

Example::

    python -m exporter train --model resnet18 --data ~/digits --weights random --image-size 32 \\
        --epochs 8 --out runs/digits
"""
