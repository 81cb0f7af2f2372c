"""The classifier head of an exported ONNX model: find it, read the embedding it is given, and
write a new one, so a bundle can be adapted without its PyTorch weights.

Every registry model ends in a linear layer (`nn.Linear`), which the exporter writes as one
`Gemm(h, W, b)` node producing `logits`; `h` is the model's embedding of a sample (for the
residual MLP, the output of its last LayerNorm). Adapting swaps `W` and `b` for a larger or
refitted pair: the rest of the graph, and so the features it reads, stay exactly as exported.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from isyarat.errors import IsyaratError

OUTPUT = "logits"
HEAD_WEIGHT, HEAD_BIAS = "adapted_head.weight", "adapted_head.bias"


@dataclass
class Head:
    """The last layer: logits = embedding @ weight.T + bias; `weight` is (classes, embedding size)."""

    embedding: str
    weight: np.ndarray
    bias: np.ndarray


def _attribute(node: onnx.NodeProto, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _head_node(model: onnx.ModelProto) -> onnx.NodeProto:
    output = model.graph.output[0].name
    for node in model.graph.node:
        if output in node.output:
            return node
    raise IsyaratError(f"the ONNX model has no node producing its output '{output}'; re-export the bundle")


def read_head(model: onnx.ModelProto) -> Head:
    """The final Gemm's weight and bias (as a (classes, embedding) matrix) and its input's name."""
    node = _head_node(model)
    inits = {i.name: i for i in model.graph.initializer}
    if node.op_type != "Gemm" or len(node.input) < 3 or not all(n in inits for n in node.input[1:3]):
        raise IsyaratError(f"this model does not end in a linear layer (its last node is {node.op_type}); "
                           "only models whose last layer is linear can be adapted")
    if _attribute(node, "transA", 0) or _attribute(node, "alpha", 1.0) != 1.0 or _attribute(node, "beta", 1.0) != 1.0:
        raise IsyaratError("the model's last linear layer is exported in an unusual form; re-export the bundle")
    weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
    if not _attribute(node, "transB", 0):
        weight = weight.T
    bias = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32).reshape(-1)
    return Head(node.input[0], weight, np.broadcast_to(bias, weight.shape[:1]).copy())


def with_embedding_output(model: onnx.ModelProto, head: Head) -> bytes:
    """A copy of the model that also outputs the head's input (the embedding), serialized."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    copy.graph.output.append(onnx.helper.make_tensor_value_info(head.embedding, onnx.TensorProto.FLOAT, None))
    return copy.SerializeToString()


def with_head(model: onnx.ModelProto, weight: np.ndarray, bias: np.ndarray) -> bytes:
    """A copy of the model whose last layer is `weight` (classes, embedding), `bias` (classes,):
    the old head's initializers are dropped and the logits output gets the new class count."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    node = _head_node(copy)
    old = set(node.input[1:3])
    kept = [i for i in copy.graph.initializer if i.name not in old]
    del copy.graph.initializer[:]
    copy.graph.initializer.extend(kept)
    copy.graph.initializer.extend([numpy_helper.from_array(weight.astype(np.float32), HEAD_WEIGHT),
                                   numpy_helper.from_array(bias.astype(np.float32), HEAD_BIAS)])
    node.input[1], node.input[2] = HEAD_WEIGHT, HEAD_BIAS
    del node.attribute[:]
    node.attribute.extend([onnx.helper.make_attribute("transB", 1)])
    dims = copy.graph.output[0].type.tensor_type.shape.dim
    if len(dims) == 2:
        dims[1].Clear()
        dims[1].dim_value = int(weight.shape[0])
    onnx.checker.check_model(copy)
    return copy.SerializeToString()
