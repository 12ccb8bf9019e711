"""The app's Qt-free, torch-free core: images, preprocessing, model files, sessions, classify, profile.

Only ONNX Runtime, onnx, Pillow and numpy; the Qt view (``desktop_app.view``) and the headless
CLI (``python -m desktop_app classify|profile``) are thin layers over it.

Example::

    python -m desktop_app classify photo.jpg --json
"""
