"""The desktop webcam app: an OpenCV window with the landmarks, the prediction and the spelled text.

Frames come from a camera, or from any iterable of BGR frames (a video file's frames), which
makes the whole live pipeline testable without a camera. Keys: q / Esc quit, c clears the text.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator

import cv2
import numpy as np

from isyarat.errors import IsyaratError
from isyarat.landmarks.arrays import HAND_BONES
from isyarat.runtime.recognizer import Recognizer
from isyarat.runtime.stream import RecognizerStream, StreamUpdate

WINDOW = "isyarat (q: quit, c: clear)"
SLOT_COLORS = [(214, 111, 59), (91, 157, 46)]  # BGR: signer's left hand blue, right hand green


def open_camera(camera: int = 0) -> cv2.VideoCapture:
    """The opened camera, or IsyaratError (OpenCV's own warnings about it are silenced, so the
    user reads one line)."""
    level = cv2.getLogLevel()
    cv2.setLogLevel(0)  # silent
    try:
        capture = cv2.VideoCapture(camera)
    finally:
        cv2.setLogLevel(level)
    if not capture.isOpened():
        raise IsyaratError(f"cannot open camera {camera}: check it is connected and not used by another "
                           f"app, or choose another with --camera N")
    return capture


def capture_frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    """Frames of an opened camera, un-mirrored as the camera gives them."""
    try:
        ok, frame = capture.read()
        if not ok:
            raise IsyaratError("the camera opened but gave no picture: close other apps using it, "
                               "or choose another with --camera N")
        while ok:
            yield frame
            ok, frame = capture.read()
    finally:
        capture.release()


def draw_hands(image: np.ndarray, hands: np.ndarray) -> None:
    """Draw the landmarks (normalized coordinates of `image`) in place."""
    height, width = image.shape[:2]
    for slot, hand in enumerate(hands):
        if np.isnan(hand).any():
            continue
        xy = [(int(x * width), int(y * height)) for x, y in hand[:, :2]]
        for a, b in HAND_BONES:
            cv2.line(image, xy[a], xy[b], SLOT_COLORS[slot], 2, cv2.LINE_AA)
        for point in xy:
            cv2.circle(image, point, 3, (255, 255, 255), -1, cv2.LINE_AA)


def render(frame: np.ndarray, update: StreamUpdate, mirror: bool) -> np.ndarray:
    """The frame to show: landmarks, then mirrored for a selfie view, then the text on top."""
    image = frame.copy()
    draw_hands(image, update.hands)
    if mirror:
        image = cv2.flip(image, 1)
    p = update.prediction
    status = p.label if p.label is not None else ("no sign" if p.has_hand else "no hand")
    if p.label is not None:
        status += f"  {p.confidence:.0%}"
    _put_text(image, status, (12, 40), 1.2)
    _put_text(image, update.text[-40:], (12, image.shape[0] - 16), 1.0)
    return image


def _put_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 5, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)


def run_webcam(recognizer: Recognizer, camera: int = 0, mirror: bool = True,
               frames: Iterable[np.ndarray] | None = None, headless: bool = False,
               fps: float | None = None) -> list[StreamUpdate]:
    """Recognize signs live from `camera`, or from `frames` (e.g. a video's frames) instead.
    With a window it returns the last update when the user quits; `headless=True` shows nothing
    and returns every update (for scripts and tests). `fps`: the rate `frames` were recorded at,
    so frame n is spelled as if seen at n / fps seconds (None: the time each frame arrives)."""
    if not headless:
        _check_display()
    source = capture_frames(open_camera(camera)) if frames is None else frames
    with recognizer.stream() as stream:
        if headless:
            return [stream.push_frame(frame, None if fps is None else i / fps) for i, frame in enumerate(source)]
        try:
            return _show(stream, source, mirror)
        finally:
            cv2.destroyAllWindows()


def _show(stream: RecognizerStream, source: Iterable[np.ndarray], mirror: bool) -> list[StreamUpdate]:
    last: list[StreamUpdate] = []
    for frame in source:
        last = [stream.push_frame(frame)]
        cv2.imshow(WINDOW, render(frame, last[0], mirror))
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            break
        if key == ord("c"):
            stream.reset()
    return last


def _check_display() -> None:
    """OpenCV's window aborts the process without a display: say so first."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise IsyaratError("no display to open the webcam window on (DISPLAY is not set): run it in a desktop "
                           "session, or run `isyarat serve` and use the live page in a browser")
