"""Run small CNN graphs (from ONNX or OpenVINO IR) in PyTorch — the GPU path.

The embedding and landmark models are plain CNNs built from a dozen operators. Instead
of a converter dependency (onnx2torch pulls torchvision, which does not install beside
every torch build; OpenVINO IR has no converter at all), a graph is read into a neutral
:class:`Graph` (``from_onnx`` here; the IR reader lives in ``models.runtime``, the only
module that imports OpenVINO) and :class:`TorchGraph` executes it with
``torch.nn.functional``. Outputs are checked against onnxruntime/OpenVINO in the tests.

torch is optional (``pip install faceprint[gpu]``) and imported only inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ModelRuntimeError

SUPPORTED = frozenset(
    {
        "conv",
        "add",
        "sub",
        "mul",
        "prelu",
        "relu",
        "sigmoid",
        "batchnorm",
        "maxpool",
        "avgpool",
        "flatten",
        "gemm",
        "identity",
        "reshape",
        "transpose",
        "upsample_nearest",
    }
)


@dataclass(frozen=True, slots=True)
class Node:
    """One operator: ``op`` (one of :data:`SUPPORTED`), input and output tensor names."""

    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Graph:
    """A single-input graph in topological order with its constant tensors."""

    input: str
    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    constants: dict[str, NDArray[np.float32]]


def from_onnx(path: Path) -> Graph:
    """Read an ONNX model (float weights, e.g. after ``dequantize_dynamic_batch``).

    Raises:
        ModelRuntimeError: the graph uses an operator this interpreter does not know.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    if any(n.op_type == "DequantizeLinear" for n in model.graph.node):
        from faceprint.models.transforms import fold_dequantization

        fold_dequantization(model, name=path.name)
    g = model.graph
    constants = {i.name: numpy_helper.to_array(i).astype(np.float32) for i in g.initializer}
    inputs = [i.name for i in g.input if i.name not in constants]
    if len(inputs) != 1:
        raise ModelRuntimeError(f"{path.name}: expected one graph input, got {inputs}")
    nodes = []
    for n in g.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        ins = tuple(i for i in n.input if i)
        out = n.output[0]
        op = n.op_type
        if op == "Conv":
            kernel = constants[ins[1]].shape[2:]
            pads = list(attrs.get("pads", [0] * 2 * len(kernel)))
            nodes.append(
                Node(
                    "conv",
                    ins,
                    out,
                    {
                        "strides": list(attrs.get("strides", [1, 1])),
                        "dilations": list(attrs.get("dilations", [1, 1])),
                        "pads_begin": pads[: len(kernel)],
                        "pads_end": pads[len(kernel) :],
                        "groups": int(attrs.get("group", 1)),
                    },
                )
            )
        elif op == "BatchNormalization":
            nodes.append(Node("batchnorm", ins, out, {"eps": float(attrs.get("epsilon", 1e-5))}))
        elif op == "Gemm":
            nodes.append(
                Node(
                    "gemm",
                    ins,
                    out,
                    {
                        "alpha": float(attrs.get("alpha", 1.0)),
                        "beta": float(attrs.get("beta", 1.0)),
                        "trans_a": int(attrs.get("transA", 0)),
                        "trans_b": int(attrs.get("transB", 0)),
                    },
                )
            )
        elif op == "Flatten":
            nodes.append(Node("flatten", ins, out, {"axis": int(attrs.get("axis", 1))}))
        elif op == "Reshape":
            shape = [int(v) for v in constants[ins[1]].astype(np.int64)]
            nodes.append(Node("reshape", ins[:1], out, {"shape": shape}))
        elif op == "Transpose":
            nodes.append(Node("transpose", ins, out, {"perm": list(attrs["perm"])}))
        elif op == "Resize":
            scales = constants.get(ins[2]) if len(ins) > 2 else None
            if (
                attrs.get("mode", b"nearest") != b"nearest"
                or scales is None
                or list(scales[:2]) != [1.0, 1.0]
            ):
                raise ModelRuntimeError(
                    f"{path.name}: only nearest Resize by constant scales is supported"
                )
            nodes.append(
                Node("upsample_nearest", ins[:1], out, {"scale": [float(v) for v in scales[2:]]})
            )
        elif op in ("MaxPool", "AveragePool"):
            window = list(attrs["kernel_shape"])
            pads = list(attrs.get("pads", [0] * 2 * len(window)))
            nodes.append(
                Node(
                    "maxpool" if op == "MaxPool" else "avgpool",
                    ins,
                    out,
                    {
                        "kernel": window,
                        "strides": list(attrs.get("strides", window)),
                        "pads_begin": pads[: len(window)],
                        "pads_end": pads[len(window) :],
                        "ceil": bool(attrs.get("ceil_mode", 0)),
                        "exclude_pad": not bool(attrs.get("count_include_pad", 0)),
                    },
                )
            )
        elif op in ("Dropout", "Identity"):
            nodes.append(Node("identity", ins[:1], out))
        elif op in ("Add", "Sub", "Mul", "PRelu", "Relu", "Sigmoid"):
            nodes.append(Node(op.lower(), ins, out))
        else:
            raise ModelRuntimeError(
                f"{path.name}: operator {op} is not supported on the torch path"
            )
    return Graph(
        input=inputs[0],
        outputs=tuple(o.name for o in g.output),
        nodes=tuple(nodes),
        constants=constants,
    )


class TorchGraph:
    """Execute a :class:`Graph` with PyTorch on ``device`` in ``dtype``.

    Args:
        graph: the neutral graph.
        device: ``"cpu"`` or ``"cuda"`` (or ``"cuda:N"``).
        half: run in float16 (CUDA only; inputs and outputs stay float32 at the boundary).
    """

    def __init__(self, graph: Graph, *, device: str = "cpu", half: bool = False) -> None:
        import torch

        unknown = {n.op for n in graph.nodes} - SUPPORTED
        if unknown:
            raise ModelRuntimeError(f"unsupported operators on the torch path: {sorted(unknown)}")
        self._torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float16 if half else torch.float32
        self._graph = graph
        self._consts = {
            k: torch.tensor(np.asarray(v, dtype=np.float32)).to(self.device, self.dtype)
            for k, v in graph.constants.items()
        }

    def __call__(self, batch: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            outs = self.forward(x.to(self.device, self.dtype))
            return [o.float().cpu().numpy() for o in outs]

    def forward(self, x: Any) -> list[Any]:
        """Run on a tensor already on the device; returns the output tensors."""
        import torch.nn.functional as F  # noqa: N812

        values: dict[str, Any] = dict(self._consts)
        values[self._graph.input] = x
        for node in self._graph.nodes:
            a = [values[i] for i in node.inputs]
            op, attrs = node.op, node.attrs
            if op == "conv":
                pb, pe = attrs["pads_begin"], attrs["pads_end"]
                inp = a[0]
                if pb == pe:
                    padding = tuple(pb)
                else:  # asymmetric: pad explicitly (left, right, top, bottom)
                    inp = F.pad(inp, (pb[1], pe[1], pb[0], pe[0]))
                    padding = (0, 0)
                y = F.conv2d(
                    inp,
                    a[1],
                    a[2] if len(a) > 2 else None,
                    stride=tuple(attrs["strides"]),
                    padding=padding,
                    dilation=tuple(attrs["dilations"]),
                    groups=attrs["groups"],
                )
            elif op == "batchnorm":
                y = F.batch_norm(a[0], a[3], a[4], a[1], a[2], False, 0.0, attrs["eps"])
            elif op == "add":
                y = a[0] + a[1]
            elif op == "sub":
                y = a[0] - a[1]
            elif op == "mul":
                y = a[0] * a[1]
            elif op == "prelu":
                y = _prelu(a[0], a[1], per_channel_1d=attrs.get("per_channel_1d", False))
            elif op == "relu":
                y = F.relu(a[0])
            elif op == "sigmoid":
                y = a[0].sigmoid()
            elif op in ("maxpool", "avgpool"):
                pb, pe = attrs["pads_begin"], attrs["pads_end"]
                inp = a[0]
                if pb != pe:
                    value = float("-inf") if op == "maxpool" else 0.0
                    inp = F.pad(inp, (pb[1], pe[1], pb[0], pe[0]), value=value)
                    pb = [0, 0]
                kwargs = {
                    "kernel_size": tuple(attrs["kernel"]),
                    "stride": tuple(attrs["strides"]),
                    "padding": tuple(pb),
                    "ceil_mode": attrs.get("ceil", False),
                }
                if op == "maxpool":
                    y = F.max_pool2d(inp, **kwargs)
                else:
                    y = F.avg_pool2d(
                        inp, count_include_pad=not attrs.get("exclude_pad", True), **kwargs
                    )
            elif op == "flatten":
                y = a[0].flatten(attrs["axis"])
            elif op == "gemm":
                lhs = a[0].t() if attrs["trans_a"] else a[0]
                rhs = a[1].t() if attrs["trans_b"] else a[1]
                y = attrs["alpha"] * (lhs @ rhs)
                if len(a) > 2:
                    y = y + attrs["beta"] * a[2]
            elif op == "reshape":
                shape = list(attrs["shape"])
                if shape and shape[0] == 1:  # a graph exported at batch 1: keep the batch
                    shape[0] = a[0].shape[0]
                y = a[0].reshape(shape)
            elif op == "transpose":
                y = a[0].permute(*attrs["perm"])
            elif op == "upsample_nearest":
                y = F.interpolate(a[0], scale_factor=tuple(attrs["scale"]), mode="nearest")
            else:  # identity
                y = a[0]
            values[node.output] = y
        return [values[o] for o in self._graph.outputs]


def _prelu(x: Any, slope: Any, *, per_channel_1d: bool) -> Any:
    """PReLU with the slope broadcast like the source format does.

    ONNX broadcasts numpy-style (a 1-D slope runs along the *last* axis); OpenVINO
    applies a 1-D slope of C values along the channel axis.
    """
    import torch.nn.functional as F  # noqa: N812

    channels = x.shape[1] if x.dim() > 1 else 1
    if slope.numel() == 1:
        return F.prelu(x, slope.reshape(1))
    if slope.dim() == 1 and per_channel_1d and slope.numel() == channels:
        return F.prelu(x, slope)
    if slope.dim() == x.dim() - 1 and slope.shape[0] == channels and slope[0].numel() == 1:
        return F.prelu(x, slope.reshape(-1))  # (C, 1, 1): per channel under numpy rules
    return x.clamp(min=0) + slope * x.clamp(max=0)


def warp_batch(image: Any, matrices: NDArray[np.float64], *, size: int) -> Any:
    """Bilinear affine crops of one image on its device — ``cv2.warpAffine`` on the GPU.

    Args:
        image: a 1×C×H×W float tensor.
        matrices: N×2×3 image→crop affine matrices (pixel coordinates, as for OpenCV).
        size: crop side S.

    Returns:
        An N×C×S×S tensor; samples outside the image are 0 (OpenCV's constant border).
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    height, width = image.shape[-2:]
    full = np.concatenate([matrices, np.tile([[[0.0, 0.0, 1.0]]], (len(matrices), 1, 1))], axis=1)
    inverse = np.linalg.inv(full)[:, :2]  # crop pixel → image pixel
    coords = np.arange(size, dtype=np.float64)
    gx, gy = np.meshgrid(coords, coords)
    points = np.stack([gx, gy, np.ones_like(gx)], axis=-1)  # S×S×3
    src = np.einsum("nij,hwj->nhwi", inverse, points)  # N×S×S×2 (x, y)
    norm = np.empty_like(src)
    norm[..., 0] = src[..., 0] * 2.0 / max(width - 1, 1) - 1.0
    norm[..., 1] = src[..., 1] * 2.0 / max(height - 1, 1) - 1.0
    grid = torch.from_numpy(norm.astype(np.float32)).to(image.device, image.dtype)
    batch = image.expand(len(matrices), -1, -1, -1)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def embed_on_device(
    graph: TorchGraph,
    jobs: list[tuple[NDArray[np.uint8], NDArray[np.float64]]],
    *,
    size: int,
    mean: NDArray[np.float32],
    std: NDArray[np.float32],
    batch_size: int,
) -> list[NDArray[np.float32]]:
    """Warp and embed faces on the graph's device.

    Args:
        graph: the embedding network.
        jobs: per image, its H×W×3 uint8 pixels (already in the model's channel order)
            and the N×2×3 image→crop matrices of its faces.
        size: crop side; mean, std: 1×3×1×1 normalisation; batch_size: crops per pass.

    Returns:
        Per job, an N×D float32 array of raw (not normalised) embeddings.
    """
    import torch

    mean_t = torch.from_numpy(mean).to(graph.device, graph.dtype)
    std_t = torch.from_numpy(std).to(graph.device, graph.dtype)
    results = []
    with torch.inference_mode():
        for pixels, matrices in jobs:
            tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
            tensor = tensor[None].to(graph.device).to(graph.dtype)
            parts = []
            for start in range(0, len(matrices), batch_size):
                crops = warp_batch(tensor, matrices[start : start + batch_size], size=size)
                parts.append(graph.forward((crops - mean_t) / std_t)[0].float().cpu().numpy())
            results.append(np.concatenate(parts).reshape(len(matrices), -1))
    return results
