"""The hand-crop option: cut the image to a square around the detected hands."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]


def hand_crop_box(hands: np.ndarray, image_w: int, image_h: int, margin: float = 0.25) -> Box | None:
    """Pixel box (x0, y0, x1, y1), x1/y1 exclusive, around every present landmark of `hands`
    (2, 21, 3) in normalized image coordinates: squared on its longer side, widened by `margin`
    of that side on each side, clipped to the image. None when no landmark is present."""
    points = np.asarray(hands, dtype=np.float64).reshape(-1, 3)[:, :2]
    points = points[~np.isnan(points).any(axis=1)] * (image_w, image_h)
    if len(points) == 0:
        return None
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    half = max(right - left, bottom - top, 1.0) * (0.5 + margin)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0, y0 = max(0, math.floor(cx - half)), max(0, math.floor(cy - half))
    x1, y1 = min(image_w, math.ceil(cx + half)), min(image_h, math.ceil(cy + half))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def crop_image(img: Image.Image | np.ndarray, box: Box) -> Image.Image | np.ndarray:
    """Crop a PIL image or an HxWxC array to `box`; returns the same kind."""
    x0, y0, x1, y1 = box
    if isinstance(img, Image.Image):
        return img.crop((x0, y0, x1, y1))
    return img[y0:y1, x0:x1]
