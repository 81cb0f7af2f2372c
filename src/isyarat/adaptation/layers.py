"""Fine-tune the last layers of an exported model (not only its head) on one signer's samples.

The head first gets its new classes' rows (imprinted as in fit.py); then the last few weighted
nodes of the ONNX graph (for the residual MLP: its last block, final LayerNorm and head) are
trained, run by PyTorch (adaptation/graph.py), on the user's samples with cross-entropy. Two
costs keep the base model's knowledge of the signs the user did not record: the model's answers
on those other signs must stay the base model's (distillation on the user's own samples: the
probabilities among the non-target classes), and each weight pays for its squared distance
from the base. The trained numbers are written back into the same graph.
"""
from __future__ import annotations

import numpy as np
import onnx
import torch

from isyarat.adaptation.fit import FitSettings, imprint
from isyarat.adaptation.graph import TorchGraph, last_layers, with_values
from isyarat.adaptation.head import read_head, with_head

TEMPERATURE = 2.0


def finetune_layers(model: onnx.ModelProto, inputs: np.ndarray, embeddings: np.ndarray, targets: np.ndarray,
                    n_classes: int, settings: FitSettings) -> bytes:
    """The adapted model (serialized): new head rows imprinted, then the last `settings.layers`
    weighted nodes trained on (inputs, targets)."""
    head = read_head(model)
    weight, bias = imprint(head.weight, head.bias, embeddings, targets, n_classes)
    start = onnx.load_from_string(with_head(model, weight, bias))
    names = last_layers(start, settings.layers)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        graph = TorchGraph(start, names)
        _train(graph, start.graph.output[0].name, names, inputs, targets, settings)
    finally:
        torch.set_num_threads(threads)
    adapted = with_values(start, graph, names)
    onnx.checker.check_model(adapted)
    return adapted.SerializeToString()


def _train(graph: TorchGraph, output: str, names: set[str], inputs: np.ndarray, targets: np.ndarray,
           settings: FitSettings) -> None:
    x, y = torch.from_numpy(inputs.astype(np.float32)), torch.from_numpy(targets.astype(np.int64))
    given = graph.frozen(x)
    with torch.no_grad():
        before = graph(x, given)[output]
    others = torch.ones_like(before, dtype=torch.bool)
    others[torch.arange(len(y)), y] = False
    kept = torch.softmax(before[others].view(len(y), -1) / TEMPERATURE, 1)
    start = {name: graph.value(name).detach().clone() for name in names}
    optimizer = torch.optim.Adam(list(graph.parameters()), lr=settings.layer_lr)
    for _ in range(settings.steps):
        optimizer.zero_grad()
        logits = graph(x, given)[output]
        loss = torch.nn.functional.cross_entropy(logits, y)
        now = torch.log_softmax(logits[others].view(len(y), -1) / TEMPERATURE, 1)
        loss = loss + settings.distill * torch.nn.functional.kl_div(now, kept, reduction="batchmean")
        drift = sum(((graph.value(n) - start[n]) ** 2).sum() for n in names)
        (loss + settings.layer_anchor * drift).backward()
        optimizer.step()
