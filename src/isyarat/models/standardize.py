"""Z-score standardization as the first layer of a model (the SIBI LSTM paper standardizes its
landmark inputs). Its statistics are buffers fitted on the training split: they are saved with
the weights and exported inside the ONNX model, so training and runtime cannot disagree."""
from __future__ import annotations

import torch
from torch import nn

MIN_STD = 1e-6


class Standardize(nn.Module):
    """(x - mean) / std per feature. Inputs with a mask channel (sequences, graphs: the last
    channel) keep the mask as it is and stay zero where it is 0."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.masked = len(input_shape) > 1
        features = input_shape[-1] - int(self.masked)
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Statistics of training inputs x (N, *input_shape), over real frames/nodes only."""
        values = x.reshape(-1, x.shape[-1])
        if self.masked:
            values = values[values[:, -1] > 0.5, :-1]
        if len(values):
            self.mean.copy_(values.mean(0))
            self.std.copy_(values.std(0, unbiased=False).clamp(min=MIN_STD))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.masked:
            return (x - self.mean) / self.std
        values, mask = x[..., :-1], x[..., -1:]
        return torch.cat([(values - self.mean) / self.std * mask, mask], dim=-1)


def standardized(model: nn.Module, input_shape: tuple[int, ...]) -> nn.Sequential:
    """`model` behind a Standardize layer (fit it before training; loading fills it)."""
    return nn.Sequential(Standardize(tuple(input_shape)), model)
