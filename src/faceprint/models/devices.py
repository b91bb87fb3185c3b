"""Which devices faceprint can run on, and whether a CUDA GPU could be there at all.

Importing PyTorch costs about two seconds, so ``--device auto`` first asks cheap
questions that need no import (:func:`cuda_possible`): is torch installed, and on Linux,
is any GPU device node or driver visible. Only when the answer is "maybe" does
:func:`faceprint.models.runtime.resolve_device` import torch and ask it.
"""

from __future__ import annotations

import glob
import importlib.util
import sys

DEVICES = ("auto", "cpu", "cuda", "torch-cpu")
"""``cpu``: OpenVINO/onnxruntime; ``cuda``: PyTorch on the GPU; ``torch-cpu``: the same
PyTorch code path on the CPU (to test it where no GPU is); ``auto``: cuda if available."""

GPU_NODES = (
    "/proc/driver/nvidia/gpus/*",  # the NVIDIA driver, one entry per GPU
    "/dev/nvidia[0-9]*",  # NVIDIA device nodes (containers get these, not always /proc)
    "/dev/dxg",  # WSL 2: CUDA through the DirectX kernel driver
    "/dev/kfd",  # ROCm builds of PyTorch report AMD GPUs through torch.cuda
)
"""Linux paths of which at least one exists wherever PyTorch can see a GPU."""


def torch_installed() -> bool:
    """Whether PyTorch can be imported (looked up, not imported)."""
    return importlib.util.find_spec("torch") is not None


def gpu_nodes_visible() -> bool:
    """Whether any of :data:`GPU_NODES` exists."""
    return any(glob.glob(pattern) for pattern in GPU_NODES)


def cuda_possible(platform: str = sys.platform) -> bool:
    """Whether a CUDA device could be usable, decided without importing torch.

    ``False`` means certainly not: torch is not installed, the platform is macOS (no
    CUDA builds), or on Linux no GPU device or driver is visible. ``True`` means ask
    torch.
    """
    if not torch_installed():
        return False
    if platform == "darwin":
        return False
    if platform.startswith("linux"):
        return gpu_nodes_visible()
    return True
