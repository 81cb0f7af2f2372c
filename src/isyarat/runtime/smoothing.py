"""From probability vectors to a prediction: averaging over recent frames and an explicit "no sign"."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from isyarat.export.openset import OpenSet
from isyarat.vocab.variants import has_variants, sign_of, sign_probabilities


@dataclass
class Prediction:
    """One prediction. `label` is None for "no sign": no hand, or no label above the threshold.
    `unknown` is True (and `label` None) when a model with open-set rejection saw a sign outside
    its vocabulary ("isyarat tidak dikenal"): decoders treat it as no sign; `confidence` and
    `probabilities` still say how close the vocabulary's signs came.

    With variants (classes like 'C~2', see isyarat.vocab.variants) `label`, `confidence` and
    `probabilities` are per sign (variants summed) and `variant` names the most likely variant."""

    label: str | None
    confidence: float
    probabilities: Mapping[str, float] = field(default_factory=dict)
    has_hand: bool = True
    variant: str | None = None
    unknown: bool = False

    def to_dict(self) -> dict:
        # Written out: dataclasses.asdict deep-copies every probability (~90 us a frame).
        out = {"label": self.label, "confidence": self.confidence, "probabilities": dict(self.probabilities),
               "has_hand": self.has_hand, "unknown": self.unknown}
        if self.variant is not None:
            out["variant"] = self.variant
        return out

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most likely labels, best first (ties in label order)."""
        if isinstance(self.probabilities, LabelProbabilities):
            return self.probabilities.top(k)
        return sorted(self.probabilities.items(), key=lambda kv: kv[1], reverse=True)[:k]


class LabelProbabilities(Mapping):
    """label -> probability over one row of a model's output, read from the row when asked: a live
    frame's prediction is mostly read for its few best labels, and a dict of every label costs
    more than the rest of its decision (~8 us a frame). `order`: the row's columns best first,
    when the caller sorted many rows at once."""

    __slots__ = ("_labels", "_index", "_row", "_order")

    def __init__(self, labels: list[str], index: dict[str, int], row: np.ndarray,
                 order: list[int] | None = None) -> None:
        self._labels, self._index, self._row, self._order = labels, index, row, order

    def __getitem__(self, label: str) -> float:
        return float(self._row[self._index[label]])

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)

    def top(self, k: int) -> list[tuple[str, float]]:
        order = self._order if self._order is not None else best_first(self._row[None])[0]
        return [(self._labels[i], float(self._row[i])) for i in order[:k]]

    def __repr__(self) -> str:
        return repr(dict(self))


def best_first(probs: np.ndarray) -> list[list[int]]:
    """Each row's columns from the most likely down, ties in column order (as sorted() keeps them)."""
    return np.argsort(-probs, axis=1, kind="stable").tolist()


def no_hand() -> Prediction:
    return Prediction(label=None, confidence=0.0, probabilities={}, has_hand=False)


def to_prediction(probs: np.ndarray, labels: list[str], threshold: float,
                  open_set: OpenSet | None = None) -> Prediction:
    """The best label of `probs`, or None when its probability is below `threshold`; with variants,
    the best sign (its variants' probabilities summed) and its most likely variant. With an
    `open_set` record, a sample its unknown class wins or whose best sign falls below its
    threshold is unknown (see isyarat.export.openset)."""
    if open_set is not None:
        return _open_set_prediction(np.asarray(probs), labels, threshold, open_set)
    if has_variants(labels):
        return _sign_prediction(probs, labels, threshold)
    best = int(np.argmax(probs))
    confidence = float(probs[best])
    label = labels[best] if confidence >= threshold else None
    return Prediction(label, confidence, dict(zip(labels, map(float, probs))), has_hand=True)


FEW_ROWS = 4  # fewer rows are decided one by one (a lone viewer): see to_predictions


def to_predictions(probs: np.ndarray, labels: list[str], threshold: float,
                   open_set: OpenSet | None = None) -> list[Prediction]:
    """to_prediction of every row of probs (R, len(labels)) at once: what many live viewers'
    frames of one turn need (every row's order in one argsort, each label's probability read from
    its row only when asked). A few rows are decided one by one: numpy's cost per call is more
    than the arrays save there."""
    index, variants = _labels_info(labels)
    if open_set is not None or variants:
        return [to_prediction(row, labels, threshold, open_set) for row in probs]
    if len(probs) < FEW_ROWS:
        return [_plain_prediction(row, labels, index, threshold) for row in probs]
    orders = best_first(probs)
    confidences = probs.max(axis=1).tolist()
    return [Prediction(labels[o[0]] if c >= threshold else None, c, LabelProbabilities(labels, index, row, o))
            for row, o, c in zip(probs, orders, confidences)]


def _plain_prediction(row: np.ndarray, labels: list[str], index: dict[str, int], threshold: float) -> Prediction:
    best = int(row.argmax())
    confidence = float(row[best])
    return Prediction(labels[best] if confidence >= threshold else None, confidence,
                      LabelProbabilities(labels, index, row))


_LABELS: dict[tuple[str, ...], tuple[dict[str, int], bool]] = {}


def _labels_info(labels: list[str]) -> tuple[dict[str, int], bool]:
    """label -> its column, and whether the labels have variants: made once per label list (a model's outputs)."""
    key = tuple(labels)
    if key not in _LABELS:
        _LABELS[key] = {label: i for i, label in enumerate(labels)}, has_variants(labels)
    return _LABELS[key]


def _open_set_prediction(probs: np.ndarray, labels: list[str], threshold: float, open_set: OpenSet) -> Prediction:
    """The prediction over the signs alone (the unknown class's output left out), then unknown
    when the unknown class outweighs the best sign or the best sign is below the open-set threshold."""
    p_unknown = 0.0
    if open_set.unknown_class in labels:
        i = labels.index(open_set.unknown_class)
        p_unknown = float(probs[i])
        probs, labels = np.delete(probs, i), labels[:i] + labels[i + 1:]
    prediction = to_prediction(probs, labels, threshold)
    if p_unknown > prediction.confidence or prediction.confidence < open_set.threshold:
        prediction.label, prediction.variant, prediction.unknown = None, None, True
    return prediction


def _sign_prediction(probs: np.ndarray, labels: list[str], threshold: float) -> Prediction:
    summed, signs = sign_probabilities(probs, labels)
    best = int(np.argmax(summed))
    confidence = float(summed[best])
    variants = [i for i, label in enumerate(labels) if sign_of(label) == signs[best]]
    variant = labels[max(variants, key=lambda i: probs[i])]
    label = signs[best] if confidence >= threshold else None
    return Prediction(label, confidence, dict(zip(signs, map(float, summed))), has_hand=True,
                      variant=variant if label is not None else None)


class ProbabilitySmoother:
    """Mean of the probability vectors of the last `window` frames that had a hand, none older
    than `max_age_s` seconds when frames come with times (on a slow device, one frame a second,
    five frames would mix the letter before into the next one for seconds).
    A frame without a hand empties the window, so the next sign starts fresh.

    The recent vectors sit in the rows of one array, newest last, rows out of the window zero:
    smooth_many averages the windows of many streams in one sum."""

    def __init__(self, window: int = 5, max_age_s: float = 0.3) -> None:
        if window < 1:
            raise ValueError(f"smoothing window must be >= 1, got {window}")
        self.window = window
        self.max_age_s = max_age_s
        self._times: deque[float | None] = deque(maxlen=window)
        self._rows = np.zeros((window, 0))

    def push(self, probs: np.ndarray | None, t: float | None = None) -> np.ndarray | None:
        """Add this frame's probabilities (None: no hand) at time `t` in seconds (None: no
        time, the window counts frames only) and return the smoothed vector."""
        return smooth_many([self], [probs], [t])[0]

    def _add(self, probs: np.ndarray, t: float | None) -> None:
        kept = self._add_time(t)
        rows = self._rows
        if rows.shape[1] != len(probs):
            rows = self._rows = np.zeros((self.window, len(probs)))
        if len(rows) > 1:
            rows[:-1] = rows[1:]
        rows[-1] = probs
        if len(self._times) <= kept:  # vectors fell out of the window (by age, or the oldest by count)
            rows[:len(rows) - len(self._times)] = 0.0

    def _add_time(self, t: float | None) -> int:
        """The window's times with `t` added (those too old dropped); returns how many it held before."""
        times = self._times
        kept = len(times)
        if t is not None:
            while times and times[0] is not None and t - times[0] > self.max_age_s:
                times.popleft()
        times.append(t)
        return kept

    def reset(self) -> None:
        self._times.clear()
        self._rows[:] = 0.0


def smooth_many(smoothers: list[ProbabilitySmoother], probs: list[np.ndarray | None],
                times: list[float | None]) -> list[np.ndarray | None]:
    """Each smoother's push(probs, t), the means of all windows in one call (smoothers of one window)."""
    rows, means = smooth_rows(smoothers, probs, times)
    out: list[np.ndarray | None] = [None] * len(smoothers)
    for i, mean in zip(rows, means):
        out[i] = mean
    return out


def smooth_rows(smoothers: list[ProbabilitySmoother], probs: list[np.ndarray | None],
                times: list[float | None]) -> tuple[list[int], np.ndarray | list[np.ndarray]]:
    """smooth_many as the smoothers that got a vector (the others reset) and their means, in rows of
    one array (R, classes) when many (what the decisions of a batch read at once)."""
    rows = [i for i, p in enumerate(probs) if p is not None]
    if len(rows) > 1 and len({id(smoother) for smoother in smoothers}) == len(smoothers):
        for smoother, p in zip(smoothers, probs):
            if p is None:
                smoother.reset()
        return rows, _add_many([smoothers[i] for i in rows], [probs[i] for i in rows], [times[i] for i in rows])
    means = []  # one by one: a lone stream (or one given twice), its own rows (the zero rows before add nothing)
    for smoother, p, t in zip(smoothers, probs, times):
        if p is None:
            smoother.reset()
        else:
            smoother._add(p, t)
            means.append(smoother._rows[-len(smoother._times):].sum(axis=0) / len(smoother._times))
    return rows, means


def _add_many(smoothers: list[ProbabilitySmoother], probs: list[np.ndarray], times: list[float | None]) -> np.ndarray:
    """_add of many smoothers as one array (R, window, classes), then their means (R, classes): the
    windows shifted and the new rows written at once; each smoother keeps its row of the array. The
    mean sums each window's rows in order, as the lone path does."""
    width = len(probs[0])
    counts, emptied = [], []
    for k, (smoother, t) in enumerate(zip(smoothers, times)):
        kept = smoother._add_time(t)
        count = len(smoother._times)
        counts.append(count)
        if count <= kept and count < smoother.window:  # vectors fell out by age: their rows must be zeroed
            emptied.append(k)
        if smoother._rows.shape[1] != width:
            smoother._rows = np.zeros((smoother.window, width))
    windows = np.stack([smoother._rows for smoother in smoothers])
    windows[:, :-1] = windows[:, 1:]
    windows[:, -1] = probs
    for k in emptied:
        windows[k, :len(windows[k]) - counts[k]] = 0.0
    for smoother, rows in zip(smoothers, windows):
        smoother._rows = rows
    return windows.sum(axis=1) / np.array(counts, dtype=np.float64)[:, None]
