"""The one media module: photos read as BGR arrays (OpenCV, for MediaPipe) or as upright RGB PIL
images (the image track), video frames, and the padding of tight crops. Both photo readers check
the header (format, pixel count) before decoding."""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from isyarat.errors import IsyaratError

# Decoding costs ~3 bytes a pixel (and MediaPipe's border more): a 7.8 KB PNG can claim 8000x8000.
# The header's pixel count is checked before any decoding; 50 MP still takes a 48 MP phone photo.
MAX_IMAGE_PIXELS = 50_000_000
IMAGE_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP"}
# Detection never needs more pixels than this on the long side: larger frames are shrunk before
# the detection border is added, so the border cannot multiply a huge image (coordinates are
# normalized, so they do not change).
MAX_DETECT_SIDE = 1920
# Video containers, recognized from their first bytes (never from the name): FFmpeg picks its
# demuxer from the content, so a playlist named x.mp4 would otherwise open other files or URLs.
VIDEO_CONTAINERS = ("MP4/MOV", "AVI", "WebM")
EXIF_ORIENTATION = 0x0112
EXIF_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
MOV_ATOMS = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


class ImageTooLarge(IsyaratError):
    """An image whose header claims more pixels than MAX_IMAGE_PIXELS (a decompression bomb)."""


def image_size(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the header of a JPEG, PNG, WebP or BMP, without decoding its pixels;
    IsyaratError for anything else, ImageTooLarge above MAX_IMAGE_PIXELS."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning: the limit below is ours
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{name}: the image is too large to decode (over {MAX_IMAGE_PIXELS // 1_000_000} "
                            "megapixels): send a smaller photo") from None
    except Exception:  # Pillow raises many types for bytes that are not an image
        raise IsyaratError(f"{name}: not a readable image: send a JPEG or PNG photo") from None
    if fmt not in IMAGE_FORMATS:
        raise IsyaratError(f"{name}: not a readable image ({fmt} is not read): send a JPEG, PNG, WebP or BMP photo")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageTooLarge(f"{name}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                            f"{MAX_IMAGE_PIXELS // 1_000_000} MP limit: send a smaller photo")
    return width, height


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Bytes of a JPEG/PNG/WebP/BMP -> BGR uint8 array, its size checked before decoding."""
    if not data:
        raise IsyaratError(f"{name}: not a readable image (the file is empty): send a JPEG or PNG photo")
    image_size(data, name)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None:
        raise IsyaratError(f"{name}: not a readable image (damaged or truncated): send a JPEG or PNG photo")
    return image


def video_container(head: bytes) -> str | None:
    """The container the first bytes of a file announce (MP4/MOV, AVI, WebM), or None."""
    if len(head) >= 8 and head[4:8] in MOV_ATOMS:
        return "MP4/MOV"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "WebM"
    return None


def check_video(path: Path) -> str:
    """The container of the video at `path`; IsyaratError when its first bytes are not one of
    VIDEO_CONTAINERS (a playlist, a text file with URLs, an image ...)."""
    with open(path, "rb") as f:
        container = video_container(f.read(12))
    if container is None:
        raise IsyaratError(f"{path.name}: not an MP4, MOV, AVI or WebM video (checked from its content, "
                           "not its name): re-encode it as mp4 (H.264)")
    return container


def read_image(path: str | Path) -> np.ndarray:
    """The image as a BGR uint8 array; IsyaratError when it is missing or cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise IsyaratError(f"{path}: image not found: check the path")
    try:
        return decode_image(path.read_bytes(), str(path))
    except ImageTooLarge:
        raise
    except IsyaratError:
        raise IsyaratError(f"{path}: not a readable image: replace or remove the file") from None


def read_pil_image(path: str | Path):
    """The image as an RGB PIL image, upright by its EXIF orientation (as OpenCV and MediaPipe see
    it); IsyaratError when it is missing or cannot be decoded."""
    from PIL import Image, ImageOps

    path = Path(path)
    if not path.is_file():
        raise IsyaratError(f"{path}: image not found: check the path")
    data = path.read_bytes()
    image_size(data, str(path))
    try:
        with Image.open(io.BytesIO(data)) as img:
            return ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, ValueError) as err:
        raise IsyaratError(f"{path}: not a readable image ({err}): replace or remove the file") from None


def upright_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the image as shown, after its EXIF rotation; reads the header only."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, ValueError) as err:
        raise IsyaratError(f"{path}: not a readable image ({err}): replace or remove the file") from None
    return (height, width) if orientation in EXIF_ROTATED else (width, height)


def iter_video_frames(path: str | Path, every: int = 1, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield every `every`-th decoded BGR frame, at most `max_frames` of them; IsyaratError when
    the video cannot be opened or yields no frame."""
    path = Path(path)
    if not path.is_file():
        raise IsyaratError(f"{path}: video not found: check the path")
    check_video(path)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise IsyaratError(f"{path}: cannot open the video: re-encode it as mp4 (H.264 or mp4v)")
        pixels = capture.get(cv2.CAP_PROP_FRAME_WIDTH) * capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
        if pixels > MAX_IMAGE_PIXELS:
            raise ImageTooLarge(f"{path}: frames of {pixels / 1e6:.0f} megapixels are over the "
                                f"{MAX_IMAGE_PIXELS // 1_000_000} MP limit: scale the video down")
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
    if max(image.shape[:2]) > MAX_DETECT_SIDE:
        scale = MAX_DETECT_SIDE / max(image.shape[:2])
        image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        rows, cols = border_size(image.shape, fraction)
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
