"""The workbench main window: toolbar, image list, result view, timing and model-info tabs.

All slow work goes through :class:`~desktop_app.view.workers.TaskRunner`; every job carries a
generation number and results from stale generations are dropped.

Example::

    CNN_WORKBENCH_SETTINGS=/tmp/wb.ini python -m desktop_app --models-dir ~/models
"""

from __future__ import annotations

import logging
import os
import shlex
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
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QWidget,
)

from desktop_app.core.imageio import CLIPBOARD_NAME, IMAGE_EXTENSIONS
from desktop_app.core.paths import models_dir as default_models_dir
from desktop_app.core.session import ModelEntry, SessionCache
from desktop_app.view import backend
from desktop_app.view.batch import BatchController
from desktop_app.view.elided_label import ElidedLabel
from desktop_app.view.empty_state import CREATE_COMMAND, EmptyState
from desktop_app.view.image_list import ImageList
from desktop_app.view.model_combo import ModelCombo
from desktop_app.view.model_info import ModelInfoPanel
from desktop_app.view.result_panel import ResultPanel
from desktop_app.view.settings import AppSettings
from desktop_app.view.timing import TimingController
from desktop_app.view.timing_panel import TimingPanel
from desktop_app.view.workers import TaskRunner

log = logging.getLogger(__name__)
PROVIDER_ITEMS = (("Auto", "auto"), ("CUDA", "cuda"), ("CPU", "cpu"))


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
        self.setWindowTitle("CNN Workbench")
        self.setAcceptDrops(True)
        self.settings = settings or AppSettings()
        self.models_dir = default_models_dir(models_dir)
        self.runner = TaskRunner(max_threads=2, parent=self)
        self.cache = SessionCache()
        self.entries: list[ModelEntry] = []
        self.loaded: backend.Loaded | None = None
        self._model_gen = 0  # bumped on every model/provider switch
        self.scan_count = 0  # completed scans of the models folder
        self._preview_pending: set[int] = set()
        self._loading: tuple[ModelEntry, str] | None = None  # (entry, provider) of the load in progress
        self._build_widgets()
        self._build_actions()
        self.timing = TimingController(self, self.timing_panel)
        self.batch = BatchController(self)
        self.batch.classified.connect(self.imageClassified)
        self.batch.finished.connect(self.batchFinished)
        self._watch_models_dir()
        if self.settings.geometry is not None:
            self.restoreGeometry(self.settings.geometry)
        else:
            self.resize(1180, 760)
        self.rescan()

    # ---- construction -------------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.model_combo = ModelCombo()
        self.model_combo.activated.connect(self._on_model_chosen)
        self.provider_combo = QComboBox()
        self.provider_combo.setObjectName("providerCombo")
        for text, value in PROVIDER_ITEMS:
            self.provider_combo.addItem(text, value)
        self.provider_combo.setCurrentIndex(max(0, self.provider_combo.findData(self.settings.provider)))
        self.provider_combo.currentIndexChanged.connect(self._on_provider_changed)
        self.image_list = ImageList()
        self.image_list.currentItemChanged.connect(lambda *_: self.show_current())
        self.result_panel = ResultPanel()
        self.timing_panel = TimingPanel()
        self.timing_panel.runs.setValue(self.settings.profile_runs)
        self.info_panel = ModelInfoPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.result_panel, "Prediction")
        self.tabs.addTab(self.timing_panel, "Timing")
        self.tabs.addTab(self.info_panel, "Model info")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.image_list)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 860])
        self.empty_state = EmptyState()
        self.empty_state.rescan.clicked.connect(self.rescan)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_state)
        self.stack.addWidget(splitter)
        self.setCentralWidget(self.stack)
        self.provider_label = ElidedLabel("No model loaded")
        self.provider_label.setObjectName("providerStatus")
        self.golden_label = QLabel("")
        self.load_label = QLabel("")
        self.message_label = ElidedLabel("")
        self.message_label.setObjectName("statusMessage")
        self._message_timer = QTimer(self, singleShot=True)
        self._message_timer.timeout.connect(lambda: self.message_label.setText(""))
        status = self.statusBar()
        status.addWidget(self.provider_label, 3)
        status.addWidget(self.message_label, 2)
        status.addPermanentWidget(self.golden_label)
        status.addPermanentWidget(self.load_label)

    def _build_actions(self) -> None:
        self.open_action = QAction("&Open Images…", self, shortcut=QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self.open_files)
        self.open_folder_action = QAction("Open &Folder…", self, shortcut=QKeySequence("Ctrl+Shift+O"))
        self.open_folder_action.triggered.connect(self.open_folder)
        self.paste_action = QAction("&Paste Image", self, shortcut=QKeySequence.StandardKey.Paste)
        self.paste_action.triggered.connect(self.paste)
        self.rescan_action = QAction("&Rescan Models", self, shortcut=QKeySequence("F5"))
        self.rescan_action.triggered.connect(self.rescan)
        self.profile_action = QAction("Profile", self, shortcut=QKeySequence("Ctrl+P"))
        self.profile_action.setToolTip("Time every layer of the current model on the current image")
        self.profile_action.triggered.connect(lambda: self.timing.profile(self.timing_panel.runs.value()))
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu = self.menuBar().addMenu("&File")
        for action in (self.open_action, self.open_folder_action, self.paste_action, self.rescan_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(quit_action)
        self.menuBar().addMenu("&Model").addAction(self.profile_action)
        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(QLabel(" Model: "))
        toolbar.addWidget(self.model_combo)
        toolbar.addAction(self.rescan_action)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Provider: "))
        toolbar.addWidget(self.provider_combo)
        toolbar.addSeparator()
        toolbar.addAction(self.open_action)
        toolbar.addAction(self.profile_action)
        self.addToolBar(toolbar)

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
        self.entries = []
        self.model_combo.set_entries([])
        self.notify(f"Cannot list {folder}: {message}")
        self._update_empty_state()
        self.scan_count += 1

    def _on_scanned(self, entries: list[ModelEntry]) -> None:
        current = self.current_entry()
        self.entries = entries
        self.model_combo.set_entries(entries)
        self._update_empty_state()
        self.scan_count += 1
        self.modelsScanned.emit(len(entries))
        wanted = current.path.name if current is not None else self.settings.last_model
        index = self.model_combo.pick_index(wanted)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)
            entry = entries[index]
            shown = self.loaded.model.entry if self.loaded is not None else (self._loading or (None,))[0]
            if shown != entry:  # another file, or the same file changed on disk
                self.select_model(index)
        elif self.loaded is not None:
            self._unload("The loaded model's file is gone; choose another model.")

    def current_entry(self) -> ModelEntry | None:
        return self.model_combo.current_entry()

    def _update_empty_state(self) -> None:
        has_model = any(e.usable for e in self.entries)
        self.empty_state.set_no_model(None if has_model else str(self.models_dir))
        self.empty_state.set_command(self.create_command())
        if not has_model:
            self.provider_label.setText(f"No usable model in {self.models_dir}")

    def create_command(self) -> str:
        """The exact command that writes the default model into this window's models folder."""
        if self.models_dir == default_models_dir():
            return CREATE_COMMAND
        return f"{CREATE_COMMAND} --out {shlex.quote(str(self.models_dir))}"

    def _on_model_chosen(self, index: int) -> None:
        if 0 <= index < len(self.entries) and self.entries[index].usable:
            self.select_model(index)

    def _on_provider_changed(self, _index: int) -> None:
        self.settings.provider = self.provider()
        if self.current_entry() is not None:
            self.select_model(self.model_combo.currentIndex())

    def notify(self, text: str, msecs: int = 10000) -> None:
        """A transient status message beside (never over) the provider that ran."""
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        self._message_timer.start(msecs)

    def provider(self) -> str:
        return str(self.provider_combo.currentData())

    def select_model(self, index: int) -> None:
        """Load entry ``index`` on the chosen provider (worker), then reclassify what is listed."""
        entry = self.entries[index]
        if self.model_combo.currentIndex() != index:
            self.model_combo.setCurrentIndex(index)
        self.settings.last_model = entry.path.name
        self._model_gen += 1
        generation = self._model_gen
        provider = self.provider()
        self.loaded = None
        self._loading = (entry, provider)
        self.batch.cancel()
        self.timing.reset()
        self.info_panel.show_info(backend.model_info(entry))
        self.provider_label.setText(f"Loading {entry.name} on {provider}…")
        self.golden_label.setText("")
        self.load_label.setText("")
        self.runner.submit(
            lambda job: backend.load(self.cache, entry, provider),
            on_result=lambda loaded: self._on_loaded(generation, loaded),
            on_error=lambda message: self._on_load_failed(generation, index, message),
            generation=generation,
            name="load",
        )

    def _on_loaded(self, generation: int, loaded: backend.Loaded) -> None:
        if generation != self._model_gen:
            return  # a newer model/provider choice superseded this load
        self.loaded = loaded
        self._loading = None
        self.setWindowTitle(f"CNN Workbench — {loaded.model.entry.name}")
        text, tooltip = backend.provider_status(loaded)
        self.provider_label.setText(f"Ran on: {text}")
        self.provider_label.setToolTip(tooltip)
        golden, ok = backend.golden_status(loaded.model)
        self.golden_label.setText("golden ✓" if ok else ("golden ✗ MISMATCH" if ok is False else "no golden test"))
        self.golden_label.setToolTip(golden)
        self.golden_label.setStyleSheet("color: #c62828; font-weight: 600;" if ok is False else "")
        self.load_label.setText("session from cache" if loaded.cached else f"loaded in {1000 * loaded.seconds:.0f} ms")
        self.info_panel.show_info(backend.model_info(loaded.model.entry, loaded))
        self.timing.model_changed(loaded)
        self.modelLoaded.emit(loaded)
        self.classify_all()

    def _on_load_failed(self, generation: int, index: int, message: str) -> None:
        if generation != self._model_gen:
            return
        self._loading = None
        self.model_combo.mark_unavailable(index, message)
        self.entries = self.model_combo.entries
        self.provider_label.setText(f"Could not load the model: {message}")
        self.provider_label.setToolTip(message)
        for key in self.image_list.records:
            self.image_list.set_pending(key, "no model loaded")
        self.modelFailed.emit(message)

    def _unload(self, message: str) -> None:
        self._model_gen += 1
        self.loaded = None
        self._loading = None
        self.batch.cancel()
        self.timing.reset()
        self.info_panel.show_info(None)
        self.provider_label.setText(message)

    # ---- images ---------------------------------------------------------------------------------------------------
    def add_paths(self, paths: Sequence[str]) -> None:
        """Replace the list with the images in ``paths`` (folders searched recursively, in a worker)."""
        if paths:
            first = Path(paths[0]).absolute()
            self.settings.last_folder = str(first if first.is_dir() else first.parent)
            self.batch.add_paths(paths)

    def add_clipboard_image(self, data: bytes) -> None:
        self.batch.add_sources([data])

    def classify_all(self) -> None:
        """(Re)classify every listed image with the loaded model."""
        self.batch.classify_all()

    def show_current(self) -> None:
        key = self.image_list.current_key()
        record = self.image_list.records.get(key) if key is not None else None
        if record is None:
            self.result_panel.clear()
            return
        self.result_panel.set_image(record.title, record.preview)
        if record.error:
            self.result_panel.show_message(record.error, error=True)
        elif record.scores:
            self.result_panel.show_scores(record.title, record.scores)
            if record.preview is None:
                self._request_preview(record.key, record.source)
        else:
            self.result_panel.show_scores(record.title, [])
            self.result_panel.show_message("classifying…" if self.loaded is not None else "waiting for a model…")
        self.timing.image_changed()

    def _request_preview(self, key: int, source: str | bytes) -> None:
        """Decode a preview that was dropped from the in-memory cache again (worker)."""
        if key in self._preview_pending:
            return
        self._preview_pending.add(key)

        def shown(image: object) -> None:
            self._preview_pending.discard(key)
            self.image_list.set_preview(key, image)
            if self.image_list.current_key() == key:
                self.result_panel.preview.set_image(image)

        def failed(message: str) -> None:
            self._preview_pending.discard(key)
            self.notify(f"Cannot show the image: {message}", 10000)

        self.runner.submit(lambda job: backend.preview(source), on_result=shown, on_error=failed, name="preview")

    def current_title(self) -> str:
        key = self.image_list.current_key()
        record = self.image_list.records.get(key) if key is not None else None
        return record.title if record is not None else ""

    def current_source(self) -> str | bytes | None:
        key = self.image_list.current_key()
        record = self.image_list.records.get(key) if key is not None else None
        return record.source if record is not None else None

    # ---- user actions -------------------------------------------------------------------------------------------
    def open_files(self) -> None:
        patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open images", self.settings.last_folder, f"Images ({patterns});;All files (*)"
        )
        self.add_paths(files)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.last_folder)
        if folder:
            self.add_paths([folder])

    def paste(self) -> None:
        """Ctrl+V: file URLs (copied files) or image data on the clipboard."""
        mime = QGuiApplication.clipboard().mimeData()
        files = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()] if mime is not None else []
        if files:
            self.add_paths(files)
        elif mime is not None and mime.hasImage():
            image = QGuiApplication.clipboard().image()
            self.runner.submit(
                lambda job: backend.clipboard_bytes(image),
                on_result=self.add_clipboard_image,
                on_error=lambda m: self.notify(f"{CLIPBOARD_NAME}: {m}", 10000),
            )
        else:
            self.notify("The clipboard holds no image and no image files", 8000)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # Qt override
        files = _dropped_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.empty_state.set_drag_active(True)
            self.notify(f"Release to classify {len(files)} item(s)", 3000)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # Qt override
        if _dropped_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # Qt override
        self.empty_state.set_drag_active(False)
        self.notify("", 0)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # Qt override
        self.empty_state.set_drag_active(False)
        files = _dropped_files(event.mimeData())
        if not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.notify("", 0)
        self.add_paths(files)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        self.settings.geometry = self.saveGeometry()
        self.settings.profile_runs = self.timing_panel.runs.value()
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, msecs: int = 30000) -> None:
        """Cancel pending work and wait for the workers (so no signal reaches a dead window)."""
        self._model_gen += 1
        self.batch.cancel()
        self.runner.cancel_all()
        self.runner.wait(msecs)


def _dropped_files(mime: object) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
