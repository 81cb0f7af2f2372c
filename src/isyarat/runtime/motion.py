"""Is the hand moving? The switch between a bundle's frame model and its motion model.

The wrist's path over the last few frames, lightly smoothed and measured in hand sizes, turns
the motion model on when it reaches the gate's `start` and off when it falls below `stop`:
tremor and landmark jitter stay far below `start`, and the gap keeps a hand that slows down
mid-letter from flickering between the two models.
"""
from __future__ import annotations

import math
import operator
import statistics
from collections import deque
from collections.abc import Iterable

import numpy as np

from isyarat.export.motion import GateSettings
from isyarat.features.hand import hand_sizes
from isyarat.landmarks.arrays import LEFT, RIGHT


def signing_wrist(hands: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(2, 21, 3) -> the wrist x, y of the signing hand (the larger one) and its size, or None."""
    seen = wrist_points(np.asarray(hands)[None])[0]
    return None if seen is None else (np.array(seen[:2]), seen[2])


Point = tuple[float, float, float]  # the signing wrist's x, y and the hand's size, from wrist_points


def wrist_points(hands: np.ndarray) -> list[Point | None]:
    """The signing wrist of every frame (T, 2, 21, 3) at once (the frames of a window, or of many
    viewers): x, y and the hand's size as plain floats (None: no hand), which the gate's few
    sums over a window need without numpy's per-call cost."""
    present = np.isfinite(hands).all(axis=(2, 3))
    sizes = hand_sizes(hands)  # (T, 2): what hand_size gives each hand
    slot = np.where(present.all(axis=1), np.where(sizes[:, RIGHT] >= sizes[:, LEFT], RIGHT, LEFT),
                    np.where(present[:, RIGHT], RIGHT, LEFT))
    rows = np.arange(len(hands))
    xs, ys = hands[rows, slot, 0, 0].tolist(), hands[rows, slot, 0, 1].tolist()
    sizes = sizes[rows, slot].tolist()
    return [(xs[i], ys[i], sizes[i]) if seen else None for i, seen in enumerate(present.any(axis=1).tolist())]


MAX_STEP = 1.0  # hand sizes between two frames: more is a tracking jump, not a hand moving
MAX_RESIZE = 1.5  # hand size ratio between two frames: more is another hand taking the slot
Run = list[tuple[float, float]]  # consecutive wrist positions, in hand sizes


def wrist_runs(hands: np.ndarray) -> list[np.ndarray]:
    """(T, 2, 21, 3) -> the signing wrist's path in hand sizes, cut into runs of consecutive
    frames: a frame without a hand, a jump of more than MAX_STEP hand sizes in one frame (a
    tracking glitch, the other hand taking over) or a sudden change of hand size ends a run, so
    a hand that reappears elsewhere or a glitch never counts as travel. Each run (n, 2)."""
    return [np.array(run) for run in _runs_of(wrist_points(np.asarray(hands)))]


def _runs_of(points: list[Point | None]) -> list[Run]:
    return _runs(points, [False] + [_continues(a, b) for a, b in zip(points, points[1:])])


def _runs(points: Iterable[Point | None], links: Iterable[bool]) -> list[Run]:
    """The runs of at least two wrists, where links[i] says whether frame i continues frame i - 1's
    run; each in hand sizes (the run's median hand size)."""
    runs, current = [], []
    for seen, linked in zip(points, links):
        if current and not linked:
            runs.append(current)
            current = []
        if seen is not None:
            current.append(seen)
    runs.append(current)
    out = []
    for run in runs:
        if len(run) > 1:
            size = statistics.median([p[2] for p in run])
            out.append([(x / size, y / size) for x, y, _ in run])
    return out


def _continues(previous: Point | None, seen: Point | None) -> bool:
    """Whether a frame's wrist (x, y, hand size) can follow the previous frame's."""
    if previous is None or seen is None:
        return False
    small, large = (previous[2], seen[2]) if previous[2] <= seen[2] else (seen[2], previous[2])
    small = max(small, 1e-9)
    step = math.hypot(seen[0] - previous[0], seen[1] - previous[1])
    return step / small <= MAX_STEP and large / small <= MAX_RESIZE


def wrist_travel(hands: np.ndarray) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist is from where its latest run of frames began
    (means of the first and last 3 frames), in hand sizes: tremor hardly moves it."""
    return _travel(_runs_of(wrist_points(np.asarray(hands))))


def _travel(runs: list[Run]) -> float:
    if not runs:
        return 0.0
    (x0, y0), (x1, y1) = _mean(runs[-1][:3]), _mean(runs[-1][-3:])
    return math.hypot(x1 - x0, y1 - y0)


def _mean(points: Run) -> tuple[float, float]:
    return sum(x for x, _ in points) / len(points), sum(y for _, y in points) / len(points)


def wrist_reach(hands: np.ndarray) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist got from where its latest run of frames began,
    in hand sizes: a J or a Z goes somewhere, a shaking hand comes back."""
    runs = _runs_of(wrist_points(np.asarray(hands)))
    if not runs:
        return 0.0
    (x0, y0), *rest = runs[-1]
    return max(math.hypot(x - x0, y - y0) for x, y in rest)


def wrist_path(hands: np.ndarray, smooth: int = 3) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist travelled, in hand sizes: the length of its
    path through each run of frames (see wrist_runs), after a moving mean over `smooth` frames."""
    return _path(_runs_of(wrist_points(np.asarray(hands))), smooth)


def _path(runs: list[Run], smooth: int = 3) -> float:
    total = 0.0
    for points in runs:
        xs, ys = [x for x, _ in points], [y for _, y in points]
        if len(points) > smooth:  # the moving mean of each coordinate
            xs = [sum(window) / smooth for window in zip(*(xs[j:] for j in range(smooth)))]
            ys = [sum(window) / smooth for window in zip(*(ys[j:] for j in range(smooth)))]
        total += sum(map(math.hypot, map(operator.sub, xs[1:], xs), map(operator.sub, ys[1:], ys)))
    return total


class MotionGate:
    """Push each frame's hands; `moving` says whether the motion model should read the window."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        # each frame's wrist, found once, and whether it continues the previous frame's run
        self._points: deque[Point | None] = deque(maxlen=settings.window)
        self._links: deque[bool] = deque(maxlen=settings.window)
        self.moving = False
        self.path = 0.0
        self.travel = 0.0  # net wrist displacement over the window, hand sizes

    def push(self, hands: np.ndarray) -> bool:
        """Add a frame (2, 21, 3); whether the hand is moving now."""
        return self.push_wrist(wrist_points(np.asarray(hands)[None])[0])

    def push_wrist(self, wrist: Point | None) -> bool:
        """push() of a frame whose signing wrist is known (wrist_points finds those of many frames at once)."""
        self._links.append(_continues(self._points[-1] if self._points else None, wrist))
        self._points.append(wrist)
        runs = _runs(self._points, self._links)
        self.path, self.travel = _path(runs), _travel(runs)
        if self.moving and self.path < self.settings.stop:
            self.moving = False
        elif not self.moving and self.path >= self.settings.start:
            self.moving = True
        return self.moving

    def reset(self) -> None:
        self._points.clear()
        self._links.clear()
        self.moving = False
        self.path = self.travel = 0.0


def clip_moved(hands: np.ndarray, settings: GateSettings) -> bool:
    """Whether the gate opens anywhere in a clip (T, 2, 21, 3)."""
    gate = MotionGate(settings)
    return any(gate.push_wrist(point) for point in wrist_points(np.asarray(hands)))
