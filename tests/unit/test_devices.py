"""``--device auto`` decides without importing torch where there can be no CUDA GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from faceprint.errors import ModelRuntimeError
from faceprint.models import devices, runtime
from faceprint.models.runtime import resolve_device


@pytest.mark.parametrize(
    ("torch", "platform", "nodes", "possible"),
    [
        (False, "linux", True, False),  # no torch: nothing to ask
        (False, "win32", True, False),
        (True, "darwin", True, False),  # no CUDA builds for macOS
        (True, "linux", False, False),  # no GPU device or driver visible
        (True, "linux", True, True),
        (True, "win32", False, True),  # no cheap probe: ask torch
    ],
)
def test_cuda_possible(monkeypatch, torch, platform, nodes, possible):
    monkeypatch.setattr(devices, "torch_installed", lambda: torch)
    monkeypatch.setattr(devices, "gpu_nodes_visible", lambda: nodes)
    assert devices.cuda_possible(platform) is possible


def test_gpu_nodes_are_found_by_pattern(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(devices, "GPU_NODES", (str(tmp_path / "nvidia[0-9]*"),))
    assert not devices.gpu_nodes_visible()
    (tmp_path / "nvidiactl").touch()  # the control node alone is no GPU
    assert not devices.gpu_nodes_visible()
    (tmp_path / "nvidia0").touch()
    assert devices.gpu_nodes_visible()


def test_torch_installed_looks_without_importing(monkeypatch):
    monkeypatch.setattr(devices.importlib.util, "find_spec", lambda name: None)
    assert not devices.torch_installed()


def _no_torch_please() -> bool:
    raise AssertionError("cuda_available (which imports torch) must not be called")


def test_auto_is_cpu_without_asking_torch_when_no_gpu_can_be_there(monkeypatch):
    monkeypatch.setattr(devices, "cuda_possible", lambda: False)
    monkeypatch.setattr(runtime, "cuda_available", _no_torch_please)
    assert resolve_device("auto") == "cpu"


@pytest.mark.parametrize(("available", "chosen"), [(False, "cpu"), (True, "cuda")])
def test_auto_asks_torch_when_a_gpu_may_be_there(monkeypatch, available, chosen):
    asked: list[bool] = []
    monkeypatch.setattr(devices, "cuda_possible", lambda: True)
    monkeypatch.setattr(runtime, "cuda_available", lambda: asked.append(True) or available)
    monkeypatch.setattr(runtime, "_describe", lambda device: device)
    assert resolve_device("auto") == chosen
    assert asked == [True]


def test_explicit_cuda_still_asks_torch_and_says_what_to_do(monkeypatch):
    monkeypatch.setattr(devices, "cuda_possible", lambda: False)
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    with pytest.raises(ModelRuntimeError, match=r"--device cuda needs PyTorch.*use --device cpu"):
        resolve_device("cuda")


def test_unknown_device():
    with pytest.raises(ModelRuntimeError, match="choose one of auto, cpu, cuda, torch-cpu"):
        resolve_device("tpu")


def test_auto_does_not_import_torch_on_a_machine_without_gpu():
    code = (
        "import sys\n"
        "from faceprint.models import devices\n"
        "devices.gpu_nodes_visible = lambda: False\n"
        "from faceprint.models.runtime import resolve_device\n"
        "print(resolve_device('auto'), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["cpu", "False"]
