"""Frame models: kinivi's tiny MLP baseline and a stronger residual MLP."""
from __future__ import annotations

import torch
from torch import nn

from isyarat.models.landmark_models.shapes import check_classes, frame_features
from isyarat.models.registry import register


@register("mlp", track="landmarks")
def build_mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden: tuple[int, ...] = (20, 10),
    input_dropout: float = 0.2,
    dropout: float = 0.4,
) -> nn.Module:
    """kinivi's baseline: Dropout 0.2 -> Linear 20 ReLU -> Dropout 0.4 -> Linear 10 ReLU -> Linear."""
    width = frame_features("mlp", input_shape)
    check_classes("mlp", num_classes)
    layers: list[nn.Module] = [nn.Dropout(input_dropout)]
    for i, size in enumerate(hidden):
        if i > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Pre-norm residual feed-forward block."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, 2 * dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register("resmlp", track="landmarks")
def build_resmlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    dim: int = 256,
    blocks: int = 2,
    dropout: float = 0.2,
) -> nn.Module:
    """Residual MLP (LayerNorm, GELU, dropout) for frame features: strong and cheap to train."""
    features = frame_features("resmlp", input_shape)
    check_classes("resmlp", num_classes)
    return nn.Sequential(
        nn.Linear(features, dim),
        *[ResidualBlock(dim, dropout) for _ in range(blocks)],
        nn.LayerNorm(dim),
        nn.Dropout(dropout),
        nn.Linear(dim, num_classes),
    )
