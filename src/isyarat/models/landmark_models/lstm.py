"""Sequence LSTMs of the SIBI letters and Kolok words papers, padding-proof.

Real frames are first moved to the front (`compact`), so every recurrent output at a real step
depends on real frames only, and the prediction is read at the last real step."""
from __future__ import annotations

import torch
from torch import nn

from isyarat.errors import IsyaratError
from isyarat.models.landmark_models.masking import compact, last_step, reverse_prefix, split_mask, trim_padding
from isyarat.models.landmark_models.shapes import check_classes, sequence_features
from isyarat.models.registry import register


class SibiLSTM(nn.Module):
    """Bidirectional LSTM (sequences) -> LSTM (last step) -> Dropout -> Dense ReLU -> Dense.

    The backward direction is its own LSTM run over each sequence reversed within its real
    length, so that padding never enters it (nn.LSTM's bidirectional mode would start in it)."""

    def __init__(self, features: int, num_classes: int, units: tuple[int, int], dense: int, dropout: float):
        super().__init__()
        self.forward_lstm = nn.LSTM(features, units[0], batch_first=True)
        self.backward_lstm = nn.LSTM(features, units[0], batch_first=True)
        self.lstm = nn.LSTM(2 * units[0], units[1], batch_first=True)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(units[1], dense), nn.ReLU(), nn.Linear(dense, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, mask = split_mask(x)
        lengths = mask.sum(1)
        seq = trim_padding(compact(feats, mask), lengths)
        ahead, _ = self.forward_lstm(seq)
        behind, _ = self.backward_lstm(reverse_prefix(seq, lengths))
        both = torch.cat([ahead, reverse_prefix(behind, lengths)], dim=-1)
        out, _ = self.lstm(both)
        return self.head(last_step(out, lengths))


class KolokLSTM(nn.Module):
    """Stacked LSTMs (sequences, last step read) -> Dense ReLU layers -> Dense."""

    def __init__(
        self, features: int, num_classes: int, units: tuple[int, ...], dense: tuple[int, ...], dropout: float
    ):
        super().__init__()
        sizes = (features, *units)
        self.lstms = nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in zip(sizes, sizes[1:]))
        self.dropout = nn.Dropout(dropout)
        layers: list[nn.Module] = []
        width = units[-1]
        for size in dense:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.head = nn.Sequential(*layers, nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, mask = split_mask(x)
        lengths = mask.sum(1)
        seq = trim_padding(compact(feats, mask), lengths)
        for lstm in self.lstms:
            seq, _ = lstm(seq)
            seq = self.dropout(seq)
        return self.head(last_step(seq, lengths))


@register("sibi_lstm", track="landmarks")
def build_sibi_lstm(
    input_shape: tuple[int, ...],
    num_classes: int,
    units: tuple[int, int] = (128, 64),
    dense: int = 64,
    dropout: float = 0.2,
) -> nn.Module:
    """SIBI letters paper: BiLSTM(128) -> LSTM(64) -> Dropout -> Dense(64) -> classes, over (50, 63 + mask)."""
    _, features = sequence_features("sibi_lstm", input_shape)
    check_classes("sibi_lstm", num_classes)
    if len(units) != 2:
        raise IsyaratError(f"sibi_lstm units are (bidirectional, second), got {units}: give two sizes")
    return SibiLSTM(features, num_classes, (int(units[0]), int(units[1])), dense, dropout)


KOLOK_UNITS = (64, 128, 64)


@register("kolok_lstm", track="landmarks")
def build_kolok_lstm(
    input_shape: tuple[int, ...],
    num_classes: int,
    layers: int = 2,
    dense: tuple[int, ...] = (64, 32),
    dropout: float = 0.2,
) -> nn.Module:
    """Kolok words paper: LSTM(64) -> LSTM(128) [-> LSTM(64) with layers=3] -> Dense 64, 32 -> classes,
    over (30, 258 + mask)."""
    _, features = sequence_features("kolok_lstm", input_shape)
    check_classes("kolok_lstm", num_classes)
    if layers not in (2, 3):
        raise IsyaratError(f"kolok_lstm has 2 or 3 LSTM layers, got layers={layers}: set layers to 2 or 3")
    return KolokLSTM(features, num_classes, KOLOK_UNITS[:layers], tuple(dense), dropout)
