"""Reading images and video frames (BGR, as OpenCV gives them) and padding tight crops."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from isyarat.errors import IsyaratError


def read_image(path: str | Path) -> np.ndarray:
    """The image as a BGR uint8 array; IsyaratError when it is missing or cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise IsyaratError(f"{path}: image not found: check the path")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise IsyaratError(f"{path}: not a readable image: replace or remove the file")
    return image


def iter_video_frames(path: str | Path, every: int = 1, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield every `every`-th decoded BGR frame, at most `max_frames` of them; IsyaratError when
    the video cannot be opened or yields no frame."""
    path = Path(path)
    if not path.is_file():
        raise IsyaratError(f"{path}: video not found: check the path")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise IsyaratError(f"{path}: cannot open the video: re-encode it as mp4 (H.264 or mp4v)")
        yielded = 0
        index = 0
        while max_frames is None or yielded < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                yielded += 1
                yield frame
            index += 1
        if yielded == 0:
            raise IsyaratError(f"{path}: no frame could be decoded: re-encode the video or remove it")
    finally:
        capture.release()


def video_fps(path: str | Path, default: float = 30.0) -> float:
    """The video's frame rate as its container declares it (`default` when it declares none),
    so that frame n can be given its time n / fps."""
    capture = cv2.VideoCapture(str(path))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return float(fps) if fps and 1.0 <= fps <= 1000.0 else default


def border_size(shape: tuple[int, ...], fraction: float) -> tuple[int, int]:
    """(rows, columns) of padding added on each side for an image of `shape`."""
    return round(shape[0] * fraction), round(shape[1] * fraction)


def add_border(image: np.ndarray, fraction: float) -> np.ndarray:
    """Pad every side by `fraction` of the image's height/width, repeating the edge pixels, so
    that MediaPipe's palm detector finds hands in tight crops (a plain constant border helps
    far less there)."""
    rows, cols = border_size(image.shape, fraction)
    if rows == 0 and cols == 0:
        return image
    return cv2.copyMakeBorder(image, rows, rows, cols, cols, cv2.BORDER_REPLICATE)


def remove_border(points: np.ndarray, shape: tuple[int, ...], fraction: float) -> np.ndarray:
    """Map normalized (x, y, z, ...) points found in `add_border(image, fraction)` back to the
    normalized coordinates of the original image of `shape`; z scales like x."""
    rows, cols = border_size(shape, fraction)
    height, width = shape[:2]
    out = np.array(points, dtype=np.float32, copy=True)
    scale_x = (width + 2 * cols) / width
    scale_y = (height + 2 * rows) / height
    out[..., 0] = out[..., 0] * scale_x - cols / width
    out[..., 1] = out[..., 1] * scale_y - rows / height
    out[..., 2] = out[..., 2] * scale_x
    return out
