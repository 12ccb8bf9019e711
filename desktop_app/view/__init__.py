"""The Qt view of the workbench: the only package that imports PySide6.

Everything slow (decoding, session creation, inference, profiling) runs in
:class:`~desktop_app.view.workers.TaskRunner` workers; widgets only display results.

Example::

    python -m desktop_app --models-dir ~/my-models
"""
