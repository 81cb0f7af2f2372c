"""From probability vectors to a prediction: averaging over recent frames and an explicit "no sign"."""
from __future__ import annotations

from collections import deque
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
    probabilities: dict[str, float] = field(default_factory=dict)
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
        return sorted(self.probabilities.items(), key=lambda kv: kv[1], reverse=True)[:k]


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
    A frame without a hand empties the window, so the next sign starts fresh."""

    def __init__(self, window: int = 5, max_age_s: float = 0.3) -> None:
        if window < 1:
            raise ValueError(f"smoothing window must be >= 1, got {window}")
        self.max_age_s = max_age_s
        self._recent: deque[tuple[float | None, np.ndarray]] = deque(maxlen=window)

    def push(self, probs: np.ndarray | None, t: float | None = None) -> np.ndarray | None:
        """Add this frame's probabilities (None: no hand) at time `t` in seconds (None: no
        time, the window counts frames only) and return the smoothed vector."""
        if probs is None:
            self._recent.clear()
            return None
        if t is not None:
            while self._recent and self._recent[0][0] is not None and t - self._recent[0][0] > self.max_age_s:
                self._recent.popleft()
        self._recent.append((t, np.asarray(probs, dtype=np.float64)))
        return sum(p for _, p in self._recent) / len(self._recent)  # np.mean's result, without its overhead

    def reset(self) -> None:
        self._recent.clear()
