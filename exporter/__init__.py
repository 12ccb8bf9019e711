"""Export the registered CNNs to verified, self-describing ONNX files (``python -m exporter``).

Example::

    python -m exporter export --default
"""
