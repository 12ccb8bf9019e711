"""The accuracy-vs-latency chart: point positions, the Pareto front, hover text, clicks selecting a table row.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_tradeoff_chart.py -q
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from desktop_app.view.evaluate_panel import EvaluatePanel
from desktop_app.view.tradeoff_chart import TradeoffChart

NAMES = ["resnet · imagenet · fp32", "resnet · imagenet · int8", "mobile\nnet", "slow", "no latency"]
LATENCY = [12.0, 4.0, 1.3, 60.0, None]
TOP1 = [0.80, 0.79, 0.71, 0.78, 0.5]


def _chart(qtbot) -> TradeoffChart:
    chart = TradeoffChart()
    qtbot.addWidget(chart)
    chart.resize(480, 300)
    chart.set_points(NAMES, LATENCY, TOP1)
    return chart


def test_points_are_placed_by_latency_and_accuracy(qtbot) -> None:
    chart = _chart(qtbot)
    points = [chart.point_position(i) for i in range(4)]
    assert all(p is not None for p in points)
    xs = [p.x() for p in points if p is not None]
    ys = [p.y() for p in points if p is not None]
    assert xs[2] < xs[1] < xs[0] < xs[3]  # faster is further left
    assert ys[0] < ys[1] < ys[3] < ys[2]  # more accurate is higher (smaller y)
    plot = chart.plot_rect()
    assert all(plot.contains(p) for p in points if p is not None)
    assert chart.point_position(4) is None  # no latency: not placed
    assert chart.front() == [2, 1, 0]
    assert chart._axes()[0].log  # 1.3 … 60 ms: log scale
    assert not chart.grab().isNull()


def test_hover_text_names_the_model_with_its_figures(qtbot) -> None:
    chart = _chart(qtbot)
    point = chart.point_position(1)
    assert point is not None
    index = chart.point_at(point + QPointF(3, -2))
    assert index == 1
    text = chart.hover_text(1)
    assert text == "resnet · imagenet · int8\ntop-1: 79.00%\nlatency: 4 ms\non the Pareto front"
    assert "Pareto" not in chart.hover_text(3)
    assert chart.point_at(QPointF(1, 1)) is None
    event = QHelpEvent(QEvent.Type.ToolTip, point.toPoint(), chart.mapToGlobal(point.toPoint()))
    QApplication.sendEvent(chart, event)
    assert "79.00%" in QToolTip.text() and "int8" in QToolTip.text()


def test_names_are_plain_text(qtbot) -> None:
    chart = _chart(qtbot)
    assert "\n" not in chart.hover_text(2).split("\ntop-1")[0]  # a newline in a name is escaped, not a line


def test_clicking_a_point_selects_the_models_row(qtbot) -> None:
    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    rows = [(name, "CPU", "8", "0", "1%", "—", "1", str(ms)) for name, ms in zip(NAMES, LATENCY, strict=True)]
    panel.show_rows(rows)
    panel.show_tradeoff(NAMES, LATENCY, TOP1)
    qtbot.waitExposed(panel)
    chart = panel.tradeoff
    assert panel.selected_row() == 0
    selected: list[int] = []
    panel.modelSelected.connect(selected.append)
    point = chart.point_position(3)
    assert point is not None
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=point.toPoint())
    assert panel.selected_row() == 3 and selected == [3]
    assert chart.selected() == 3
    panel.table.selectRow(2)  # the table's selection rings the point
    assert chart.selected() == 2
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=QPoint(2, 2))  # not on a point: nothing changes
    assert panel.selected_row() == 2


def test_no_placeable_point_says_so(qtbot) -> None:
    chart = TradeoffChart()
    qtbot.addWidget(chart)
    chart.set_points(["a"], [None], [0.5])
    assert chart.placed() == [] and chart.front() == []
    assert not chart.grab().isNull()
