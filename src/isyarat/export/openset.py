"""Open-set rejection: how a model says "unknown sign" (isyarat tidak dikenal) for a sign
outside its vocabulary, instead of naming the closest word it knows.

A softmax model always names one of its classes: a word it never learned, or a still letter
shown to a word model, comes out as a known word at 90%. Two things let it say "unknown":
- an `unknown_class`: one of the model's outputs was trained on signs of other vocabularies
  and on non-sign hand motion (negatives); when it wins, the answer is unknown;
- a `threshold` on the best sign's probability, calibrated on the training run's validation
  split (never its test split) so that a fraction `keep` of the vocabulary's own validation
  samples pass; below it the answer is unknown;
- a `distance` gate (OpenSetDistance): how far the model's last hidden layer is from the nearest
  sign's training mean (Mahalanobis). A clip far from every sign it learned is unknown, however
  sure its softmax is. The gate is part of the ONNX graph: it drives the unknown class's output,
  so the Recognizer's one decision (the unknown class wins) needs nothing more.
Saved in bundle.json as `open_set`; a bundle without it (made before) never says unknown.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from isyarat.errors import IsyaratError

UNKNOWN_CLASS = "(unknown)"  # the training label of the negatives (an output, never a sign)
UNKNOWN_TEXT = {"id": "isyarat tidak dikenal", "en": "unknown sign"}  # how a person reads it


@dataclass(frozen=True)
class OpenSetDistance:
    """The distance gate inside a bundle's model (for the model card and checks; the numbers that
    decide live in the ONNX graph). `threshold`: the squared Mahalanobis distance to the nearest
    sign's mean above which the unknown output wins, `margin` times the largest distance of the
    run's own training and validation samples (`calibrated_on` of them). `added_output`: the
    unknown output is the gate's own, added after training (the network was trained on the signs
    alone, as without the gate); else the gate joins a trained unknown class."""

    threshold: float
    margin: float
    calibrated_on: int
    added_output: bool = False
    kind: str = "mahalanobis"

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not self.threshold > 0:
            raise IsyaratError(f"open_set distance threshold must be a positive number, got {self.threshold!r}")
        if isinstance(self.margin, bool) or not isinstance(self.margin, (int, float)) or not self.margin >= 1.0:
            raise IsyaratError(f"open_set distance margin must be a number >= 1, got {self.margin!r}")
        if not isinstance(self.calibrated_on, int) or isinstance(self.calibrated_on, bool) or self.calibrated_on < 1:
            raise IsyaratError(f"open_set distance calibrated_on must be a count >= 1, got {self.calibrated_on!r}")
        if not isinstance(self.added_output, bool):
            raise IsyaratError(f"open_set distance added_output must be true or false, got {self.added_output!r}")
        if self.kind != "mahalanobis":
            raise IsyaratError(f"open_set distance kind {self.kind!r} is unknown; this isyarat reads 'mahalanobis'")
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "margin", float(self.margin))

    @classmethod
    def from_dict(cls, values: object) -> "OpenSetDistance | None":
        if values is None:
            return None
        if not isinstance(values, dict):
            raise IsyaratError(f"open_set distance must be a JSON object, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        extra, missing = sorted(set(values) - known), sorted(known - set(values) - {"kind", "added_output"})
        if extra or missing:
            raise IsyaratError(f"open_set distance: unknown setting(s) {extra}, missing {missing}; known: {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class OpenSet:
    """How a bundle's outputs become "unknown sign". `threshold`: the best sign's probability
    below which the sample is unknown (0: no threshold). `unknown_class`: the label of the output
    trained on negatives (None: none). `keep`: the validation fraction the threshold was set to
    pass, `calibrated_on`: how many validation samples it was set on, `negatives`: what the
    unknown class was trained on (sentences, for the model card), `distance`: the distance gate
    in the model's graph that drives the unknown class (None: none)."""

    threshold: float = 0.0
    unknown_class: str | None = None
    keep: float = 1.0
    calibrated_on: int = 0
    negatives: tuple[str, ...] = ()
    distance: OpenSetDistance | None = None

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) \
                or not 0.0 <= self.threshold < 1.0:
            raise IsyaratError(f"open_set threshold must be a number in [0, 1), got {self.threshold!r}")
        if not isinstance(self.keep, (int, float)) or not 0.5 <= self.keep <= 1.0:
            raise IsyaratError(f"open_set keep must be a fraction in [0.5, 1], got {self.keep!r}")
        if self.unknown_class is not None and not isinstance(self.unknown_class, str):
            raise IsyaratError(f"open_set unknown_class must be a label or null, got {self.unknown_class!r}")
        if self.distance is not None and self.unknown_class is None:
            raise IsyaratError("open_set distance drives the unknown class: it needs unknown_class")
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "negatives", tuple(str(n) for n in self.negatives))

    def to_dict(self) -> dict:
        out = {**asdict(self), "negatives": list(self.negatives)}
        if self.distance is None:
            del out["distance"]  # bundles written before the gate read the same
        return out

    @classmethod
    def from_dict(cls, values: dict | None) -> "OpenSet | None":
        """None (an older bundle) -> None: the model never says unknown."""
        if values is None:
            return None
        if not isinstance(values, dict):
            raise IsyaratError(f"open_set must be a JSON object, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        extra = sorted(set(values) - known)
        if extra:
            raise IsyaratError(f"unknown open_set setting(s) {extra}; known: {sorted(known)}")
        return cls(**{**values, "negatives": tuple(values.get("negatives") or ()),
                      "distance": OpenSetDistance.from_dict(values.get("distance"))})

    def network_outputs(self, n_labels: int) -> int:
        """How many outputs the trained network has (the gate may add the unknown one)."""
        return n_labels - int(self.distance is not None and self.distance.added_output)

    def check_labels(self, labels: list[str]) -> None:
        if self.unknown_class is not None and self.unknown_class not in labels:
            raise IsyaratError(f"open_set unknown_class {self.unknown_class!r} is not one of the model's labels")
        if self.unknown_class is not None and len(labels) < 2:
            raise IsyaratError("open_set: a model with an unknown class needs at least one sign besides it")


def calibrate(best_sign_probabilities: np.ndarray, keep: float) -> float:
    """The threshold that lets a fraction `keep` of these validation samples (the vocabulary's
    own) through: their (1 - keep) quantile, taken at the sample just below it so a small
    validation split errs toward keeping signs. 0 when there is nothing to calibrate on."""
    scores = np.sort(np.asarray(best_sign_probabilities, dtype=np.float64))
    if len(scores) == 0 or keep >= 1.0:
        return 0.0
    k = int(np.floor((1.0 - keep) * len(scores)))  # samples allowed below the threshold
    return float(min(max(scores[k] - 1e-6, 0.0), 0.999))
