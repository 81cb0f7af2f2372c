"""Checks shared by the image model builders."""
from __future__ import annotations

from isyarat.errors import IsyaratError


def check_image_shape(input_shape: tuple[int, ...], name: str, min_size: int = 32) -> tuple[int, int, int]:
    """Image models take (3, H, W); grayscale images are replicated to 3 channels by the transform."""
    if len(input_shape) != 3 or input_shape[0] != 3 or min(input_shape[1:]) < min_size:
        raise IsyaratError(
            f"model '{name}' takes input_shape (3, H, W) with H, W >= {min_size}, got {tuple(input_shape)}; "
            "set the image size in the recipe's transform"
        )
    return int(input_shape[0]), int(input_shape[1]), int(input_shape[2])
