"""The PyTorch graph interpreter (the GPU path) against the ONNX reference evaluator."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from faceprint.errors import ModelRuntimeError

torch = pytest.importorskip("torch")

from faceprint.models.torch_graph import TorchGraph, from_onnx  # noqa: E402


def _model(tmp_path, op_extra=None):
    rng = np.random.default_rng(0)
    inits = {
        "mean": np.array(127.5, np.float32).reshape(1),
        "scale": np.array(1 / 128, np.float32).reshape(1),
        "w1": rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.2,
        "b1": rng.standard_normal(4).astype(np.float32),
        "g": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "beta": rng.standard_normal(4).astype(np.float32),
        "mu": rng.standard_normal(4).astype(np.float32),
        "var": rng.uniform(0.5, 2, 4).astype(np.float32),
        "slope": rng.uniform(0, 0.3, 4).astype(np.float32),
        "wd": rng.standard_normal((4, 1, 3, 3)).astype(np.float32) * 0.2,
        "fc": rng.standard_normal((5, 4 * 4 * 4)).astype(np.float32) * 0.1,
        "fcb": rng.standard_normal(5).astype(np.float32),
    }
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["s"]),
        helper.make_node("Mul", ["s", "scale"], ["m"]),
        # asymmetric padding, stride 2
        helper.make_node("Conv", ["m", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 0, 0]),
        helper.make_node(
            "BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["bn"], epsilon=1e-3
        ),
        helper.make_node("PRelu", ["bn", "slope"], ["p"]),
        # depthwise
        helper.make_node("Conv", ["p", "wd"], ["dw"], group=4, pads=[1, 1, 1, 1]),
        helper.make_node("Dropout", ["dw"], ["d"]),
        helper.make_node("Flatten", ["d"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1),
    ]
    if op_extra:
        nodes.append(op_extra)
    graph = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return path, model


def test_torch_graph_matches_onnx_reference(tmp_path):
    path, model = _model(tmp_path)
    x = np.random.default_rng(1).uniform(0, 255, (3, 3, 8, 8)).astype(np.float32)
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = TorchGraph(from_onnx(path), device="cpu")(x)[0]
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_unsupported_operator_is_a_clear_error(tmp_path):
    path, _ = _model(tmp_path, helper.make_node("Softmax", ["y"], ["z"]))
    with pytest.raises(ModelRuntimeError, match="Softmax"):
        from_onnx(path)


def test_warp_batch_matches_opencv_warp_affine():
    from faceprint.core.align import alignment_matrix, warp
    from faceprint.models.torch_graph import warp_batch

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    landmarks = [
        np.array([[150, 120], [230, 125], [190, 170], [160, 220], [225, 222]], float),
        np.array([[300, 60], [350, 50], [330, 90], [310, 120], [355, 112]], float),  # rotated
        np.array([[-20, 10], [40, 12], [10, 50], [-10, 80], [38, 82]], float),  # off the edge
    ]
    matrices = np.stack([alignment_matrix(lm, "arcface_112") for lm in landmarks])
    tensor = torch.from_numpy(image.transpose(2, 0, 1).copy())[None].float()
    got = warp_batch(tensor, matrices, size=112).numpy().transpose(0, 2, 3, 1)
    for m, crop in zip(matrices, got, strict=True):
        want = warp(image, m, 112).astype(np.float32)
        # OpenCV rounds to uint8 and uses 5-bit interpolation weights
        assert np.abs(crop - want).max() <= 2.0
        assert np.abs(crop - want).mean() < 0.5
