"""A small 1D-conv + transformer over landmark frames, after the 1st-place Kaggle ISLR solution.

Frames are embedded, mixed in time by depthwise convolutions and self-attention that see real
frames only, then averaged over the real frames. A frame input (F,) is a one-frame sequence."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from isyarat.errors import IsyaratError
from isyarat.models.landmark_models.masking import compact, masked_mean, prefix_mask, split_mask, trim_padding
from isyarat.models.landmark_models.shapes import check_classes, frame_features, sequence_features
from isyarat.models.registry import register

MASKED_SCORE = -1e9


class ConvBlock(nn.Module):
    """Pre-norm residual block: expand, depthwise temporal convolution, project."""

    def __init__(self, dim: int, kernel: int, dropout: float):
        super().__init__()
        wide = 2 * dim
        self.norm = nn.LayerNorm(dim)
        self.expand = nn.Linear(dim, wide)
        self.conv = nn.Conv1d(wide, wide, kernel, padding=kernel // 2, groups=wide)
        self.project = nn.Linear(wide, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.expand(self.norm(x))) * mask.unsqueeze(-1)
        h = self.conv(h.transpose(1, 2)).transpose(1, 2)
        h = self.project(F.silu(h))
        return (x + self.dropout(h)) * mask.unsqueeze(-1)


class AttentionBlock(nn.Module):
    """Pre-norm transformer encoder layer whose attention ignores padded frames."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def attend(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        steps, dim = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape(-1, steps, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(-1, -2)) * (dim // self.heads) ** -0.5
        scores = scores.masked_fill(mask[:, None, None, :] < 0.5, MASKED_SCORE)
        out = self.dropout(torch.softmax(scores, dim=-1)) @ v
        return self.out(out.transpose(1, 2).reshape(-1, steps, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attend(self.norm1(x), mask))
        x = x + self.dropout(self.ffn(self.norm2(x)))
        return x * mask.unsqueeze(-1)


class LandmarkTransformer(nn.Module):
    """Embedding -> `layers` x (2 conv blocks + 1 attention block) -> masked mean -> LayerNorm -> Linear."""

    def __init__(
        self, features: int, num_classes: int, frames: bool, dim: int, layers: int, heads: int, kernel: int,
        dropout: float,
    ):
        super().__init__()
        self.frames = frames
        self.embed = nn.Sequential(nn.Linear(features, dim), nn.LayerNorm(dim))
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(ConvBlock(dim, kernel, dropout))
            self.blocks.append(ConvBlock(dim, kernel, dropout))
            self.blocks.append(AttentionBlock(dim, heads, dropout))
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)

    def inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, F) real frames first and the (B, T) mask; a frame batch (B, F) is T = 1."""
        if self.frames:
            return x.unsqueeze(1), torch.ones_like(x[:, :1])
        feats, mask = split_mask(x)
        lengths = mask.sum(1)
        seq = trim_padding(compact(feats, mask), lengths)
        return seq, prefix_mask(lengths, seq.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, mask = self.inputs(x)
        h = self.embed(h) * mask.unsqueeze(-1)
        for block in self.blocks:
            h = block(h, mask)
        return self.head(self.dropout(self.norm(masked_mean(h, mask))))


@register("transformer", track="landmarks")
def build_transformer(
    input_shape: tuple[int, ...],
    num_classes: int,
    dim: int = 128,
    layers: int = 2,
    heads: int = 4,
    kernel: int = 5,
    dropout: float = 0.1,
) -> nn.Module:
    """Conv + transformer for frames (F,) or sequences (T, F + mask); ~0.55M parameters by default."""
    frames = len(input_shape) == 1
    if frames:
        features = frame_features("transformer", input_shape)
    else:
        _, features = sequence_features("transformer", input_shape)
    check_classes("transformer", num_classes)
    if dim % heads != 0:
        raise IsyaratError(f"transformer dim {dim} is not divisible by heads {heads}: change dim or heads")
    if kernel % 2 == 0:
        raise IsyaratError(f"transformer kernel must be odd, got {kernel}: use 3, 5 or 7")
    return LandmarkTransformer(features, num_classes, frames, dim, layers, heads, kernel, dropout)
