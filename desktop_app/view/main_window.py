"""The workbench main window: toolbar, image list; Prediction, Explain, Compare, Timing, Evaluate, Inspect, Model info.

All slow work goes through :class:`~desktop_app.view.workers.TaskRunner`; every job carries a
generation number and results from stale generations are dropped. A model that fails to load never
costs the working one: the window goes back to it and says why the new one failed. Text from files
and file names is shown as plain text (:mod:`desktop_app.view.text`).

Example::

    CNN_WORKBENCH_SETTINGS=/tmp/wb.ini python -m desktop_app --models-dir ~/models
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import QComboBox, QMainWindow, QSplitter, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.runtime import EngineModel, SessionCache
from desktop_app.view import backend
from desktop_app.view.about import show_about
from desktop_app.view.batch import LIST_PAGE, BatchController
from desktop_app.view.batch_progress import BatchProgress
from desktop_app.view.empty_state import EmptyState, create_command
from desktop_app.view.evaluate import EvaluateController
from desktop_app.view.evaluate_panel import EvaluatePanel
from desktop_app.view.image_list import ImageList
from desktop_app.view.image_tabs import ImageTabs
from desktop_app.view.intake import ImageIntake
from desktop_app.view.model_combo import ModelCombo
from desktop_app.view.model_files import ModelFiles
from desktop_app.view.model_info import ModelInfoPanel
from desktop_app.view.overrides_action import OverridesController
from desktop_app.view.result_panel import ResultPanel
from desktop_app.view.settings import DISPLAY_NAME, AppSettings
from desktop_app.view.status_line import StatusLine
from desktop_app.view.timing import TimingController, remember_timing, restore_timing
from desktop_app.view.timing_panel import TimingPanel
from desktop_app.view.window_actions import ListActions, models_folder_action
from desktop_app.view.window_menus import fill_menus, make_toolbar, window_title
from desktop_app.view.workers import TaskRunner
from workbench.paths import models_dir as default_models_dir

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """See the module docstring. Signals let tests and scripts wait for background work."""

    modelsScanned = Signal(int)  # number of files listed
    modelLoaded = Signal(object)  # backend.Loaded
    modelFailed = Signal(str)  # one-line reason
    imageClassified = Signal(int)  # key of the list row that got its result (or error)
    batchFinished = Signal()  # every listed image has a result or an error

    def __init__(
        self,
        models_dir: str | os.PathLike[str] | None = None,
        settings: AppSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(window_title(None))
        self.setAcceptDrops(True)
        self.settings = settings or AppSettings()
        self.models_dir = default_models_dir(models_dir)
        self.runner = TaskRunner(max_threads=2, parent=self)
        self.cache = SessionCache()
        self.entries: list[ModelEntry] = []  # the models folder's, then the files opened from anywhere
        self.scanned: list[ModelEntry] = []  # the models folder's
        self.opened: list[ModelEntry] = []  # File > Open Model… and dropped .onnx files, for this session
        self.loaded: backend.Loaded | None = None
        self._model_gen = 0  # bumped on every model/provider switch
        self.scan_count = 0  # completed scans of the models folder
        self._loading: tuple[ModelEntry, str] | None = None  # (entry, provider) of the load in progress
        self._fallback: backend.Loaded | None = None  # the working model while another one loads
        self._build_widgets()
        self._build_controllers()
        self._build_actions()
        self.batch.classified.connect(self.imageClassified)
        self.batch.finished.connect(self.batchFinished)
        self._watch_models_dir()
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1180, 760)
        problems = self.settings.check()  # every stored value is validated; bad ones fall back to defaults
        problems += backend.unoffered_notes(self.settings.engine_choice, self.engine_choice())
        if problems:
            self.notify(" · ".join(problems), 60000)
        self.rescan()

    # ---- construction -------------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.model_combo = ModelCombo()
        self.model_combo.activated.connect(self._on_model_chosen)
        self.provider_combo = QComboBox()  # the Engine choice (backend.ENGINE_CHOICES: what is installed here)
        self.provider_combo.setObjectName("providerCombo")
        self.provider_combo.setToolTip("Engine and device; the status bar says what really ran")
        for text, value in backend.engine_items():
            self.provider_combo.addItem(text, value)
        self.provider_combo.setCurrentIndex(max(0, self.provider_combo.findData(self.settings.engine_choice)))
        self.provider_combo.currentIndexChanged.connect(self._on_provider_changed)
        self.image_list = ImageList()
        self.batch_progress = BatchProgress()
        self.result_panel = ResultPanel()
        self.timing_panel = TimingPanel()
        restore_timing(self.timing_panel, self.settings)
        self.info_panel = ModelInfoPanel()
        self.evaluate_panel = EvaluatePanel()
        self.tabs = QTabWidget()  # Explain, Compare and Inspect join it with their controllers (ImageTabs)
        self.tabs.addTab(self.result_panel, "Prediction")
        self.tabs.addTab(self.timing_panel, "Timing")
        self.tabs.addTab(self.evaluate_panel, "Evaluate")
        self.tabs.addTab(self.info_panel, "Model info")
        list_pane = QWidget()
        pane_layout = QVBoxLayout(list_pane)
        pane_layout.setContentsMargins(0, 0, 0, 0)
        pane_layout.setSpacing(0)
        pane_layout.addWidget(self.image_list, 1)
        pane_layout.addWidget(self.batch_progress)
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(list_pane)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes(self.settings.splitter or [300, 860])
        self.empty_state = EmptyState()
        self.empty_state.rescan.clicked.connect(self.rescan)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_state)
        self.stack.addWidget(splitter)
        self.setCentralWidget(self.stack)
        self.status = StatusLine(self)
        self.provider_label = self.status.provider_label
        self.golden_label = self.status.golden_label
        self.load_label = self.status.load_label
        self.message_label = self.status.message_label

    def _build_controllers(self) -> None:
        """The batch, timing and evaluate controllers, each given the widgets it drives and callables for the rest."""
        self.batch = BatchController(
            self.image_list,
            self.batch_progress,
            self.result_panel,
            self.stack,
            self.runner,
            notify=self.notify,
            current_model=self._current_model,
            model_chosen=lambda: self.current_entry() is not None,
            parent=self,
        )
        self.timing = TimingController(
            self.timing_panel,
            self.runner,
            notify=self.notify,
            current_model=self._current_model,
            current_image=self.image_list.current_record,
            show_panel=lambda: self.tabs.setCurrentWidget(self.timing_panel),
            start_folder=lambda: self.settings.last_folder,
            parent=self,
        )
        self.batch.currentShown.connect(self.timing.image_changed)
        self.evaluate = EvaluateController(
            self.evaluate_panel,
            self.runner,
            self.cache,
            engine_choice=self.engine_choice,
            notify=self.notify,
            show_panel=lambda: self._show_tab(self.evaluate_panel),
            start_folder=lambda: self.settings.last_folder,
            parent=self,
        )
        self.profile_action = self.timing.action
        self.model_files = ModelFiles(self, self.runner, self.settings, notify=self.notify, open_entry=self.open_entry)
        self.intake = ImageIntake(
            self,
            self.runner,
            add_paths=self.add_paths,
            add_sources=self.batch.add_sources,
            open_models=self.model_files.open_paths,
            notify=self.notify,
            start_folder=lambda: self.settings.last_folder,
            drag_active=self.empty_state.set_drag_hint,
        )
        self._build_image_tabs()

    def _build_image_tabs(self) -> None:
        """Explain, Compare and Inspect (they follow the selected image), then the tab shown last time."""
        self.image_tabs = ImageTabs(
            self.tabs,
            self.runner,
            self.cache,
            after=self.result_panel,
            before=self.info_panel,
            engine_choice=self.engine_choice,
            notify=self.notify,
            current_model=self._current_model,
            current_image=self.image_list.current_record,
            show_tab=self._show_tab,
            parent=self,
        )
        self.compare, self.compare_panel = self.image_tabs.compare, self.image_tabs.compare_panel
        self.explain, self.inspect = self.image_tabs.explain, self.image_tabs.inspect
        self.explain_panel, self.inspect_panel = self.image_tabs.explain_panel, self.image_tabs.inspect_panel
        self.batch.currentShown.connect(self.image_tabs.image_changed)
        names = [self.tabs.tabText(i).lower() for i in range(self.tabs.count())]
        self.tabs.setCurrentIndex(names.index(self.settings.tab) if self.settings.tab in names else 0)

    def _build_actions(self) -> None:
        self.open_action = QAction("&Open Images…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Open))
        self.open_action.triggered.connect(self.intake.open_files)
        self.open_folder_action = QAction("Open &Folder…", self, shortcut=QKeySequence("Ctrl+Shift+O"))
        self.open_folder_action.triggered.connect(self.intake.open_folder)
        self.paste_action = QAction("&Paste Image", self, shortcut=QKeySequence(QKeySequence.StandardKey.Paste))
        self.paste_action.triggered.connect(self.intake.paste)
        self.clear_action = QAction("&Clear Images", self, shortcut=QKeySequence("Ctrl+Shift+Backspace"))
        self.clear_action.setToolTip("Remove every image from the list (Ctrl+Shift+Backspace)")
        self.clear_action.triggered.connect(self.batch.clear)
        self.list_actions = ListActions(self.batch, clear_action=self.clear_action, parent=self)
        self.stop_action = QAction("&Stop Classifying", self, shortcut=QKeySequence(QKeySequence.StandardKey.Cancel))
        self.stop_action.triggered.connect(self.batch.stop)
        self.rescan_action = QAction("&Rescan Models", self, shortcut=QKeySequence("F5"))
        self.rescan_action.triggered.connect(self.rescan)
        self.models_folder_action = models_folder_action(self, lambda: self.models_dir, self.notify)
        reload = lambda: self.select_model(self.model_combo.currentIndex())  # noqa: E731
        self.overrides = OverridesController(self, self.runner, self.current_entry, reload, self.notify)
        self.about_action = QAction(f"&About {DISPLAY_NAME}", self, menuRole=QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(lambda: show_about(self, self.models_dir, self.settings.store.fileName()))
        self.quit_action = QAction("&Quit", self, shortcut=QKeySequence(QKeySequence.StandardKey.Quit))
        self.quit_action.triggered.connect(self.close)
        fill_menus(self)
        self.addToolBar(make_toolbar(self))

    def _show_tab(self, panel: QWidget) -> None:
        """Bring ``panel``'s tab forward (the tabs show beside the image list, even an empty one)."""
        self.stack.setCurrentIndex(LIST_PAGE)
        self.tabs.setCurrentWidget(panel)

    def _watch_models_dir(self) -> None:
        self.watcher = QFileSystemWatcher(self)
        self._rescan_timer = QTimer(self, singleShot=True, interval=600)
        self._rescan_timer.timeout.connect(self.rescan)
        self.watcher.directoryChanged.connect(lambda _path: self._rescan_timer.start())
        self.watcher.fileChanged.connect(lambda _path: self._rescan_timer.start())

    # ---- models ---------------------------------------------------------------------------------------------------
    def rescan(self) -> None:
        """List the models folder again (in a worker)."""
        folder = self.models_dir
        watched = folder if folder.is_dir() else next((p for p in folder.parents if p.is_dir()), None)
        if watched is not None and str(watched) not in self.watcher.directories():
            self.watcher.addPath(str(watched))  # a missing folder: its parent tells us when it appears
        self.runner.submit(
            lambda job: backend.scan(folder),
            on_result=self._on_scanned,
            on_error=lambda msg: self._on_scan_failed(str(folder), msg),
            name="scan",
        )

    def _on_scan_failed(self, folder: str, message: str) -> None:
        self._set_entries([])
        self.notify(f"Cannot list {folder}: {message}")
        self._update_empty_state()
        self.scan_count += 1

    def _on_scanned(self, entries: list[ModelEntry]) -> None:
        current = self.current_entry()
        self._set_entries(entries)
        self._update_empty_state()
        self.scan_count += 1
        self.modelsScanned.emit(len(entries))
        index = self._index_of(current) if current is not None else -1
        if index < 0 or not self.entries[index].usable:
            index = self.model_combo.pick_index(current.path.name if current is not None else self.settings.last_model)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)
            entry = self.entries[index]
            shown = self.loaded.model.entry if self.loaded is not None else (self._loading or (None,))[0]
            if shown != entry:  # another file, or the same file changed on disk
                self.select_model(index)
        elif self.loaded is not None:
            self._unload("The loaded model's file is gone; choose another model.")
        self._share_models()

    def _set_entries(self, scanned: list[ModelEntry]) -> None:
        """The dropdown: the models folder's files, then those opened from anywhere (not listed twice)."""
        self.scanned = scanned
        listed = {_same(e.path) for e in scanned}
        self.entries = scanned + [e for e in self.opened if _same(e.path) not in listed]
        self.model_combo.set_entries(self.entries)

    def _share_models(self) -> None:
        """The Evaluate and Compare tabs offer the same models as the dropdown."""
        self.evaluate.set_models(self.entries, self.current_entry())
        self.image_tabs.set_models(self.entries, self.current_entry())

    def open_entry(self, entry: ModelEntry) -> None:
        """A model opened from anywhere: it joins the dropdown for the session and is loaded."""
        self.opened = [e for e in self.opened if _same(e.path) != _same(entry.path)] + [entry]
        index = self._index_of(entry)
        if index < 0:
            current = self.model_combo.currentIndex()
            self._set_entries(self.scanned)
            self.model_combo.setCurrentIndex(current)
            self._update_empty_state()
            index = self._index_of(entry)
        self.select_model(index)
        self._share_models()

    def current_entry(self) -> ModelEntry | None:
        return self.model_combo.current_entry()

    def _current_model(self) -> EngineModel | None:
        return self.loaded.model if self.loaded is not None else None

    def _update_empty_state(self) -> None:
        has_model = any(e.usable for e in self.entries)
        self.empty_state.set_no_model(None if has_model else str(self.models_dir))
        self.empty_state.set_command(create_command(self.models_dir))
        if not has_model:
            self.status.show_state(f"No usable model in {self.models_dir}")

    def _on_model_chosen(self, index: int) -> None:
        if 0 <= index < len(self.entries) and self.entries[index].usable:
            self.select_model(index)

    def _on_provider_changed(self, _index: int) -> None:
        self.settings.remember_engine(self.engine_choice())
        if self.current_entry() is not None:
            self.select_model(self.model_combo.currentIndex())

    def notify(self, text: str, msecs: int = 10000) -> None:
        """A transient status message beside (never over) the provider that ran."""
        self.status.notify(text, msecs)

    def engine_choice(self) -> str:  # a key of backend.ENGINE_CHOICES
        return str(self.provider_combo.currentData())

    def provider(self) -> str:  # the ONNX Runtime provider, for the tabs that run ONNX Runtime only
        return backend.ort_provider(self.engine_choice())

    def select_model(self, index: int) -> None:
        """Load entry ``index`` on the chosen engine (worker), then reclassify what is listed. The working model is
        kept aside until the new one has loaded: if that fails, the window goes back to it (:meth:`_on_load_failed`).
        """
        entry = self.entries[index]
        if self.model_combo.currentIndex() != index:
            self.model_combo.setCurrentIndex(index)
        self.settings.last_model = entry.path.name
        self._model_gen += 1
        generation = self._model_gen
        provider = self.engine_choice()
        self._fallback = self.loaded or self._fallback  # a second pick during a load keeps the first model
        self.loaded = None
        self._loading = (entry, provider)
        self.batch.cancel()
        self._tell_model(None)
        self.info_panel.show_info(backend.model_info(entry))
        self.status.show_loading(entry, provider)
        self.runner.submit(
            lambda job: backend.load(self.cache, entry, provider),
            on_result=lambda loaded: self._on_loaded(generation, loaded),
            on_error=lambda message: self._on_load_failed(generation, entry, message),
            generation=generation,
            name="load",
        )

    def _on_loaded(self, generation: int, loaded: backend.Loaded) -> None:
        if generation != self._model_gen:
            return  # a newer model/provider choice superseded this load
        self._show_loaded(loaded)
        self._tell_model(loaded.model)
        self.modelLoaded.emit(loaded)
        self.batch.classify_all()

    def _show_loaded(self, loaded: backend.Loaded) -> None:
        """Make ``loaded`` the window's model: status bar, title and model tab (no reclassification)."""
        self.loaded = loaded
        self._loading = None
        self._fallback = None
        self.setWindowTitle(window_title(loaded.model.entry.name))
        self.status.show_loaded(loaded)
        self.info_panel.show_info(backend.model_info(loaded.model.entry, loaded))

    def _on_load_failed(self, generation: int, entry: ModelEntry, message: str) -> None:
        """The new model did not load: mark it unavailable and go back to the working one, saying why."""
        if generation != self._model_gen:
            return
        self._loading = None
        previous, self._fallback = self._fallback, None
        index = self._index_of(entry)
        provider_failed = previous is not None and previous.model.entry.path == entry.path
        if index >= 0 and not provider_failed:  # the file itself is refused, not just this provider
            self.model_combo.mark_unavailable(index, message)
            self.entries = self.model_combo.entries
        back = self._index_of(previous.model.entry) if previous is not None else -1
        if previous is None or back < 0 or not self.entries[back].usable:
            self.status.show_state(f"Could not load the model: {message}", message)
            self.batch.mark_all_pending("no model loaded")
        else:
            self._go_back(previous, back, message)
        self.modelFailed.emit(message)

    def _go_back(self, previous: backend.Loaded, index: int, message: str) -> None:
        """Show ``previous`` (entry ``index``) again after another model would not load; keep every result."""
        self._model_gen += 1
        self.model_combo.setCurrentIndex(index)
        self.settings.last_model = previous.model.entry.path.name
        provider_index = self.provider_combo.findData(previous.choice)
        if provider_index >= 0 and provider_index != self.provider_combo.currentIndex():
            self.provider_combo.blockSignals(True)  # going back is not a new provider choice
            self.provider_combo.setCurrentIndex(provider_index)
            self.provider_combo.blockSignals(False)
            self.settings.remember_engine(previous.choice)
        self._show_loaded(previous)
        self._tell_model(previous.model)
        # ``message`` names the refused file first; the full text is in the tooltip when the bar elides it
        self.notify(f"Not loaded, kept the working model: {message}", 60000)
        self.batch.classify_all(only_missing=True)  # rows dropped while it was loading; the rest keep their results

    def _tell_model(self, model: EngineModel | None) -> None:
        """Timing, Explain and Inspect follow the window's model (None while another loads, or when none is left)."""
        if model is None:
            self.timing.reset()
        else:
            self.timing.model_changed(model)
        self.image_tabs.model_changed(model)

    def _index_of(self, entry: ModelEntry) -> int:
        """The combo index of ``entry``'s file now (the list may have been rescanned meanwhile), else -1."""
        return next((i for i, e in enumerate(self.entries) if _same(e.path) == _same(entry.path)), -1)

    def _unload(self, message: str) -> None:
        self._model_gen += 1
        self.loaded = None
        self._fallback = None
        self._loading = None
        self.batch.cancel()
        self._tell_model(None)
        self.info_panel.show_info(None)
        self.status.show_state(message)

    # ---- images ---------------------------------------------------------------------------------------------------
    def add_paths(self, paths: Sequence[str]) -> None:
        """Add the images in ``paths`` to the list (folders searched recursively, in a worker) and classify them."""
        if paths:
            first = Path(paths[0]).absolute()
            self.settings.last_folder = str(first if first.is_dir() else first.parent)
            self.batch.add_paths(paths)

    # ---- drag and drop (the intake decides) ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # Qt override
        self.intake.drag_enter(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # Qt override
        self.intake.drag_move(event)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # Qt override
        self.intake.drag_leave()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # Qt override
        self.intake.drop(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        self.settings.geometry = self.saveGeometry()
        remember_timing(self.timing_panel, self.settings)
        if any(self.splitter.sizes()):
            self.settings.splitter = self.splitter.sizes()
        self.settings.tab = self.tabs.tabText(self.tabs.currentIndex()).lower()
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, msecs: int = 30000) -> None:
        """Cancel pending work and wait for the workers (so no signal reaches a dead window)."""
        self._model_gen += 1
        self.batch.cancel()
        self.runner.cancel_all()
        self.evaluate.shutdown(msecs)
        self.image_tabs.shutdown(msecs)
        self.runner.wait(msecs)


def _same(path: Path) -> Path:
    """``path`` as one file is named once, whichever way it was reached (models folder, dialog, drop)."""
    return Path(os.path.realpath(path))
