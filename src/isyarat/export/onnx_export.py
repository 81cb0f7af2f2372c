"""ONNX export of any registry model, and a check that onnxruntime agrees with torch."""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from isyarat.errors import IsyaratError

OPSET = 17
# GridSample and AffineGrid (the Spatial Transformer's sampler) exist in ONNX from opset 20 on;
# a module that needs a newer opset says so (`onnx_opset = 20`), and its model is exported at 20
# (onnxruntime 1.31 runs it); the others stay at 17, with 20 tried when 17 lacks an operator.
NEWER_OPSET = 20


class ExportableAdaptiveAvgPool2d(nn.Module):
    """nn.AdaptiveAvgPool2d written as slices and means, the same numbers for any input size.
    The ONNX exporter refuses adaptive pooling whose output size does not divide its input size
    (AlexNet's 6x6 pooling of the 1x1 map a 64-px photo gives); inputs have a fixed size at
    export, so the bins become constants."""

    def __init__(self, output_size) -> None:
        super().__init__()
        size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.output_size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        oh, ow = (h if o is None else o for o, h in zip(self.output_size, (h, w)))
        if h % oh == 0 and w % ow == 0:
            return F.adaptive_avg_pool2d(x, (oh, ow))
        rows = torch.cat([x[..., _start(i, h, oh):_end(i, h, oh), :].mean(-2, keepdim=True) for i in range(oh)], -2)
        return torch.cat([rows[..., _start(j, w, ow):_end(j, w, ow)].mean(-1, keepdim=True) for j in range(ow)], -1)


def _start(i: int, size: int, bins: int) -> int:
    return (i * size) // bins


def _end(i: int, size: int, bins: int) -> int:
    return -(-((i + 1) * size) // bins)


def exportable(model: nn.Module) -> nn.Module:
    """A copy of `model` with its adaptive average pooling replaced by an exportable equivalent
    (the model itself is left as it is)."""
    if not any(isinstance(m, nn.AdaptiveAvgPool2d) for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.AdaptiveAvgPool2d):
                setattr(module, name, ExportableAdaptiveAvgPool2d(child.output_size))
    return model


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: Path) -> int:
    """Write `model` as one ONNX file: input `x` (B, *input_shape), output `logits`, dynamic batch.
    Returns the opset used: 17, or 20 for models that need a newer operator (Spatial Transformers).
    A model that cannot be exported raises IsyaratError.

    Uses the TorchScript exporter: the dynamo one fixes the batch size of a batch-1 example."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    opset = max([OPSET, *(getattr(m, "onnx_opset", OPSET) for m in model.modules())])
    try:
        target = exportable(model).eval()
        try:
            _export(target, input_shape, path, opset)
            return opset
        except torch.onnx.errors.UnsupportedOperatorError:
            if opset >= NEWER_OPSET:
                raise
            _export(target, input_shape, path, NEWER_OPSET)  # an operator ONNX gained later
            return NEWER_OPSET
    except IsyaratError:
        raise
    except Exception as err:  # the exporter raises many types; the user gets one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise IsyaratError(f"cannot export {type(model).__name__} with input {tuple(input_shape)} to ONNX "
                           f"({type(err).__name__}: {first}); try another model or image size") from err
    finally:
        model.train(was_training)


def _export(model: nn.Module, input_shape: tuple[int, ...], path: Path, opset: int) -> None:
    example = torch.rand(2, *input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about constant shapes: inputs have a fixed size
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            external_data=False,
            opset_version=opset,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
        )


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
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (got,) = session.run(["logits"], {"x": x.numpy()})
    except Exception as err:  # onnxruntime raises several unrelated types
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise IsyaratError(f"{path}: onnxruntime cannot run the exported model ({first}); "
                           "try another model or image size") from err
    diff = float(np.max(np.abs(got - expected)))
    if not diff <= atol:
        raise IsyaratError(f"{path}: ONNX logits differ from torch by {diff:.2e} (> {atol:g}); re-export the model")
    return diff
