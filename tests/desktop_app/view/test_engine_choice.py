"""The window's Engine choice: the items this machine offers, an OpenVINO model loaded and named in the status
line, the choice remembered in the settings, and its validation.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_engine_choice.py -q -n 0
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino): no OpenVINO engine to test")

from desktop_app.core.openvino_engine import bf16_support
from desktop_app.view import backend
from desktop_app.view.settings import AppSettings

NATIVE_BF16 = bf16_support("CPU") is None


def test_engine_items_are_what_this_machine_offers(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [value for _, value in backend.engine_items()]
    assert values[:4] == ["auto", "cpu", "cuda", "openvino"]
    assert ("openvino-bf16" in values) == NATIVE_BF16
    monkeypatch.setattr(backend, "openvino_available", lambda: False)
    assert [value for _, value in backend.engine_items()] == ["auto", "cpu", "cuda"]
    monkeypatch.setattr(backend, "openvino_available", lambda: True)
    monkeypatch.setattr(backend, "bf16_support", lambda device="CPU": "no native bf16 (patched)")
    assert "openvino-bf16" not in [value for _, value in backend.engine_items()]
    assert "openvino-gpu" not in values and "openvino-npu" not in values  # this machine: OpenVINO reports its CPU
    monkeypatch.setattr(backend, "openvino_devices", lambda: ("CPU", "GPU.0", "GPU.1", "NPU"))
    items = backend.engine_items()
    assert [v for _, v in items][-2:] == ["openvino-gpu", "openvino-npu"]  # one GPU item for GPU.0 and GPU.1
    assert dict((v, t) for t, v in items)["openvino-gpu"] == "OpenVINO GPU"


def test_an_openvino_device_that_is_absent_falls_back_and_says_why(model_bank) -> None:
    """What the window does when OpenVINO GPU is chosen and cannot compile: ONNX Runtime CPU, with the reason."""
    from desktop_app.core.catalog import inspect_model
    from desktop_app.core.runtime import SessionCache

    loaded = backend.load(SessionCache(), inspect_model(model_bank["tiny"]), "openvino-gpu")
    model = loaded.model
    assert model.engine == "onnxruntime" and model.device == "CPU"
    assert model.fallback_reason is not None and "OpenVINO reports no device GPU (it has CPU)" in model.fallback_reason
    text, tooltip = backend.provider_status(loaded)
    assert "(OpenVINO GPU requested, fell back: " in text and "Requested: OpenVINO GPU" in tooltip, text


def test_choosing_openvino_loads_it_and_the_status_line_names_it(
    make_window, model_bank, settings: AppSettings, qtbot
) -> None:
    window = make_window(model_bank["tiny"])
    labels = [window.provider_combo.itemText(i) for i in range(window.provider_combo.count())]
    assert "OpenVINO CPU" in labels and "ONNX Runtime CPU" in labels
    with qtbot.waitSignal(window.modelLoaded, timeout=30000):
        window.provider_combo.setCurrentIndex(window.provider_combo.findData("openvino"))
    model = window.loaded.model
    assert (model.engine, model.device, model.precision) == ("openvino", "CPU", "fp32")
    text = window.provider_label.text()
    assert text.startswith("Ran on: OpenVINO CPU · fp32 (OpenVINO CPU requested)"), text
    assert "Ran: OpenVINO CPU, fp32" in window.provider_label.toolTip()
    assert window.golden_label.text() == "golden ✓"
    assert settings.engine == "openvino" and settings.provider == "auto"  # provider: the ORT tabs' choice
    assert window.provider() == "cpu"  # Explain and Inspect run ONNX Runtime graph copies on the CPU meanwhile
    assert not window.grab().isNull()  # what a user sees renders
    with qtbot.waitSignal(window.modelLoaded, timeout=30000):
        window.provider_combo.setCurrentIndex(window.provider_combo.findData("cpu"))
    assert window.loaded.model.engine == "onnxruntime"
    assert window.provider_label.text().startswith("Ran on: CPUExecutionProvider · fp32 (ONNX Runtime CPU requested)")
    assert (settings.engine, settings.provider) == ("cpu", "cpu")


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU does not compute bfloat16 natively")
def test_bf16_choice_is_remembered_and_restored(make_window, model_bank, settings: AppSettings, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    with qtbot.waitSignal(window.modelLoaded, timeout=30000):
        window.provider_combo.setCurrentIndex(window.provider_combo.findData("openvino-bf16"))
    assert window.loaded.model.precision == "bf16"
    assert "bf16" in window.provider_label.text()
    again = make_window(app_settings=settings, folder=window.models_dir)
    assert again.engine_choice() == "openvino-bf16"
    assert again.loaded.model.precision == "bf16"


def test_a_remembered_engine_this_machine_does_not_offer_starts_on_auto_and_says_why(
    make_window, model_bank, settings: AppSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.remember_engine("openvino-bf16")  # e.g. chosen on the Intel machine, the settings copied here
    monkeypatch.setattr(backend, "bf16_support", lambda device="CPU": "no native bf16 (patched)")
    window = make_window(model_bank["tiny"])
    assert window.engine_choice() == "auto" and window.loaded.model.precision == "fp32"
    message = window.status.message_label.text()  # all of it (the label elides only when it paints)
    assert message == (
        "Using Auto: the remembered Engine OpenVINO CPU bf16 is not offered on this machine (no native bf16 (patched))"
    )
    monkeypatch.setattr(backend, "openvino_available", lambda: False)
    settings.remember_engine("openvino")
    assert "OpenVINO is not installed" in make_window(model_bank["tiny"]).status.message_label.text()


def test_engine_setting_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "desktop.conf"
    path.write_text("[model]\nengine=tensorrt\nprovider=cuda\n")
    settings = AppSettings(QSettings(str(path), QSettings.Format.IniFormat))
    assert settings.engine == "" and settings.engine_choice == "cuda"  # the older key decides
    assert any("[model] engine" in problem and "tensorrt" in problem for problem in settings.problems)
    path.write_text("[model]\nengine=OpenVINO\n")
    assert AppSettings(QSettings(str(path), QSettings.Format.IniFormat)).engine == "openvino"
