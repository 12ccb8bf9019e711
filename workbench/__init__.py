"""The ground floor of the workbench: what the exporter and the app share, with no torch and no Qt.

* :mod:`workbench.contract`: the metadata contract of our ONNX files (``ModelCard``, the golden self-test).
* :mod:`workbench.modelfile`: static checks of an ONNX classifier file, reading only what is needed.
* :mod:`workbench.preprocess`: the one implementation of the input preprocessing (Pillow + numpy).
* :mod:`workbench.imageio`: robust image decoding and folder walking.
* :mod:`workbench.labels`: the shipped label sets (ImageNet-1k with WordNet ids, VOC 2012) and labels files.
* :mod:`workbench.imagefolder`, :mod:`workbench.voc`: the rules of an ImageFolder tree and of a Pascal VOC
  devkit (label = largest non-difficult object), shared by training and evaluation.
* :mod:`workbench.paths`: the per-user folders (models, caches), by platformdirs.
* :mod:`workbench.atomic`: atomic writes and cleaning up after killed writers.
* :mod:`workbench.names`: file names shown and written losslessly (escaped).
* :mod:`workbench.cpu`: what the CPU is and which instruction sets it has.

``models``, ``exporter`` and ``desktop_app`` stand on it; it imports none of them (``lint-imports``).

Example::

    python -c "from workbench.labels import load_labels, load_wnids; print(load_labels('imagenet-1k')[281], \\
load_wnids('imagenet-1k')[281])"
"""
