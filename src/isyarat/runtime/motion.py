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
from isyarat.features.hand import hand_sizes
from isyarat.landmarks.arrays import LEFT, RIGHT


def signing_wrist(hands: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(2, 21, 3) -> the wrist x, y of the signing hand (the larger one) and its size, or None."""
    return signing_wrists(np.asarray(hands)[None])[0]


def signing_wrists(hands: np.ndarray) -> list[tuple[np.ndarray, float] | None]:
    """signing_wrist of every frame (T, 2, 21, 3) at once (the frames of a window, or of many viewers)."""
    present = np.isfinite(hands).all(axis=(2, 3))
    sizes = hand_sizes(hands)  # (T, 2): what hand_size gives each hand
    slot = np.where(present.all(axis=1), np.where(sizes[:, RIGHT] >= sizes[:, LEFT], RIGHT, LEFT),
                    np.where(present[:, RIGHT], RIGHT, LEFT))
    rows = np.arange(len(hands))
    wrists, sizes = hands[rows, slot, 0, :2].astype(np.float64), sizes[rows, slot].tolist()
    return [(wrists[i], sizes[i]) if seen else None for i, seen in enumerate(present.any(axis=1).tolist())]


MAX_STEP = 1.0  # hand sizes between two frames: more is a tracking jump, not a hand moving
MAX_RESIZE = 1.5  # hand size ratio between two frames: more is another hand taking the slot
Wrist = tuple[np.ndarray, float]  # the signing wrist's x, y and the hand's size, from signing_wrist


def wrist_runs(hands: np.ndarray) -> list[np.ndarray]:
    """(T, 2, 21, 3) -> the signing wrist's path in hand sizes, cut into runs of consecutive
    frames: a frame without a hand, a jump of more than MAX_STEP hand sizes in one frame (a
    tracking glitch, the other hand taking over) or a sudden change of hand size ends a run, so
    a hand that reappears elsewhere or a glitch never counts as travel."""
    return runs_of(signing_wrists(np.asarray(hands)))


def runs_of(wrists: Iterable[Wrist | None]) -> list[np.ndarray]:
    """wrist_runs of the frames' signing wrists (None: no hand in that frame), each computed once."""
    wrists = list(wrists)
    return _runs(wrists, [False] + [_continues(a, b) for a, b in zip(wrists, wrists[1:])])


def _runs(wrists: list[Wrist | None], links: list[bool]) -> list[np.ndarray]:
    """The runs of wrists, where links[i] says whether frame i continues frame i - 1's run."""
    runs, current = [], []
    for seen, linked in zip(wrists, links):
        if current and not linked:
            runs.append(current)
            current = []
        if seen is not None:
            current.append(seen)
    runs.append(current)
    return [np.stack([p for p, _ in run]) / _median([s for _, s in run]) for run in runs if len(run) > 1]


def _median(values: list[float]) -> float:
    """np.median of a few floats (the same float), without its array overhead."""
    values, middle = sorted(values), len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _continues(previous: Wrist | None, seen: Wrist | None) -> bool:
    """Whether a frame's wrist (point, hand size) can follow the previous frame's."""
    if previous is None or seen is None:
        return False
    small, large = sorted((previous[1], seen[1]))
    small = max(small, 1e-9)
    return float(np.linalg.norm(seen[0] - previous[0])) / small <= MAX_STEP and large / small <= MAX_RESIZE


def wrist_travel(hands: np.ndarray) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist is from where its latest run of frames began
    (means of the first and last 3 frames), in hand sizes: tremor hardly moves it."""
    return _travel(wrist_runs(hands))


def _travel(runs: list[np.ndarray]) -> float:
    if not runs:
        return 0.0
    points = runs[-1]
    return float(np.linalg.norm(points[-3:].mean(axis=0) - points[:3].mean(axis=0)))


def wrist_reach(hands: np.ndarray) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist got from where its latest run of frames began,
    in hand sizes: a J or a Z goes somewhere, a shaking hand comes back."""
    runs = wrist_runs(hands)
    if not runs:
        return 0.0
    points = runs[-1]
    return float(np.linalg.norm(points - points[0], axis=1).max())


def wrist_path(hands: np.ndarray, smooth: int = 3) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist travelled, in hand sizes: the length of its
    path through each run of frames (see wrist_runs), after a moving mean over `smooth` frames."""
    return _path(wrist_runs(hands), smooth)


def _path(runs: list[np.ndarray], smooth: int = 3) -> float:
    total = 0.0
    for points in runs:
        if len(points) > smooth:
            kernel = np.ones(smooth) / smooth
            points = np.stack([np.convolve(points[:, d], kernel, mode="valid") for d in range(2)], axis=1)
        total += float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
    return total


class MotionGate:
    """Push each frame's hands; `moving` says whether the motion model should read the window."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        # each frame's wrist, found once, and whether it continues the previous frame's run
        self._recent: deque[tuple[Wrist | None, bool]] = deque(maxlen=settings.window)
        self.moving = False
        self.path = 0.0
        self.travel = 0.0  # net wrist displacement over the window, hand sizes

    def push(self, hands: np.ndarray) -> bool:
        """Add a frame (2, 21, 3); whether the hand is moving now."""
        return self.push_wrist(signing_wrist(hands))

    def push_wrist(self, wrist: Wrist | None) -> bool:
        """push() of a frame whose signing wrist is known (signing_wrists finds those of many frames at once)."""
        previous = self._recent[-1][0] if self._recent else None
        self._recent.append((wrist, _continues(previous, wrist)))
        runs = _runs([w for w, _ in self._recent], [linked for _, linked in self._recent])
        self.path, self.travel = _path(runs), _travel(runs)
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
