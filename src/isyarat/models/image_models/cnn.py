"""The small CNN of the SIBI alphabet paper: four 3x3 convolutions, three max pools, dropout, FC."""
from __future__ import annotations

import torch
from torch import nn

from isyarat.models.image_models.common import check_image_shape
from isyarat.models.image_models.stn import maybe_with_stn
from isyarat.models.registry import register


class SibiCNN(nn.Module):
    """conv32-pool-conv32-pool-conv64-pool-conv128 (3x3, ReLU), dropout, fully connected."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.features = nn.Sequential(
            *_conv(channels, 32), nn.MaxPool2d(2),
            *_conv(32, 32), nn.MaxPool2d(2),
            *_conv(32, 64), nn.MaxPool2d(2),
            *_conv(64, 128),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_features = self.features(torch.zeros(1, channels, height, width)).shape[1]
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel_size=3), nn.ReLU()]


@register("sibi_cnn", track="image")
def build(input_shape: tuple[int, ...], num_classes: int, dropout: float = 0.1, stn: bool = False) -> nn.Module:
    """The paper trains it on 64x64x3 images; softmax is left to the loss."""
    shape = check_image_shape(input_shape, "sibi_cnn", min_size=38)
    return maybe_with_stn(SibiCNN(shape, num_classes, dropout), shape, stn)
