"""Input-shape checks for the builders: a wrong shape is a recipe mistake, reported as such."""
from __future__ import annotations

from isyarat.errors import IsyaratError

SEQUENCE_MODELS = "sibi_lstm, kolok_lstm, transformer"


def check_classes(name: str, num_classes: int) -> None:
    if num_classes < 2:
        raise IsyaratError(f"model '{name}' needs at least 2 classes, got {num_classes}: check the labels")


def frame_features(name: str, input_shape: tuple[int, ...]) -> int:
    """F of a frame input (F,)."""
    if len(input_shape) != 1 or input_shape[0] < 1:
        raise IsyaratError(
            f"model '{name}' takes frame features (F,), got {tuple(input_shape)}: "
            f"use frame features or a sequence model ({SEQUENCE_MODELS})"
        )
    return int(input_shape[0])


def sequence_features(name: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(T, F) of a sequence input (T, F + 1) whose last channel is the frame mask."""
    if len(input_shape) != 2 or input_shape[0] < 1 or input_shape[1] < 2:
        raise IsyaratError(
            f"model '{name}' takes sequences (T, F + mask), got {tuple(input_shape)}: "
            "use sequence features (a window of frames with a mask channel)"
        )
    return int(input_shape[0]), int(input_shape[1]) - 1


def graph_features(name: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(V, C) of a graph input (V, C + 1) whose last channel is the node-present mask."""
    if len(input_shape) != 2 or input_shape[0] not in (21, 42) or input_shape[1] < 2:
        raise IsyaratError(
            f"model '{name}' takes hand graphs (21 or 42 nodes, C + mask), got {tuple(input_shape)}: "
            "use graph features (node features of one or two hands)"
        )
    return int(input_shape[0]), int(input_shape[1]) - 1
