"""Export the registered CNNs to verified, self-describing ONNX files (``python -m exporter``).

``cli`` is the argparse layer over the typed library: ``api`` (export and verification with
``weights``, ``onnx_build``, ``verify``, ``hub``), ``quant/`` (the int8 and fp16 lowering, one module
per step), ``train/`` (training on an ImageFolder or VOC, then export) and ``bench`` (with its
real-photo set, ``bench_photos``).

Example::

    python -m exporter export --default
"""
