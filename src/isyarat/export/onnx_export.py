"""ONNX export of any registry model, and a check that onnxruntime agrees with torch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from isyarat.errors import IsyaratError

OPSET = 17


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: Path) -> None:
    """Write `model` as one ONNX file: input `x` (B, *input_shape), output `logits`, dynamic batch.

    Uses the TorchScript exporter: the dynamo one fixes the batch size of a batch-1 example."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, *input_shape, generator=torch.Generator().manual_seed(0))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=False,
                external_data=False,
                opset_version=OPSET,
                input_names=["x"],
                output_names=["logits"],
                dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            )
    finally:
        model.train(was_training)


def check_onnx(model: nn.Module, path: Path, input_shape: tuple[int, ...], atol: float = 1e-4) -> float:
    """Max |onnxruntime - torch| of the logits on a random batch of 3; raises if over `atol`."""
    import onnxruntime

    path = Path(path)
    if not path.is_file():
        raise IsyaratError(f"{path}: no such ONNX file; export the model first")
    x = torch.rand(3, *input_shape, generator=torch.Generator().manual_seed(1))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(x).numpy()
    finally:
        model.train(was_training)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"x": x.numpy()})
    diff = float(np.max(np.abs(got - expected)))
    if not diff <= atol:
        raise IsyaratError(f"{path}: ONNX logits differ from torch by {diff:.2e} (> {atol:g}); re-export the model")
    return diff
