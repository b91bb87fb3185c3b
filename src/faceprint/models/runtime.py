"""Inference runtimes. The only module that imports onnxruntime or OpenVINO.

Which runtime runs which model is data (the card's ``runtime``), chosen by measurement
(docs/models.md): OpenVINO for the Intel IR models and for SFace (≈2.5× faster than
onnxruntime on the same float graph on 2 CPU cores), OpenCV's DNN module for YuNet
(through ``cv2.FaceDetectorYN``, which decodes its heads at any input size), and
onnxruntime for ONNX models where it is the better fit.

Every session takes an N×C×H×W float32 batch and returns the model's outputs as numpy
arrays. Sessions are cheap to call from one thread at a time; create one per thread if
you need parallel inference.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ModelRuntimeError
from faceprint.models import devices
from faceprint.models.compilation import Compiler, cache_entry
from faceprint.models.devices import DEVICES

log = logging.getLogger(__name__)

_OV_CORE: Any = None
_OV_VERSION = ""
_OV_LOCK = threading.Lock()


def threads_for(requested: int) -> int:
    """Inference threads to use: ``requested``, or every visible core when it is 0.

    Set explicitly on every runtime so one runtime's default does not oversubscribe
    another's; the decode pools run between inference calls, not during them.
    """
    return requested if requested > 0 else (os.cpu_count() or 1)


class Session(Protocol):
    """A loaded model that maps one input batch to its outputs."""

    @property
    def name(self) -> str: ...

    def run(self, batch: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        """Run a N×C×H×W float32 batch; returns every output, each with N leading."""
        ...


def _import_openvino() -> Any:
    """``import openvino``, without importing its model converter on the way.

    ``openvino/__init__`` imports ``openvino.tools.ovc`` for ``convert_model``, and with it
    a telemetry client: ≈90 ms of a one-image command, and warnings on stderr where $HOME
    is read-only. No session converts anything, so the converter is kept out while
    openvino loads (its ``__init__`` tolerates that); ``openvino.convert_model`` then
    imports it on first call, and ``import openvino.tools.ovc`` works as usual.
    """
    if "openvino" in sys.modules or "openvino.tools.ovc" in sys.modules:
        import openvino as ov

        return ov
    sys.modules["openvino.tools.ovc"] = None  # type: ignore[assignment]
    try:
        import openvino as ov
    finally:
        if sys.modules.get("openvino.tools.ovc", "") is None:
            del sys.modules["openvino.tools.ovc"]
    if not hasattr(ov, "convert_model"):

        def convert_model(*args: Any, **kwargs: Any) -> Any:
            from openvino.tools.ovc import convert_model as convert

            return convert(*args, **kwargs)

        ov.convert_model = convert_model
    return ov


def _openvino_core() -> Any:
    global _OV_CORE, _OV_VERSION
    with _OV_LOCK:
        if _OV_CORE is None:
            ov = _import_openvino()
            _OV_CORE = ov.Core()
            _OV_VERSION = str(ov.get_version())
        return _OV_CORE


class OpenVINOSession:
    """An OpenVINO model compiled for the CPU.

    A model with a static batch of 1 runs batches with a dynamic batch only where that
    gives the same outputs, else one item at a time (:class:`~.compilation.Compiler`).
    With ``cache_dir`` (:mod:`faceprint.models.compilation`; the store's
    ``session_cache_dir``) the compiled models and that verdict are kept for later
    processes, which then load only the variant they use, from OpenVINO's compiled-model
    cache, and skip the probe. A cache that cannot be used is skipped, never an error.
    """

    def __init__(
        self,
        path: Path,
        *,
        threads: int = 0,
        precision: str = "f32",
        streams: int = 1,
        cache_dir: Path | None = None,
    ) -> None:
        core = _openvino_core()
        # f32 unless the card asks otherwise: on CPUs with AVX512-BF16/AMX OpenVINO would
        # silently run bf16, which moves landmarks-0009 by pixels and costs accuracy.
        # A card opts into bf16 only after its accuracy budget was measured.
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision}
        if streams > 1:  # concurrent callers: one CPU stream (and infer request) each
            config["NUM_STREAMS"] = streams
        else:
            config["PERFORMANCE_HINT"] = "LATENCY"
        threads = threads_for(threads)
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        self._name = path.name
        try:
            compiler = Compiler(core, config, cache_entry(cache_dir, path))
            self._compiled, self._batched = compiler.load(path, key=f"{_OV_VERSION} {precision}")
        except ModelRuntimeError:
            raise
        except Exception as exc:
            raise ModelRuntimeError(f"OpenVINO could not load {path}: {exc}") from exc
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(max(1, streams)):
            self._requests.put(self._compiled.create_infer_request())

    @property
    def name(self) -> str:
        return self._name

    @property
    def output_names(self) -> list[str]:
        """Names of the model's outputs, in the order :meth:`run` returns them."""
        return [o.get_any_name() for o in self._compiled.outputs]

    def _infer(self, request: Any, batch: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        try:
            request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        except Exception as exc:
            raise ModelRuntimeError(f"OpenVINO failed on {self._name}: {exc}") from exc
        return [
            np.array(request.get_output_tensor(i).data, dtype=np.float32, copy=True)
            for i in range(len(self._compiled.outputs))
        ]

    def run(self, batch: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        request = self._requests.get()  # waits while every stream is busy
        try:
            if self._batched or len(batch) == 1:
                return self._infer(request, batch)
            parts = [self._infer(request, batch[i : i + 1]) for i in range(len(batch))]
            return [np.concatenate(outs, axis=0) for outs in zip(*parts, strict=True)]
        finally:
            self._requests.put(request)


class OnnxRuntimeSession:
    """An onnxruntime CPU session."""

    def __init__(self, path: Path, *, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        threads = threads_for(threads)
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelRuntimeError(f"onnxruntime could not load {path}: {exc}") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelRuntimeError(f"{path.name}: expected one input, got {len(inputs)}")
        self._input = inputs[0].name
        self._batch_one = bool(inputs[0].shape) and inputs[0].shape[0] == 1
        self._name = path.name

    @property
    def name(self) -> str:
        return self._name

    def run(self, batch: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        if self._batch_one and len(batch) > 1:  # a graph exported with a fixed batch of 1
            parts = [self.run(batch[i : i + 1]) for i in range(len(batch))]
            return [np.concatenate(outs, axis=0) for outs in zip(*parts, strict=True)]
        try:
            outputs = self._session.run(
                None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)}
            )
        except Exception as exc:
            raise ModelRuntimeError(f"onnxruntime failed on {self._name}: {exc}") from exc
        return [np.asarray(o, dtype=np.float32) for o in outputs]


def resolve_device(device: str) -> str:
    """Turn ``auto`` into ``cuda`` or ``cpu`` and check that a requested device exists.

    ``auto`` imports torch only when a GPU could be there
    (:func:`faceprint.models.devices.cuda_possible`).

    Raises:
        ModelRuntimeError: unknown device, CUDA requested but unavailable, or torch
            missing for a torch device.
    """
    if device not in DEVICES:
        raise ModelRuntimeError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        chosen = "cuda" if devices.cuda_possible() and cuda_available() else "cpu"
        log.info("device: %s (auto)", _describe(chosen))
        return chosen
    if device == "cuda" and not cuda_available():
        raise ModelRuntimeError(
            "--device cuda needs PyTorch with a CUDA GPU (pip install 'faceprint[gpu]'); "
            "none was found — use --device cpu"
        )
    if device == "torch-cpu":
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise ModelRuntimeError(
                "device torch-cpu needs PyTorch: pip install 'faceprint[gpu]'"
            ) from exc
    log.info("device: %s", _describe(device))
    return device


def _describe(device: str) -> str:
    if device == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    if device == "torch-cpu":
        return "torch-cpu (the CUDA code path on the CPU)"
    return "cpu (OpenVINO / onnxruntime / OpenCV)"


def open_session(
    path: Path,
    *,
    runtime: str,
    threads: int = 0,
    streams: int = 1,
    precision: str = "f32",
    device: str = "cpu",
    half: bool = False,
    cache_dir: Path | None = None,
) -> Session:
    """Load a model file for inference.

    On ``device="cpu"`` the card's runtime (``"openvino"`` or ``"onnxruntime"``) runs it,
    with ``precision`` ("f32" or "bf16", OpenVINO only) and ``streams`` concurrent
    callers sharing ``threads`` (onnxruntime sessions are re-entrant already). On ``"cuda"``
    or ``"torch-cpu"`` PyTorch runs it (float16 on CUDA when ``half``). ``cache_dir`` (the
    store's ``session_cache_dir``) lets OpenVINO reuse compiled models across processes.

    Raises:
        ModelRuntimeError: unknown runtime, or the runtime failed to load the file.
    """
    if device in ("cuda", "torch-cpu"):
        return TorchSession(path, device="cuda" if device == "cuda" else "cpu", half=half)
    if runtime == "openvino":
        return OpenVINOSession(
            path, threads=threads, precision=precision, streams=streams, cache_dir=cache_dir
        )
    if runtime == "onnxruntime":
        return OnnxRuntimeSession(path, threads=threads)
    raise ModelRuntimeError(f"no session runtime {runtime!r} for {path.name}")


class OpenCVFaceDetector:
    """OpenCV's ``FaceDetectorYN`` (YuNet) with its own head decoding and NMS.

    ``detect`` takes a BGR uint8 image and returns an N×15 float32 array: x, y, w, h,
    five landmark (x, y) pairs, score.
    """

    def __init__(
        self,
        path: Path,
        *,
        score_threshold: float,
        nms_threshold: float,
        top_k: int,
        threads: int = 0,
        streams: int = 1,
    ) -> None:
        import cv2

        threads = threads_for(threads)
        if threads > 0:  # OpenCV's thread count is process-wide: split it between streams
            cv2.setNumThreads(max(1, threads // max(1, streams)))
        # OpenCV's DNN engine warns on every load that it ignores the preferred target;
        # the message is noise for users (it changes nothing), so keep OpenCV to errors.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        # A FaceDetectorYN is not re-entrant: one instance per concurrent caller.
        self._detectors: queue.SimpleQueue[Any] = queue.SimpleQueue()
        try:
            for _ in range(max(1, streams)):
                self._detectors.put(
                    cv2.FaceDetectorYN.create(
                        str(path), "", (320, 320), score_threshold, nms_threshold, top_k
                    )
                )
        except cv2.error as exc:
            raise ModelRuntimeError(f"OpenCV could not load {path}: {exc}") from exc
        self._name = path.name

    @property
    def name(self) -> str:
        return self._name

    def detect(self, bgr: NDArray[np.uint8]) -> NDArray[np.float32]:
        import cv2

        height, width = bgr.shape[:2]
        detector = self._detectors.get()
        try:
            detector.setInputSize((width, height))
            _, faces = detector.detect(bgr)
        except cv2.error as exc:
            raise ModelRuntimeError(f"OpenCV face detector failed: {exc}") from exc
        finally:
            self._detectors.put(detector)
        if faces is None:
            return np.zeros((0, 15), dtype=np.float32)
        return np.asarray(faces, dtype=np.float32).reshape(-1, 15)


def ir_graph(path: Path) -> Any:
    """Read an OpenVINO IR model into a :class:`faceprint.models.torch_graph.Graph`.

    Constant sub-expressions (e.g. FP16 weights behind ``Convert``) are folded.

    Raises:
        ModelRuntimeError: an operator the torch path does not support.
    """
    from faceprint.models.torch_graph import Graph, Node

    model = _openvino_core().read_model(str(path))

    def key(output: Any) -> str:
        return f"{output.get_node().get_friendly_name()}:{output.get_index()}"

    constants: dict[str, NDArray[np.float32]] = {}
    nodes: list[Node] = []
    graph_input = ""
    outputs: list[str] = []
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        ins = [key(i.get_source_output()) for i in op.inputs()]
        out = f"{op.get_friendly_name()}:0"
        attrs = op.get_attributes()
        if kind == "Parameter":
            graph_input = out
        elif kind == "Result":
            outputs.append(ins[0])
        elif kind == "Constant":
            constants[out] = np.asarray(op.get_data(), dtype=np.float32)
        elif kind == "Convert" and ins[0] in constants:
            constants[out] = constants[ins[0]]
        elif kind in ("Convolution", "GroupConvolution"):
            groups = 1
            if kind == "GroupConvolution":
                w = constants[ins[1]]
                groups = w.shape[0]
                constants[ins[1]] = w.reshape(w.shape[0] * w.shape[1], *w.shape[2:])
            if attrs.get("auto_pad", "explicit") not in ("explicit", "notset", "valid"):
                raise ModelRuntimeError(f"{path.name}: auto_pad {attrs['auto_pad']} not supported")
            nodes.append(
                Node(
                    "conv",
                    tuple(ins),
                    out,
                    {
                        "strides": list(attrs["strides"]),
                        "dilations": list(attrs["dilations"]),
                        "pads_begin": list(attrs["pads_begin"]),
                        "pads_end": list(attrs["pads_end"]),
                        "groups": groups,
                    },
                )
            )
        elif kind in ("MaxPool", "AvgPool"):
            nodes.append(
                Node(
                    kind.lower(),
                    tuple(ins[:1]),
                    out,
                    {
                        "kernel": list(attrs["kernel"]),
                        "strides": list(attrs["strides"]),
                        "pads_begin": list(attrs["pads_begin"]),
                        "pads_end": list(attrs["pads_end"]),
                        "ceil": attrs.get("rounding_type", "floor") == "ceil",
                        "exclude_pad": bool(attrs.get("exclude-pad", True)),
                    },
                )
            )
        elif kind in ("Add", "Multiply", "Subtract", "PRelu", "Sigmoid", "Relu"):
            name = {"Multiply": "mul", "Subtract": "sub"}.get(kind, kind.lower())
            extra = {"per_channel_1d": True} if kind == "PRelu" else {}
            nodes.append(Node(name, tuple(ins), out, extra))
        else:
            raise ModelRuntimeError(
                f"{path.name}: operator {kind} is not supported on the torch path"
            )
    return Graph(input=graph_input, outputs=tuple(outputs), nodes=tuple(nodes), constants=constants)


class TorchSession:
    """A model executed by PyTorch (:mod:`faceprint.models.torch_graph`) on CPU or CUDA.

    ONNX files are read with ``onnx``; IR files through OpenVINO's reader. Float16 is
    used on CUDA when ``half`` is set.
    """

    def __init__(self, path: Path, *, device: str = "cuda", half: bool = False) -> None:
        from faceprint.models.torch_graph import TorchGraph, from_onnx

        graph = ir_graph(path) if path.suffix == ".xml" else from_onnx(path)
        self._run = TorchGraph(graph, device=device, half=half and device.startswith("cuda"))
        self._name = path.name

    @property
    def graph(self) -> Any:
        """The :class:`~faceprint.models.torch_graph.TorchGraph` (for on-device callers)."""
        return self._run

    @property
    def name(self) -> str:
        return self._name

    def run(self, batch: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        try:
            return self._run(batch)
        except Exception as exc:
            raise ModelRuntimeError(f"torch failed on {self._name}: {exc}") from exc


def cuda_available() -> bool:
    """Whether PyTorch is installed and sees a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
