"""Is the hand moving? The switch between a bundle's frame model and its motion model.

The wrist's path over the last few frames, lightly smoothed and measured in hand sizes, turns
the motion model on when it reaches the gate's `start` and off when it falls below `stop`:
tremor and landmark jitter stay far below `start`, and the gap keeps a hand that slows down
mid-letter from flickering between the two models.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from isyarat.export.motion import GateSettings
from isyarat.features.hand import hand_size
from isyarat.landmarks.arrays import LEFT, RIGHT


def signing_wrist(hands: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(2, 21, 3) -> the wrist x, y of the signing hand (the larger one) and its size, or None."""
    present = np.isfinite(hands).all(axis=(1, 2))
    if not present.any():
        return None
    if present.all():
        slot = RIGHT if hand_size(hands[RIGHT]) >= hand_size(hands[LEFT]) else LEFT
    else:
        slot = RIGHT if present[RIGHT] else LEFT
    return hands[slot, 0, :2].astype(np.float64), hand_size(hands[slot])


Wrist = tuple[np.ndarray, float]  # the signing wrist's x, y and the hand's size, from signing_wrist


def wrist_travel(hands: np.ndarray) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist is from where it was at the first frame with a
    hand (means of the first and last 3 such frames), in hand sizes: tremor hardly moves it."""
    return _path_and_travel([signing_wrist(h) for h in hands])[1]


def wrist_path(hands: np.ndarray, smooth: int = 3) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist travelled, in hand sizes: the length of its
    path through the frames with a hand, after a moving mean over `smooth` frames."""
    return _path_and_travel([signing_wrist(h) for h in hands], smooth)[0]


def _path_and_travel(wrists: Iterable[Wrist | None], smooth: int = 3) -> tuple[float, float]:
    """wrist_path and wrist_travel of the frames' signing wrists (None: no hand in that frame)."""
    seen = [w for w in wrists if w is not None]
    if len(seen) < 2:
        return 0.0, 0.0
    points = np.stack([p for p, _ in seen])
    size = float(np.median([s for _, s in seen]))
    travel = float(np.linalg.norm(points[-3:].mean(axis=0) - points[:3].mean(axis=0)) / size)
    if len(points) > smooth:
        kernel = np.ones(smooth) / smooth
        points = np.stack([np.convolve(points[:, d], kernel, mode="valid") for d in range(2)], axis=1)
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum() / size), travel


class MotionGate:
    """Push each frame's hands; `moving` says whether the motion model should read the window.
    Each frame's signing wrist is found once, when it is pushed (the live server pushes 30 a second
    per viewer), and the window's path and travel are measured on those."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        self._recent: deque[Wrist | None] = deque(maxlen=settings.window)
        self.moving = False
        self.path = 0.0
        self.travel = 0.0  # net wrist displacement over the window, hand sizes

    def push(self, hands: np.ndarray) -> bool:
        self._recent.append(signing_wrist(hands))
        self.path, self.travel = _path_and_travel(self._recent)
        if self.moving and self.path < self.settings.stop:
            self.moving = False
        elif not self.moving and self.path >= self.settings.start:
            self.moving = True
        return self.moving

    def reset(self) -> None:
        self._recent.clear()
        self.moving = False
        self.path = self.travel = 0.0


def clip_moved(hands: np.ndarray, settings: GateSettings) -> bool:
    """Whether the gate opens anywhere in a clip (T, 2, 21, 3)."""
    gate = MotionGate(settings)
    return any(gate.push(h) for h in hands)
