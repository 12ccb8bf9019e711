"""The "Preprocessing and labels" dialog: override what was assumed for a model file, and see both side by side.

One field per overridable value (crop size, resize, interpolation, mean, std, channel order, value range,
labels file); an empty field or "assumed (...)" keeps the assumed value, shown as its placeholder. The
table below says, row by row, what was assumed and what is in use; changed rows are bold. Input that
cannot be used (``std 0``, a labels file with the wrong number of lines, a crop a fixed graph cannot
take) is explained under the table and keeps OK disabled. Model and file text is plain text.

The window opens it with :meth:`OverridesDialog.ask` and stores the answer (an
:class:`desktop_app.core.overrides.PreprocessOverrides`) in an :class:`~desktop_app.core.overrides.OverrideStore`.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; app = QApplication([]); \\
from desktop_app.core.catalog import inspect_model; from desktop_app.view.overrides_dialog import OverridesDialog; \\
d = OverridesDialog(inspect_model('foreign.onnx')); d.grab().save('/tmp/overrides_dialog.png')"
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.overrides import (
    CHANNEL_ORDERS,
    VALUE_RANGES,
    OverrideError,
    PreprocessOverrides,
    assumed_labels_text,
    describe,
    fixed_input_size,
    format_numbers,
    format_value_range,
    parse_numbers,
    parse_size,
    parse_triple,
)
from desktop_app.view.elided_label import ElidedLabel
from desktop_app.view.text import PlainLabel, shown, title
from workbench.preprocess import INTERPOLATIONS

__all__ = ["OverridesDialog"]

_ERROR_STYLE = "color: #b00020;"
T = TypeVar("T")


class OverridesDialog(QDialog):
    """Edit the overrides of the catalog's ``entry``; :meth:`overrides` is the answer once accepted."""

    def __init__(
        self, entry: ModelEntry, current: PreprocessOverrides | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        if entry.preprocess is None:
            raise ValueError(f"{entry.path.name}: unusable model, nothing to override")
        self.entry = entry
        self._assumed = entry.preprocess
        self.setWindowTitle(title(f"Preprocessing and labels — {entry.name}"))
        self._build()
        self.set_overrides(current or PreprocessOverrides())

    # ---- public ---------------------------------------------------------------------------------------------
    @classmethod
    def ask(
        cls, entry: ModelEntry, current: PreprocessOverrides | None = None, parent: QWidget | None = None
    ) -> PreprocessOverrides | None:
        """Show the dialog modally; the overrides chosen (empty = back to assumed), or ``None`` when cancelled."""
        dialog = cls(entry, current, parent)
        return dialog.overrides() if dialog.exec() == QDialog.DialogCode.Accepted else None

    def overrides(self) -> PreprocessOverrides:
        """The overrides the fields give.

        Raises:
            OverrideError: a field cannot be used (the message names it, as shown in the dialog).
        """
        values, problems = self._field_values()
        if problems:
            raise OverrideError(next(iter(problems.values())))
        return PreprocessOverrides(**values)  # type: ignore[arg-type]

    def in_use(self) -> dict[str, str]:
        """What each row's "In use" column shows, by field name (``size`` ... ``labels``)."""
        return {name: label.text() for name, label in self.in_use_labels.items()}

    @property
    def problem(self) -> str | None:
        """Why OK is disabled (the message shown), or ``None``."""
        return self._problem

    def set_overrides(self, overrides: PreprocessOverrides) -> None:
        """Fill the fields from ``overrides`` (``None`` fields show the assumed value)."""
        size = overrides.size
        self.size_edit.setText("" if size is None else (f"{size[0]}" if size[0] == size[1] else f"{size[0]}x{size[1]}"))
        self.resize_edit.setText("" if overrides.resize is None else str(overrides.resize))
        self.mean_edit.setText("" if overrides.mean is None else format_numbers(overrides.mean))
        self.std_edit.setText("" if overrides.std is None else format_numbers(overrides.std))
        _select(self.interpolation_combo, overrides.interpolation)
        _select(self.channel_combo, overrides.channel_order)
        _select(self.range_combo, None if overrides.value_range is None else _range_key(overrides.value_range))
        self.labels_edit.setText("" if overrides.labels_file is None else str(overrides.labels_file))
        self._refresh()

    def reset(self) -> None:
        """Back to every assumed value."""
        self.set_overrides(PreprocessOverrides())

    # ---- building -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        a = self._assumed
        self.size_edit = self._line(f"{a.crop[0]}x{a.crop[1]}")
        height, width = _fixed_size(self.entry)
        if height is not None and width is not None:
            self.size_edit.setEnabled(False)
            self.size_edit.setPlaceholderText(f"{a.crop[0]}x{a.crop[1]} (fixed by the graph)")
            self.size_edit.setToolTip("The model's graph takes this input size only")
        self.resize_edit = self._line(f"{a.resize}")
        self.mean_edit = self._line(format_numbers(a.mean))
        self.std_edit = self._line(format_numbers(a.std))
        self.interpolation_combo = self._combo(a.interpolation, list(INTERPOLATIONS))
        self.channel_combo = self._combo(a.channel_order, list(CHANNEL_ORDERS))
        self.range_combo = self._combo(format_value_range(a.value_range), list(VALUE_RANGES))
        self.labels_edit = self._line(assumed_labels_text(self.entry))
        self.labels_button = QPushButton("Choose…")
        self.labels_button.clicked.connect(self._choose_labels)
        labels_row = QHBoxLayout()
        labels_row.setContentsMargins(0, 0, 0, 0)
        labels_row.addWidget(self.labels_edit, 1)
        labels_row.addWidget(self.labels_button)
        editors: list[tuple[str, str, QWidget | QHBoxLayout]] = [
            ("size", "Size (crop, H x W)", self.size_edit),
            ("resize", "Resize shorter side (px)", self.resize_edit),
            ("interpolation", "Interpolation", self.interpolation_combo),
            ("mean", "Mean (R, G, B)", self.mean_edit),
            ("std", "Std (R, G, B)", self.std_edit),
            ("channel order", "Channel order", self.channel_combo),
            ("value range", "Value range", self.range_combo),
            ("labels", "Labels file", labels_row),
        ]
        self.error_label = PlainLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(_ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.reset_button = self.buttons.addButton("Reset to assumed", QDialogButtonBox.ButtonRole.ResetRole)
        self.reset_button.clicked.connect(self.reset)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self._intro())
        layout.addLayout(self._grid(editors))
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

    def _grid(self, editors: list[tuple[str, str, QWidget | QHBoxLayout]]) -> QGridLayout:
        """Field | Assumed | Override | In use, one row per field; the assumed and in-use columns are plain text."""
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        assumed_word = "Assumed" if self.entry.card is None else "In the file"
        for column, text in enumerate(("", assumed_word, "Override", "In use")):
            header = PlainLabel(text)
            font = QFont(header.font())
            font.setBold(True)
            header.setFont(font)
            grid.addWidget(header, 0, column)
        assumed = {row[0]: row[1] for row in describe(self.entry, None)}
        self.in_use_labels: dict[str, ElidedLabel] = {}
        for row, (name, caption, editor) in enumerate(editors, 1):
            grid.addWidget(PlainLabel(f"{caption}:"), row, 0)
            assumed_label = ElidedLabel(assumed[name])
            assumed_label.setToolTip(assumed[name])
            grid.addWidget(assumed_label, row, 1)
            if isinstance(editor, QHBoxLayout):
                grid.addLayout(editor, row, 2)
            else:
                grid.addWidget(editor, row, 2)
            self.in_use_labels[name] = ElidedLabel("")
            grid.addWidget(self.in_use_labels[name], row, 3)
        numbers = QFont(self.font())
        numbers.setBold(True)  # an overridden value is shown bold
        wide = QFontMetrics(numbers).horizontalAdvance("0.485, 0.456, 0.406 ")
        grid.setColumnMinimumWidth(1, wide)
        grid.setColumnMinimumWidth(3, wide)
        grid.setColumnStretch(2, 1)
        grid.setColumnMinimumWidth(2, self.fontMetrics().horizontalAdvance("x") * 28)
        return grid

    def _intro(self) -> PlainLabel:
        name = shown(self.entry.path.name)
        if len(name) > 60:  # one word the label cannot wrap: the dialog would grow past the screen
            name = f"{name[:40]}…{name[-16:]}"
        if self.entry.card is None:
            text = (
                f"{name} has no workbench metadata, so its preprocessing and labels were assumed. "
                "Change what you know to be different; an empty field keeps the assumed value."
            )
        else:
            text = (
                f"{name} carries workbench metadata; the values below are the file's own. "
                "Override them only if you know the metadata is wrong."
            )
        label = PlainLabel(text)
        label.setWordWrap(True)
        return label

    def _line(self, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText(shown(placeholder))
        edit.setClearButtonEnabled(True)
        edit.textChanged.connect(self._refresh)
        return edit

    def _combo(self, assumed: str, choices: list[str]) -> QComboBox:
        combo = QComboBox()
        combo.addItem(f"assumed ({assumed})" if self.entry.card is None else f"file ({assumed})", None)
        for text in choices:
            combo.addItem(text, text)
        combo.currentIndexChanged.connect(self._refresh)
        return combo

    # ---- behaviour ------------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Validate the fields and show what is in use; OK only when everything can be used."""
        if not hasattr(self, "in_use_labels"):
            return  # still building
        values, problems = self._field_values()
        try:
            rows = describe(self.entry, PreprocessOverrides(**values))  # type: ignore[arg-type]
        except OverrideError as exc:  # a combination: a labels file's count, a crop a fixed graph cannot take...
            field = _ROW_OF.get(str(exc).split(":", 1)[0], "")
            problems.setdefault(field, str(exc))
            values.pop(_VALUE_OF.get(field, ""), None)
            rows = _rows_or_none(self.entry, values)
        self._problem = next(iter(problems.values()), None)
        bold = QFont(self.font())
        bold.setBold(True)
        for name, assumed, used in rows:
            label = self.in_use_labels[name]
            invalid = name in problems
            label.setText("not valid" if invalid else used)
            label.setToolTip(problems[name] if invalid else used)
            label.setStyleSheet(_ERROR_STYLE if invalid else "")
            label.setFont(bold if assumed != used and not invalid else self.font())
        self.error_label.setText(self._problem or "")
        self.error_label.setVisible(self._problem is not None)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self._problem is None)

    def _field_values(self) -> tuple[dict[str, object], dict[str, str]]:
        """Each field's override (absent when kept) and each unusable field's message, by row name."""
        parsers: list[tuple[str, str, Callable[[], object]]] = [
            ("size", "size", lambda: _text_or_none(self.size_edit, parse_size)),
            ("resize", "resize", lambda: _text_or_none(self.resize_edit, _parse_resize)),
            ("interpolation", "interpolation", self.interpolation_combo.currentData),
            ("mean", "mean", lambda: _text_or_none(self.mean_edit, lambda t: parse_triple(t, "mean"))),
            ("std", "std", lambda: _text_or_none(self.std_edit, lambda t: parse_triple(t, "std"))),
            ("channel order", "channel_order", self.channel_combo.currentData),
            ("value range", "value_range", lambda: _value_range(self.range_combo.currentData())),
            ("labels", "labels_file", lambda: _text_or_none(self.labels_edit, Path)),
        ]
        values: dict[str, object] = {}
        problems: dict[str, str] = {}
        for row, key, parse in parsers:
            try:
                value = parse()
                if value is not None:
                    PreprocessOverrides(**{key: value})  # type: ignore[arg-type]
                    values[key] = value
            except OverrideError as exc:
                problems[row] = str(exc)
        return values, problems

    def _accept(self) -> None:
        try:
            describe(self.entry, self.overrides())  # the labels file may have changed since the last edit
        except OverrideError as exc:  # OK is disabled then; a last check all the same
            self._problem = str(exc)
            self.error_label.setText(self._problem)
            self.error_label.setVisible(True)
            return
        self.accept()

    def _choose_labels(self) -> None:
        start = self.labels_edit.text().strip() or str(self.entry.path.parent)
        path, _filter = QFileDialog.getOpenFileName(
            self, "Choose a labels file (one class name per line)", start, "Text files (*.txt);;All files (*)"
        )
        if path:
            self.labels_edit.setText(path)


def _text_or_none(edit: QLineEdit, parse: Callable[[str], T]) -> T | None:
    text = edit.text().strip()
    return parse(text) if text else None


# The row that an OverrideError's leading field name belongs to, and the override key of each row.
_ROW_OF = {
    "size": "size",
    "resize": "resize",
    "interpolation": "interpolation",
    "mean": "mean",
    "std": "std",
    "channel_order": "channel order",
    "value_range": "value range",
    "labels": "labels",
    "labels_file": "labels",
}
_VALUE_OF = {row: key for key, row in _ROW_OF.items() if key != "labels"}


def _rows_or_none(entry: ModelEntry, values: dict[str, object]) -> list[tuple[str, str, str]]:
    """The rows with the other overrides when they apply without the failing one; else "?" in use."""
    try:
        return describe(entry, PreprocessOverrides(**values))  # type: ignore[arg-type]
    except OverrideError:
        return [(name, assumed, "?") for name, assumed, _ in describe(entry, None)]


def _parse_resize(text: str) -> int:
    if not text.isdigit():
        raise OverrideError(f"resize: expected a whole number of pixels, got {text!r}")
    return int(text)


def _select(combo: QComboBox, value: str | None) -> None:
    """Select the item whose data is ``value``; a value not offered is added (a store may hold any range)."""
    for index in range(combo.count()):
        if combo.itemData(index) == value:
            combo.setCurrentIndex(index)
            return
    combo.addItem(shown(value), value)
    combo.setCurrentIndex(combo.count() - 1)


def _range_key(value_range: tuple[float, float]) -> str:
    """``0-1``, ``0-255``, or ``low,high`` for a range not offered by name."""
    named = format_value_range(value_range)
    return named if named in VALUE_RANGES else f"{value_range[0]:g},{value_range[1]:g}"


def _value_range(key: str | None) -> tuple[float, float] | None:
    if key is None:
        return None
    if key in VALUE_RANGES:
        return VALUE_RANGES[key]
    low, high = parse_numbers(key, "value_range", 2)
    return (low, high)


def _fixed_size(entry: ModelEntry) -> tuple[int | None, int | None]:
    try:
        return fixed_input_size(entry)
    except OverrideError:
        return (entry.height, entry.width)  # cannot read the graph: treat its size as fixed
