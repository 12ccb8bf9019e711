"""CUDA start failures give their remedy; Auto skips CUDA quietly on a machine without an NVIDIA GPU.

The detection functions are tested with fake device files and driver loaders (monkeypatched), and the real
behaviour on this machine (no NVIDIA GPU or driver: Auto -> CPU with one quiet line, CUDA requested -> the
reason names the remedy).

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest -q -n 0 tests/desktop_app/test_cuda_remedies.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core import providers
from desktop_app.core.catalog import inspect_model
from desktop_app.core.runtime import load_model
from tests.desktop_app.helpers import Zoo

ORT_LIBRARY_LOG = (
    "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared "
    "object file: No such file or directory — Failed to create CUDAExecutionProvider. Require cuDNN 9.* and CUDA 13.*."
)


def _fake_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, device: bool, driver: bool, lib: bool) -> None:
    """Point the device/driver files into ``tmp_path`` (created when wanted) and fake the libcuda loader."""
    dev = tmp_path / "nvidia0"
    version = tmp_path / "version"
    if device:
        dev.write_text("")
    if driver:
        version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65\n")
    monkeypatch.setattr(providers, "NVIDIA_DEVICE_FILES", (str(dev),))
    monkeypatch.setattr(providers, "NVIDIA_DRIVER_FILE", str(version))
    loaded: list[str] = []

    def fake_cdll(name: str) -> object:
        loaded.append(name)
        if not lib:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        return object()

    monkeypatch.setattr(providers.ctypes, "CDLL", fake_cdll)


@pytest.mark.parametrize(
    ("device", "driver", "lib", "present", "driver_found"),
    [
        (False, False, False, False, False),  # a laptop without NVIDIA hardware
        (True, True, True, True, True),  # a CUDA workstation
        (True, False, False, True, False),  # a device node but no driver loaded
        (False, False, True, True, True),  # WSL2 / Windows: the driver library only
        (False, True, False, True, True),  # the kernel module's /proc file only
    ],
)
def test_nvidia_detection_from_device_files_and_driver(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    device: bool,
    driver: bool,
    lib: bool,
    present: bool,
    driver_found: bool,
) -> None:
    _fake_machine(monkeypatch, tmp_path, device=device, driver=driver, lib=lib)
    assert providers.nvidia_driver_present() is driver_found
    assert providers.nvidia_present() is present


def test_remedy_for_missing_libraries_is_the_pip_command() -> None:
    for text in (
        ORT_LIBRARY_LOG,
        "Failed to load library ... with error: libcudnn.so.9: cannot open shared object file",
        "libcudart.so.13: cannot open shared object file: No such file or directory",
        "LoadLibrary failed with error 126 when trying to load cublasLt64_13.dll",
    ):
        assert (
            providers.cuda_remedy(text)
            == 'install ONNX Runtime\'s CUDA and cuDNN libraries: pip install "cnn-workbench[cuda]"'
        ), text


def test_remedy_for_a_missing_driver_names_the_driver() -> None:
    assert providers.cuda_remedy("libcuda.so.1: cannot open shared object file") == providers.NO_DRIVER_REMEDY
    assert providers.cuda_remedy("CUDA failure 100: no CUDA-capable device is detected") == providers.NO_DRIVER_REMEDY
    both = providers.cuda_remedy(ORT_LIBRARY_LOG, driver_found=False)
    assert both == 'no NVIDIA driver found: install the NVIDIA driver, then pip install "cnn-workbench[cuda]"'
    assert "onnxruntime-gpu" in providers.cuda_remedy("this onnxruntime build has no CUDAExecutionProvider")
    assert "nvidia-smi" in providers.cuda_remedy("CUDA error cudaErrorLaunchFailure")  # unknown: both checks


def test_auto_does_not_try_cuda_without_an_nvidia_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_machine(monkeypatch, tmp_path, device=False, driver=False, lib=False)
    monkeypatch.setattr(providers, "cuda_listed", lambda: True)

    def no_probe() -> str:
        raise AssertionError("Auto must not probe CUDA on a machine without an NVIDIA GPU")

    monkeypatch.setattr(providers, "cuda_request_failure", no_probe)
    assert providers.requested_providers("auto") == [providers.CPU_EP]
    assert providers.auto_skip_reason("auto") == providers.NO_NVIDIA_GPU == "no NVIDIA GPU: using the CPU"
    assert providers.cuda_start_failure() == providers.NO_NVIDIA_GPU
    assert providers.auto_skip_reason("cpu") is None and providers.auto_skip_reason("cuda") is None


def test_auto_tries_cuda_when_a_gpu_is_there(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_machine(monkeypatch, tmp_path, device=True, driver=True, lib=True)
    monkeypatch.setattr(providers, "cuda_listed", lambda: True)
    assert providers.requested_providers("auto") == [providers.CUDA_EP, providers.CPU_EP]
    assert providers.auto_skip_reason("auto") is None


def test_preload_keeps_its_messages_out_of_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[int] = []

    def fake_preload() -> None:
        calls.append(1)
        print("Failed to load libcublasLt.so.13: cannot open shared object file")

    monkeypatch.setattr(providers.ort, "preload_dlls", fake_preload, raising=False)
    providers.preload_cuda_libraries.cache_clear()
    try:
        said = providers.preload_cuda_libraries()
        assert providers.preload_cuda_libraries() == said and calls == [1]  # once per process
    finally:
        providers.preload_cuda_libraries.cache_clear()
    assert "libcublasLt.so.13" in said and capsys.readouterr().out == ""


def test_real_machine_auto_is_quiet_and_cuda_names_the_remedy(zoo: Zoo, capfd: pytest.CaptureFixture[str]) -> None:
    if providers.nvidia_present():
        pytest.skip("this machine has an NVIDIA GPU")  # the fake-input tests above cover the logic there
    auto = load_model(inspect_model(zoo.workbench), "auto")
    assert auto.providers == (providers.CPU_EP,)
    if providers.cuda_listed():  # onnxruntime-gpu: Auto says in one line why it did not try CUDA
        assert auto.fallback_reason == providers.NO_NVIDIA_GPU
    cuda = load_model(inspect_model(zoo.workbench), "cuda")
    assert cuda.providers[0] == providers.CPU_EP and cuda.fallback_reason
    assert "\n" not in cuda.fallback_reason
    assert "remedy: no NVIDIA driver found: install the NVIDIA driver" in cuda.fallback_reason
    if providers.cuda_listed():
        assert 'pip install "cnn-workbench[cuda]"' in cuda.fallback_reason  # the CUDA libraries are missing too
    out, err = capfd.readouterr()
    assert "Failed to load" not in out + err, "ONNX Runtime's and preload_dlls' messages stay out of the terminal"
