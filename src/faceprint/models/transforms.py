"""One-time, deterministic transforms applied to a model file after download.

A catalog entry may name a transform (``transform = "dequantize_dynamic_batch"``). The
store runs it once on the verified source file and caches the result next to it with
its own sha256. Transforms are pure functions from bytes on disk to bytes on disk:
same input file and same onnx version give the same output bytes.

``dequantize_dynamic_batch``
    For ONNX graphs whose weights are stored block-quantized (``DequantizeLinear`` on
    constant int8 tensors, optionally followed by a constant ``Reshape``), e.g. OpenCV
    zoo's SFace ``*_int8bq.onnx``. The constant sub-graphs are evaluated once with the
    onnx reference evaluator and replaced by float32 initializers, graph inputs that are
    unused or shadow initializers are removed (onnxruntime refuses them otherwise), and
    the batch dimension of every graph input and output is made symbolic (``"batch"``).
    The arithmetic of the network is unchanged: the float graph computes exactly what
    the quantized one dequantizes to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.errors import ModelError

log = logging.getLogger(__name__)

_CONSTANT_FOLDABLE = frozenset({"DequantizeLinear", "Reshape", "Constant", "Transpose", "Cast"})


def fold_dequantization(model: Any, *, name: str) -> tuple[int, int]:
    """In place: evaluate constant ``DequantizeLinear``/``Reshape``/… sub-graphs of an
    ``onnx.ModelProto`` into float32 initializers, drop unused or shadowing graph inputs,
    and make the batch dimension of every graph input and output symbolic.

    Returns:
        (number of folded nodes, number of new initializers).

    Raises:
        ModelError: the graph has no constant ``DequantizeLinear`` to fold.
    """
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    constants: set[str] = {init.name for init in graph.initializer}

    folded_nodes = []
    for node in graph.node:
        if node.op_type in _CONSTANT_FOLDABLE and all(
            (n in constants) or n == "" for n in node.input
        ):
            folded_nodes.append(node)
            constants.update(node.output)
    if not any(node.op_type == "DequantizeLinear" for node in folded_nodes):
        raise ModelError(f"{name}: no constant DequantizeLinear nodes to fold")

    folded_outputs = [out for node in folded_nodes for out in node.output]
    consumed = {n for node in graph.node if node not in folded_nodes for n in node.input}
    consumed.update(out.name for out in graph.output)
    needed = [n for n in folded_outputs if n in consumed]

    # Evaluate the constant sub-graph once.
    const_graph = helper.make_graph(
        list(folded_nodes),
        "constants",
        inputs=[],
        outputs=[
            helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None) for n in needed
        ],
        initializer=list(graph.initializer),
    )
    const_model = helper.make_model(const_graph, opset_imports=list(model.opset_import))
    const_model.ir_version = model.ir_version
    values = ReferenceEvaluator(const_model).run(None, {})

    kept_nodes = [node for node in graph.node if node not in folded_nodes]
    still_used = {n for node in kept_nodes for n in node.input}
    new_inits = [init for init in graph.initializer if init.name in still_used]
    for n, value in zip(needed, values, strict=True):
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        new_inits.append(numpy_helper.from_array(array, name=n))

    init_names = {init.name for init in new_inits}
    new_inputs = [
        inp for inp in graph.input if inp.name in still_used and inp.name not in init_names
    ]
    for value_info in [*new_inputs, *graph.output]:
        dims = value_info.type.tensor_type.shape.dim
        if len(dims) > 0:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"

    del graph.node[:]
    graph.node.extend(kept_nodes)
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    del graph.input[:]
    graph.input.extend(new_inputs)
    del graph.value_info[:]
    return len(folded_nodes), len(needed)


def dequantize_dynamic_batch(source: Path, target: Path) -> None:
    """Fold constant dequantization into float weights and make the batch dimension dynamic.

    Args:
        source: the verified ONNX file as downloaded.
        target: where to write the transformed ONNX file (overwritten).

    Raises:
        ModelError: the graph has no constant ``DequantizeLinear`` to fold, or the result
            fails the onnx checker.
    """
    import onnx

    model = onnx.load(str(source))
    folded, inits = fold_dequantization(model, name=source.name)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:  # pragma: no cover - defensive
        raise ModelError(f"{source.name}: transformed graph is invalid: {exc}") from exc
    target.write_bytes(model.SerializeToString())
    log.info(
        "transformed %s: folded %d constant nodes into %d float initializers",
        source.name,
        folded,
        inits,
    )


TRANSFORMS: dict[str, Callable[[Path, Path], None]] = {
    "dequantize_dynamic_batch": dequantize_dynamic_batch,
}
"""Transform name (as written in the catalog) → function(source, target)."""
