"""Mask helpers shared by the sequence and graph models: padded frames and absent nodes count for nothing."""
from __future__ import annotations

import torch


def split_mask(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the last channel off as a 0/1 mask; zero what it masks out (NaN included)."""
    mask = x[..., -1] > 0.5
    feats = x[..., :-1]
    feats = torch.where(mask.unsqueeze(-1), feats, torch.zeros_like(feats))
    return feats, mask.to(x.dtype)


def compact(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Move the real frames of (B, T, F) to the front, in order, zeros after them.

    Done as a 0/1 matrix product so that it exports to ONNX; afterwards the mask is a prefix
    of `mask.sum(1)` frames, whatever the padding looked like."""
    position = torch.cumsum(mask, 1) - 1
    slots = torch.arange(x.shape[1], dtype=x.dtype, device=x.device)
    moves = (position.unsqueeze(1) == slots.view(1, -1, 1)).to(x.dtype) * mask.unsqueeze(1)
    return moves @ x


def trim_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Drop the steps after the longest real sequence of a compacted batch (real frames first).

    Outputs at real steps stay the same, and a batch of still photos (1 real frame of 50) runs
    one step instead of 50. Skipped during ONNX export, whose graph must keep the full length."""
    if torch.onnx.is_in_onnx_export() or torch.jit.is_tracing():
        return x
    return x[:, : max(1, int(lengths.max()))]


def prefix_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, T) 0/1 mask of the first `lengths` steps."""
    slots = torch.arange(steps, dtype=lengths.dtype, device=lengths.device)
    return (slots.unsqueeze(0) < lengths.unsqueeze(1)).to(lengths.dtype)


def reverse_prefix(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first `lengths` steps of each (T, F) sequence; zeros after them."""
    slots = torch.arange(x.shape[1], dtype=x.dtype, device=x.device)
    source = lengths.view(-1, 1, 1) - 1 - slots.view(1, -1, 1)
    moves = (source == slots.view(1, 1, -1)).to(x.dtype)
    return moves @ x


def last_step(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The output at step `lengths - 1` of each (T, F) sequence (zeros for an empty one)."""
    slots = torch.arange(x.shape[1], dtype=x.dtype, device=x.device)
    pick = (slots.unsqueeze(0) == lengths.unsqueeze(1) - 1).to(x.dtype)
    return (pick.unsqueeze(-1) * x).sum(1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, N, F) over the N positions whose mask is 1 (zeros if none)."""
    total = (x * mask.unsqueeze(-1)).sum(1)
    return total / mask.sum(1, keepdim=True).clamp(min=1.0)
