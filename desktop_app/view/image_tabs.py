"""The tabs that follow the selected image: Explain, Compare and Inspect, their panels and controllers together.

Each of them looks at the image selected in the list (and, for Explain and Inspect, the loaded model)
and runs its work in the window's job runner. :class:`ImageTabs` builds the three panels, puts them in
the window's tab widget (Explain after Prediction, Compare after it, Inspect before Model info) and
forwards what they all need to hear: a new current image, a new (or no) model, the models folder's
files, and shutdown. It is given the collaborators it uses, never the window. Compare runs the models on
the window's Engine choice (ONNX Runtime, CUDA or OpenVINO); Explain and Inspect build ONNX Runtime graphs,
so they run on ``provider`` (by default the choice's ONNX Runtime provider, :func:`backend.ort_provider`).

Example::

    python -m desktop_app   # drop a photo, then Model > Explain Prediction (Ctrl+Shift+E)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QTabWidget, QWidget

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.runtime import EngineModel, SessionCache
from desktop_app.view import backend
from desktop_app.view.compare import CompareController
from desktop_app.view.compare_panel import ComparePanel
from desktop_app.view.explain import ExplainController
from desktop_app.view.explain_panel import ExplainPanel
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.inspect import InspectController
from desktop_app.view.inspect_panel import InspectPanel
from desktop_app.view.result_panel import ResultPanel
from desktop_app.view.workers import TaskRunner

Notify = Callable[[str, int], None]


class ImageTabs(QObject):
    """Explain, Compare and Inspect: see the module docstring. ``after`` is the tab they follow (Prediction),
    ``before`` the one Inspect precedes (Model info); ``engine_choice`` gives a key of
    :data:`~desktop_app.view.backend.ENGINE_CHOICES`."""

    def __init__(
        self,
        tabs: QTabWidget,
        runner: TaskRunner,
        cache: SessionCache,
        *,
        after: QWidget,
        before: QWidget,
        engine_choice: Callable[[], str],
        provider: Callable[[], str] | None = None,
        notify: Notify,
        current_model: Callable[[], EngineModel | None],
        current_image: Callable[[], ImageRecord | None],
        show_tab: Callable[[QWidget], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        ort_provider = provider or (lambda: backend.ort_provider(engine_choice()))
        self.explain_panel, self.compare_panel, self.inspect_panel = ExplainPanel(), ComparePanel(), InspectPanel()
        tabs.insertTab(tabs.indexOf(after) + 1, self.explain_panel, "Explain")
        tabs.insertTab(tabs.indexOf(self.explain_panel) + 1, self.compare_panel, "Compare")
        tabs.insertTab(tabs.indexOf(before), self.inspect_panel, "Inspect")
        self.explain = ExplainController(
            self.explain_panel,
            runner,
            cache,
            provider=ort_provider,
            notify=notify,
            current_model=current_model,
            current_image=current_image,
            show_panel=lambda: show_tab(self.explain_panel),
            parent=self,
        )
        self.compare = CompareController(
            self.compare_panel,
            runner,
            cache,
            engine_choice=engine_choice,
            notify=notify,
            current_image=current_image,
            show_panel=lambda: show_tab(self.compare_panel),
            parent=self,
        )
        self._current_model, self._notify, self._show_tab = current_model, notify, show_tab
        if isinstance(after, ResultPanel):  # the Prediction view's "Where?" buttons
            after.explainRequested.connect(self.explain_label)
        self.inspect = InspectController(
            self.inspect_panel,
            runner,
            cache,
            provider=ort_provider,
            notify=notify,
            current_model=current_model,
            current_image=current_image,
            show_panel=lambda: show_tab(self.inspect_panel),
            parent=self,
        )

    def explain_label(self, label: str) -> None:
        """The map of the class named ``label`` for the current image, in the Explain tab brought forward."""
        model = self._current_model()
        labels = model.entry.labels if model is not None else ()
        if label not in labels:
            self._notify(f"No class named {label!r} in the current model", 8000)
            return
        self._show_tab(self.explain_panel)
        self.explain.explain_class(labels.index(label))

    @property
    def actions(self) -> list[QAction]:
        """Explain Prediction, Compare Models and Inspect Layers (for the Model menu and the toolbar)."""
        return [self.explain.action, self.compare.action, self.inspect.action]

    def image_changed(self) -> None:
        for controller in (self.explain, self.compare, self.inspect):
            controller.image_changed()

    def model_changed(self, model: EngineModel | None) -> None:
        """The window's model is ``model`` now (None while another one loads, or when none is left)."""
        self.explain.model_changed(model)
        self.inspect.model_changed(model)

    def set_models(self, entries: Sequence[ModelEntry], current: ModelEntry | None) -> None:
        self.compare.set_models(entries, current)
        self.inspect.set_models(entries)

    def shutdown(self, msecs: int = 30000) -> None:
        for controller in (self.explain, self.compare, self.inspect):
            controller.shutdown(msecs)
