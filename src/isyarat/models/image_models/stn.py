"""Spatial Transformer (Jaderberg et al. 2015): learns an affine warp of the input, end to end."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from isyarat.errors import IsyaratError


class SpatialTransformer(nn.Module):
    """Localization net -> 6 affine parameters -> `affine_grid` + bilinear `grid_sample`.

    The localization net sees the input resized to `loc_size` pixels, so its cost does not grow
    with the image size. The last layer starts at zero weights and identity bias: at
    initialisation the module returns its input unchanged.
    """

    onnx_opset = 20  # affine_grid / grid_sample are ONNX AffineGrid / GridSample from opset 20 on

    def __init__(self, in_channels: int = 3, loc_size: int = 64) -> None:
        super().__init__()
        self.loc_size = loc_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 8, kernel_size=7),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(8, 10, kernel_size=5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_features = self.features(torch.zeros(1, in_channels, loc_size, loc_size)).shape[1]
        self.regressor = nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 6))
        nn.init.zeros_(self.regressor[-1].weight)
        with torch.no_grad():
            self.regressor[-1].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2, 3) affine matrices in normalized [-1, 1] coordinates."""
        small = F.interpolate(x, size=(self.loc_size, self.loc_size), mode="bilinear", align_corners=False)
        return self.regressor(self.features(small)).view(-1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = F.affine_grid(self.theta(x), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class WithSTN(nn.Module):
    """A backbone that sees the Spatial Transformer's warped image."""

    def __init__(self, stn: SpatialTransformer, backbone: nn.Module) -> None:
        super().__init__()
        self.stn = stn
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.stn(x))


def maybe_with_stn(backbone: nn.Module, input_shape: tuple[int, ...], stn: bool) -> nn.Module:
    """The `stn: true` model parameter: wrap any image model in a Spatial Transformer."""
    if not isinstance(stn, bool):
        raise IsyaratError(f"model parameter 'stn' must be true or false, got {stn!r}")
    return WithSTN(SpatialTransformer(input_shape[0]), backbone) if stn else backbone

