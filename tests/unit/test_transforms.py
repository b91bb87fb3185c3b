"""The one-time ONNX transform: constant dequantization folded, batch made dynamic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from faceprint.errors import ModelError
from faceprint.models.transforms import TRANSFORMS, dequantize_dynamic_batch


def _quantized_conv_model(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    w_q = rng.integers(-127, 127, size=(6, 1), dtype=np.int8)  # flat, reshaped to (3,2,1,1)
    scale = np.array(0.05, dtype=np.float32)
    zero = np.array(0, dtype=np.int8)
    shape = np.array([3, 2, 1, 1], dtype=np.int64)
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_deq"]),
        helper.make_node("Reshape", ["w_deq", "w_shape"], ["w"]),
        helper.make_node("Conv", ["x", "w"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        inputs=[
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4]),
            # an unused graph input shadowing an initializer, as in OpenCV zoo's SFace
            helper.make_tensor_value_info("w_q", TensorProto.INT8, [6, 1]),
        ],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])],
        initializer=[
            numpy_helper.from_array(w_q, "w_q"),
            numpy_helper.from_array(scale, "w_scale"),
            numpy_helper.from_array(zero, "w_zero"),
            numpy_helper.from_array(shape, "w_shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return w_q, scale


def test_dequantize_dynamic_batch_is_exact_and_batched(tmp_path):
    src, dst = tmp_path / "q.onnx", tmp_path / "f.onnx"
    w_q, scale = _quantized_conv_model(src)
    dequantize_dynamic_batch(src, dst)
    out = onnx.load(str(dst))
    assert [n.op_type for n in out.graph.node] == ["Conv"]
    assert [i.name for i in out.graph.input] == ["x"]
    assert out.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    x = np.random.default_rng(1).standard_normal((3, 2, 4, 4)).astype(np.float32)
    got = ReferenceEvaluator(out).run(None, {"x": x})[0]
    w = (w_q.astype(np.float32) * scale).reshape(3, 2)
    expected = np.einsum("oc,nchw->nohw", w, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_transform_is_deterministic(tmp_path):
    src = tmp_path / "q.onnx"
    _quantized_conv_model(src)
    dequantize_dynamic_batch(src, tmp_path / "a.onnx")
    dequantize_dynamic_batch(src, tmp_path / "b.onnx")
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_transform_refuses_a_graph_without_quantized_weights(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    src = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), str(src))
    with pytest.raises(ModelError, match="no constant DequantizeLinear"):
        dequantize_dynamic_batch(src, tmp_path / "out.onnx")


def test_registry_names_the_transform():
    assert TRANSFORMS["dequantize_dynamic_batch"] is dequantize_dynamic_batch
