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
import threading
import weakref
from collections import deque
from collections.abc import Iterable

import numpy as np

from isyarat.export.motion import GateSettings
from isyarat.features.hand import hand_sizes


def signing_wrist(hands: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(2, 21, 3) -> the wrist x, y of the signing hand (the larger one) and its size, or None."""
    seen = wrist_points(np.asarray(hands)[None])[0]
    return None if seen is None else (np.array(seen[:2]), seen[2])


Point = tuple[float, float, float]  # the signing wrist's x, y and the hand's size, from wrist_points


def wrist_points(hands: np.ndarray, present: np.ndarray | None = None) -> list[Point | None]:
    """The signing wrist of every frame (T, 2, 21, 3) at once (the frames of a window, or of many
    viewers): x, y and the hand's size as plain floats (None: no hand), which the gate's few
    sums over a window need without numpy's per-call cost. `present` (T, 2): which hands are
    complete (all finite), when the caller knows it already. The signing hand is the larger one
    when both show (the right one on a tie), else the one shown."""
    present = np.isfinite(hands).all(axis=(2, 3)) if present is None else present
    slots = np.concatenate([hands[:, :, 0, :2], hand_sizes(hands)[..., None]], axis=2).tolist()  # (T, 2, 3)
    points = []
    for (left, right), (has_left, has_right) in zip(slots, present.tolist()):
        if has_right and (not has_left or right[2] >= left[2]):
            points.append(tuple(right))
        else:
            points.append(tuple(left) if has_left else None)
    return points


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
    return _measure_points(wrist_points(np.asarray(hands)))[1]


def wrist_reach(hands: np.ndarray) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist got from where its latest run of frames began,
    in hand sizes: a J or a Z goes somewhere, a shaking hand comes back."""
    return reach(wrist_points(np.asarray(hands)))


def reach(points: list[Point | None]) -> float:
    """wrist_reach of frames whose signing wrists are known (a live stream keeps them)."""
    runs = _runs_of(points)
    if not runs:
        return 0.0
    (x0, y0), *rest = runs[-1]
    return max(math.hypot(x - x0, y - y0) for x, y in rest)


def wrist_path(hands: np.ndarray, smooth: int = 3) -> float:
    """(T, 2, 21, 3) -> how far the signing wrist travelled, in hand sizes: the length of its
    path through each run of frames (see wrist_runs), after a moving mean over `smooth` frames."""
    return _measure_points(wrist_points(np.asarray(hands)), smooth)[0]


def _measure_points(points: list[Point | None], smooth: int = 3) -> tuple[float, float]:
    return _measure(points, [False] + [_continues(a, b) for a, b in zip(points, points[1:])], smooth)


def _measure(points: Iterable[Point | None], links: Iterable[bool], smooth: int = 3) -> tuple[float, float]:
    """The path and the travel of a window's runs (see _runs), in hand sizes (each run's median),
    in one pass of plain floats: the gate's whole cost for a frame (~15 points, a few us).

    path: the length of each run's path after a moving mean over `smooth` frames (over its raw
    steps in a run of `smooth` frames or fewer). Two consecutive means share all frames but one,
    so a step of the mean is (x[k + smooth] - x[k]) / smooth: no means are made.
    travel: in the latest run, the distance between the means of its first 3 and last 3 frames
    (0 in a run of 3 or fewer, where both are the same frames)."""
    runs, current = [], []
    for seen, linked in zip(points, links):
        if current and not linked:
            runs.append(current)
            current = []
        if seen is not None:
            current.append(seen)
    runs.append(current)
    path = travel = 0.0
    for run in runs:
        n = len(run)
        if n < 2:
            continue
        xs, ys, sizes = zip(*run)
        sizes = sorted(sizes)
        size = sizes[n // 2] if n % 2 else (sizes[n // 2 - 1] + sizes[n // 2]) / 2  # statistics.median's
        lag = smooth if n > smooth else 1
        path += sum(map(math.hypot, map(operator.sub, xs[lag:], xs), map(operator.sub, ys[lag:], ys))) / (lag * size)
        travel = math.hypot(sum(xs[-3:]) - sum(xs[:3]), sum(ys[-3:]) - sum(ys[:3])) / (3 * size) if n > 3 else 0.0
    return path, travel


class GateTable:
    """The windows of the gates of one GateSettings pushed in batches, a row each: per frame,
    oldest first, the wrist's x, y, hand size (NaN: no hand) and 1.0 where the frame continues the
    previous one's run. With the windows in one array, push_wrists reads, shifts and writes the
    windows of many viewers with one array operation each instead of Python lists per viewer."""

    def __init__(self, window: int) -> None:
        self.rows = np.full((0, window, 4), np.nan)
        self.lock = threading.Lock()  # growing moves `rows`: a write elsewhere meanwhile would be lost
        self._free: list[int] = []

    def take(self) -> int:
        """A row for a new gate (twice as many rows when none is free)."""
        with self.lock:
            if not self._free:
                grown = np.full((max(16, 2 * len(self.rows)), *self.rows.shape[1:]), np.nan)
                grown[:len(self.rows)] = self.rows
                self._free.extend(range(len(grown) - 1, len(self.rows) - 1, -1))
                self.rows = grown
            return self._free.pop()

    def give_back(self, row: int) -> None:
        """A collected gate's row is free again (list.append: safe without the lock, which the
        collector may run under)."""
        self._free.append(row)


_TABLES: dict[GateSettings, GateTable] = {}
_TABLES_LOCK = threading.Lock()
_NO_HAND = (math.nan, math.nan, math.nan)


def _table_of(settings: GateSettings) -> GateTable:
    with _TABLES_LOCK:
        if settings not in _TABLES:
            _TABLES[settings] = GateTable(settings.window)
        return _TABLES[settings]


class MotionGate:
    """Push each frame's hands; `moving` says whether the motion model should read the window.

    The window lives where it is cheapest to push: as Python deques while the gate is pushed alone
    (push_wrist: plain floats over <= 15 points), in its row of the GateTable of its settings once
    pushed with many others (push_wrists); it moves when the way it is pushed changes."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        self._table = _table_of(settings)
        self._row = self._table.take()
        weakref.finalize(self, self._table.give_back, self._row)
        # each frame's wrist, found once, and whether it continues the previous frame's run;
        # None while the window is in the table row
        self._points: deque[Point | None] | None = deque(maxlen=settings.window)
        self._links: deque[bool] | None = deque(maxlen=settings.window)
        self.moving = False
        self.path = 0.0
        self.travel = 0.0  # net wrist displacement over the window, hand sizes

    def push(self, hands: np.ndarray) -> bool:
        """Add a frame (2, 21, 3); whether the hand is moving now."""
        return self.push_wrist(wrist_points(np.asarray(hands)[None])[0])

    def push_wrist(self, wrist: Point | None) -> bool:
        """push() of a frame whose signing wrist is known (wrist_points finds those of many frames at once)."""
        if self._points is None:
            self._from_table()
        self._links.append(_continues(self._points[-1] if self._points else None, wrist))
        self._points.append(wrist)
        self.path, self.travel = _measure(self._points, self._links)
        if self.moving and self.path < self.settings.stop:
            self.moving = False
        elif not self.moving and self.path >= self.settings.start:
            self.moving = True
        return self.moving

    def reset(self) -> None:
        self._points, self._links = deque(maxlen=self.settings.window), deque(maxlen=self.settings.window)
        self.moving = False
        self.path = self.travel = 0.0

    def _from_table(self) -> None:
        """The window back from the table row into deques (pushed alone again)."""
        with self._table.lock:
            frames = self._table.rows[self._row].tolist()
        window = self.settings.window
        self._points = deque((None if size != size else (x, y, size) for x, y, size, _ in frames), maxlen=window)
        self._links = deque((link > 0 for *_, link in frames), maxlen=window)

    def _table_row(self) -> list[list[float]]:
        """The deques as a table row (frames before the first: no hand), for push_wrists."""
        pad = [[math.nan] * 4] * (self.settings.window - len(self._points))
        return pad + [[*(_NO_HAND if p is None else p), float(link)] for p, link in zip(self._points, self._links)]


# Fewer gates than this go one by one (push_wrist: ~8 us a gate): numpy's cost per call outweighs
# what the arrays save below it (measured on 2 cores, real ASL wrists: 16 gates 136-196 us one by
# one, 195-296 as arrays; 32 gates 408-439 and 370-438; 64 gates 692-872 and 534-588).
BATCH_MIN = 32


def push_wrists(gates: list[MotionGate], wrists: list[Point | None]) -> list[bool]:
    """push_wrist of many gates at once (the live viewers whose frames came together): their
    windows read, shifted and written back with one array operation each and measured together
    (_measure_many), so the cost per viewer is a few attribute writes. Each gate ends as push_wrist
    would leave it. Small batches, and gates of other settings, go one by one."""
    if len(gates) < BATCH_MIN:
        return [gate.push_wrist(wrist) for gate, wrist in zip(gates, wrists)]
    table, rows = gates[0]._table, [gate._row for gate in gates]
    if any(gate._table is not table for gate in gates) or len(set(rows)) < len(rows):
        return [gate.push_wrist(wrist) for gate, wrist in zip(gates, wrists)]
    new = np.array([_NO_HAND if wrist is None else wrist for wrist in wrists], dtype=float)
    alone = [gate for gate in gates if gate._points is not None]
    with table.lock:
        if alone:  # windows pushed alone until now move into the table
            table.rows[[gate._row for gate in alone]] = [gate._table_row() for gate in alone]
        windows = table.rows[rows]  # a copy: (B, window, 4)
        linked = _continues_many(windows[:, -1, :3], new)
        windows[:, :-1] = windows[:, 1:]
        windows[:, -1, :3], windows[:, -1, 3] = new, linked
        table.rows[rows] = windows
    for gate in alone:
        gate._points = gate._links = None
    path, travel = _measure_many(windows)
    start, stop = gates[0].settings.start, gates[0].settings.stop
    for gate, p, t in zip(gates, path.tolist(), travel.tolist()):
        gate.path, gate.travel = p, t
        gate.moving = p >= stop if gate.moving else p >= start  # push_wrist's hysteresis
    return [gate.moving for gate in gates]


def _continues_many(previous: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """_continues for rows of (x, y, hand size) at once (NaN: no hand, which continues nothing)."""
    step = np.hypot(*(seen[:, :2] - previous[:, :2]).T)
    small = np.maximum(np.minimum(previous[:, 2], seen[:, 2]), 1e-9)
    large = np.maximum(previous[:, 2], seen[:, 2])
    return (step / small <= MAX_STEP) & (large / small <= MAX_RESIZE)


def _measure_many(windows: np.ndarray, smooth: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The path and travel of many windows (B, W, 4) at once: what _measure gives each (the sums'
    order and rounding can differ in the last bits)."""
    seen = windows[..., 2] == windows[..., 2]  # not NaN
    linked = windows[..., 3] > 0
    linked[:, 0] = False  # the oldest frame's link is to a frame out of the window
    start, length, size = _run_sizes(seen, linked, windows[..., 2])
    xy = windows[..., :2] / size[..., None]  # each run in hand sizes
    return _path_many(xy, linked, length, smooth), _travel_many(xy, seen & (length > 1), start, length)


def _run_sizes(seen: np.ndarray, linked: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per frame of (B, W) windows: the column its run starts at, the run's length and its median
    hand size. A run's frames are consecutive, so each window sorted by (run number, size) holds a
    run's sizes in order from its start column (frames without a hand, NaN, after them).
    Frames without a hand: any values."""
    n, w = seen.shape
    starts = seen & ~linked
    run = np.add.accumulate(starts, axis=1, dtype=np.intp)  # 0 before the first run
    ids = run + np.arange(0, n * (w + 1), w + 1)[:, None]
    length = np.bincount(ids[seen], minlength=n * (w + 1))[ids]
    start = np.maximum.accumulate(np.where(starts, np.arange(w), 0), axis=1)
    rows = np.arange(n)[:, None]
    ranked = sizes[rows, np.lexsort((sizes, run), axis=1)]
    median = (ranked[rows, start + (length - 1) // 2] + ranked[rows, start + length // 2]) / 2
    return start, length, median


def _path_many(xy: np.ndarray, linked: np.ndarray, length: np.ndarray, smooth: int) -> np.ndarray:
    """_measure's path of (B, W, 2) windows in hand sizes: the steps of the moving mean,
    (x[k + smooth] - x[k]) / smooth, where frames k .. k + smooth are in one run (a run of more
    than `smooth` frames), the raw steps in shorter runs."""
    w = xy.shape[1]
    breaks = np.add.accumulate(~linked, axis=1, dtype=np.intp)
    inside = breaks[:, smooth:] == breaks[:, :w - smooth]  # frames k + 1 .. k + smooth continue k
    short = linked[:, 1:] & (length[:, 1:] <= smooth)
    lagged = np.add.reduce(_steps(xy, smooth), axis=1, where=inside) / smooth
    return lagged + np.add.reduce(_steps(xy), axis=1, where=short)


def _steps(xy: np.ndarray, lag: int = 1) -> np.ndarray:
    step = xy[:, lag:] - xy[:, :-lag]
    return np.hypot(step[..., 0], step[..., 1])


_ENDS = np.array([[0, 1, 2], [-2, -1, 0]])  # a run's first 3 and last 3 frames, from its first and last


def _travel_many(xy: np.ndarray, in_run: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """_measure's travel of (B, W, 2) windows in hand sizes: in the latest run of two frames or more
    (in_run), the means of its first 3 and last 3 frames (a run of two or three: both means are of
    the same frames, so 0)."""
    n, w = in_run.shape
    rows = np.arange(n)
    end = np.maximum.reduce(np.where(in_run, np.arange(w), -1), axis=1)  # that run's last frame (-1: none)
    picks = np.minimum(np.stack([start[rows, end], end], axis=1)[:, :, None] + _ENDS, w - 1)
    points = xy[rows[:, None, None], picks]  # (B, 2: first 3, last 3, 3, 2: x, y)
    means = (points[:, :, 0] + points[:, :, 1] + points[:, :, 2]) / 3
    moved = means[:, 1] - means[:, 0]
    return np.where((end >= 0) & (length[rows, end] > 2), np.hypot(moved[:, 0], moved[:, 1]), 0.0)


def clip_moved(hands: np.ndarray, settings: GateSettings) -> bool:
    """Whether the gate opens anywhere in a clip (T, 2, 21, 3)."""
    gate = MotionGate(settings)
    return any(gate.push_wrist(point) for point in wrist_points(np.asarray(hands)))
