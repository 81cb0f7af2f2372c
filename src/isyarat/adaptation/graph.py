"""An exported ONNX model run by PyTorch, so its last layers can be fine-tuned and written back.

A bundle carries only its ONNX graph. The landmark models export to a handful of plain ops
(Gemm, LayerNormalization, Add, Mul, Div, Sub, Erf, Relu, ...); this module evaluates such a
graph with torch tensors, the initializers of the chosen nodes as trainable parameters, and
writes the trained values back into a copy of the graph: same graph, new numbers, so the
adapted model loads everywhere the base one does. A graph with any other op is refused.
"""
from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from isyarat.errors import IsyaratError


def _attr(node: onnx.NodeProto, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _gemm(node, a, b, c=None):
    a = a.T if _attr(node, "transA", 0) else a
    b = b.T if _attr(node, "transB", 0) else b
    out = _attr(node, "alpha", 1.0) * (a @ b)
    return out if c is None else out + _attr(node, "beta", 1.0) * c


def _layer_norm(node, x, scale, bias=None):
    axis = _attr(node, "axis", -1)
    dims = tuple(range(axis % x.dim(), x.dim()))
    mean = x.mean(dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dims, keepdim=True)
    out = (x - mean) / torch.sqrt(var + _attr(node, "epsilon", 1e-5)) * scale
    return out if bias is None else out + bias


OPS = {
    "Add": lambda n, a, b: a + b, "Sub": lambda n, a, b: a - b, "Mul": lambda n, a, b: a * b,
    "Div": lambda n, a, b: a / b, "MatMul": lambda n, a, b: a @ b, "Erf": lambda n, a: torch.erf(a),
    "Relu": lambda n, a: torch.relu(a), "Tanh": lambda n, a: torch.tanh(a), "Sigmoid": lambda n, a: torch.sigmoid(a),
    "Sqrt": lambda n, a: torch.sqrt(a), "Identity": lambda n, a: a, "Gemm": _gemm,
    "LayerNormalization": _layer_norm,
}


class TorchGraph(torch.nn.Module):
    """The ONNX graph as a torch module: forward(x) -> {tensor name: value} for every node output.
    Initializers named in `trainable` are parameters; the rest are fixed tensors."""

    def __init__(self, model: onnx.ModelProto, trainable: set[str] = frozenset()) -> None:
        super().__init__()
        unknown = sorted({n.op_type for n in model.graph.node} - set(OPS) - {"Constant"})
        if unknown:
            raise IsyaratError(f"this model uses {', '.join(unknown)}, which adaptation cannot fine-tune; "
                               "use --method shared (the last layer only)")
        self.nodes = list(model.graph.node)
        self.input = model.graph.input[0].name
        self.names = {init.name: f"p{i}" for i, init in enumerate(model.graph.initializer)}
        for init in model.graph.initializer:
            value = torch.from_numpy(numpy_helper.to_array(init).astype(np.float32).copy())
            if init.name in trainable:
                self.register_parameter(self.names[init.name], torch.nn.Parameter(value))
            else:
                self.register_buffer(self.names[init.name], value)

    def value(self, name: str) -> torch.Tensor:
        return getattr(self, self.names[name])

    def frozen(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The values of every node output that no trainable weight reaches, computed once: a
        training step then runs only the nodes after the first trainable one."""
        moving = {name for name, _ in self.named_parameters()}
        moving = {init for init, attr in self.names.items() if attr in moving}
        for node in self.nodes:
            if any(i in moving for i in node.input):
                moving.update(node.output)
        with torch.no_grad():
            values = self(x)
        return {name: value for name, value in values.items() if name not in moving}

    def forward(self, x: torch.Tensor, given: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Every node output for input x; outputs in `given` (see frozen()) are taken, not computed."""
        values = {self.input: x, **(given or {})}
        for node in self.nodes:
            if node.output[0] in values:
                continue
            if node.op_type == "Constant":
                tensor = numpy_helper.to_array(_attr(node, "value", None)).astype(np.float32)
                values[node.output[0]] = torch.from_numpy(tensor.copy())
                continue
            args = [values[i] if i in values else self.value(i) for i in node.input if i]
            values[node.output[0]] = OPS[node.op_type](node, *args)
        return values


def last_layers(model: onnx.ModelProto, count: int) -> set[str]:
    """Initializer names of the last `count` nodes that hold weights (Gemm, MatMul, LayerNormalization)."""
    inits = {i.name for i in model.graph.initializer}
    weighted = [n for n in model.graph.node if n.op_type in ("Gemm", "MatMul", "LayerNormalization")
                and any(i in inits for i in n.input)]
    return {i for n in weighted[-count:] for i in n.input if i in inits} if count else set()


def with_values(model: onnx.ModelProto, graph: TorchGraph, names: set[str]) -> onnx.ModelProto:
    """A copy of the model whose initializers in `names` hold the graph's current values."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for i, init in enumerate(copy.graph.initializer):
        if init.name in names:
            array = graph.value(init.name).detach().numpy().astype(np.float32)
            copy.graph.initializer[i].CopyFrom(numpy_helper.from_array(array, init.name))
    return copy
