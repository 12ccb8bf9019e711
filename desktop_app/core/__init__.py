"""The app's Qt-free, torch-free core, on ONNX Runtime and the ground floor (:mod:`workbench`).

* :mod:`~desktop_app.core.catalog`: finding and describing model files; :mod:`~desktop_app.core.runtime`:
  opening and running them (:mod:`~desktop_app.core.providers`: which engine actually runs).
* :mod:`~desktop_app.core.classify`: top-k of images and folders; :mod:`~desktop_app.core.profiling`:
  per-layer timing in PyTorch module names.
* :mod:`~desktop_app.core.labelled`, :mod:`~desktop_app.core.evaluate`, :mod:`~desktop_app.core.metrics`,
  :mod:`~desktop_app.core.report`: labelled data sets, evaluation, its figures and its report files.

The Qt view (``desktop_app.view``) and the headless CLI (``python -m desktop_app classify|profile|evaluate``)
are thin layers over it.

Example::

    python -m desktop_app classify photo.jpg --json
"""
