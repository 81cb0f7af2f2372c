"""Training a model that can say "unknown sign": negatives for its unknown class, and the
threshold on its best sign calibrated on the run's validation split (isyarat.export.openset).

A recipe's `open_set` section (OpenSetConfig) turns it on. The negatives are samples of no sign
of the vocabulary: other datasets' samples (`negatives`: letter photos for a word model, other
letters for a letter model) and, for sequence models, `synthetic` non-sign hand motion drawn
from real hands (isyarat.synth.negatives). They are one more class, split like the others, so
the run's test split holds negatives it never trained on.

`distance_margin` adds a distance gate (DistanceGated): after training, the mean of the model's
last hidden layer for each sign and one shared covariance (Ledoit-Wolf shrinkage) are taken from
the augmented training samples; a clip whose Mahalanobis distance to the nearest sign's mean is
over `distance_margin` times the largest distance of the run's own training and validation
samples gets the unknown output. The gate is in the model, so the ONNX graph carries it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from isyarat.data.samples import LANDMARKS, Dataset, Sample
from isyarat.errors import IsyaratError
from isyarat.export.openset import UNKNOWN_CLASS, OpenSet, OpenSetDistance, calibrate
from isyarat.landmarks.arrays import Landmarks


@dataclass
class OpenSetConfig:
    """keep: the fraction of the vocabulary's validation samples the calibrated threshold lets
    through (1: no threshold). negatives: dataset folders whose samples, whatever their labels,
    train the unknown class. synthetic: non-sign sequences (hands held or wandering) drawn from
    the training data's own hands and the negatives' (sequence models only). spliced: sequences
    that start as one of the vocabulary's signs and end as another, or a clip played backwards
    (sequence models only). max_negatives: at most this many samples of the `negatives` datasets,
    drawn at random (0: all), so the unknown class does not swamp a small vocabulary.
    distance_margin: the distance gate's threshold as a multiple of the largest distance of the
    run's own training and validation samples (0: no gate; bench/openset.py chooses it on inner
    folds of the training words)."""

    keep: float = 0.98
    negatives: list[str] = field(default_factory=list)
    synthetic: int = 0
    spliced: int = 0
    max_negatives: int = 0
    distance_margin: float = 0.0

    def __post_init__(self) -> None:
        if not 0.5 <= self.keep <= 1.0:
            raise IsyaratError(f"open_set.keep is {self.keep}; it must be a fraction in [0.5, 1], e.g. 0.98")
        if self.distance_margin != 0 and not self.distance_margin >= 1.0:
            raise IsyaratError(f"open_set.distance_margin is {self.distance_margin}; it must be 0 (no distance gate) "
                               "or at least 1, e.g. 3")
        for name in ("synthetic", "spliced", "max_negatives"):
            if getattr(self, name) < 0:
                raise IsyaratError(f"open_set.{name} is {getattr(self, name)}; it must be 0 or more")

    @property
    def has_negatives(self) -> bool:
        return bool(self.negatives) or self.synthetic > 0 or self.spliced > 0


def negative_samples(config: OpenSetConfig, recipe, dataset: Dataset, data: list[Path], workers: int = 1,
                     cache_dir: Path | None = None, progress: bool = True) -> list[Sample]:
    """The unknown class's samples (labelled UNKNOWN_CLASS, landmarks attached) for a run: the
    `negatives` datasets (found as given, else beside a `data` folder) read with the recipe's
    extraction settings, then `as_negatives`."""
    from isyarat.data.combine import load_datasets
    from isyarat.training.prepare import with_landmarks

    others: list[Sample] = []
    if config.negatives:
        paths = [negatives_path(p, data) for p in config.negatives]
        found = load_datasets(paths)
        if config.max_negatives and len(found) > config.max_negatives:  # before extraction: only these are read
            found = found.subset(sorted(np.random.default_rng(0).permutation(len(found))[:config.max_negatives]))
        others = list(with_landmarks(found, recipe, workers, cache_dir, progress)[0])
    return as_negatives(others, dataset.samples, config.synthetic, recipe.features.shape == "sequence", config.spliced)


def negatives_path(name: str, data: list[Path]) -> Path:
    """A negatives dataset: the path as given, else a folder of that name beside one of the data
    folders (a recipe names `bisindo-alphabet-binus`, found next to `--data .../bisindo-words-wlbisindo`)."""
    for path in [Path(name), *(Path(d).parent / name for d in data)]:
        if path.exists():
            return path
    raise IsyaratError(f"open_set.negatives: {name} not found, as given or beside {', '.join(map(str, data))}; "
                       "give dataset folders of signs outside the vocabulary (e.g. letter photos for a word "
                       "model), or --set open_set=null to train without rejection")


def as_negatives(others: list[Sample], own: list[Sample], synthetic: int, sequence: bool,
                 spliced: int = 0) -> list[Sample]:
    """Samples of other signs (`others`) as the unknown class: as they are for a frame model; for a
    sequence model each one's hand held or wandering, as a still photo would be shown to a camera.
    Sequence models also get `synthetic` non-sign sequences drawn from the hands of `others` and
    of the vocabulary's own training samples `own` (a hand held still mid-word is no word), and
    `spliced` ones: the start of one of `own`'s signs and the end of another, or one played
    backwards (isyarat.synth.negatives)."""
    from isyarat.synth.negatives import non_sign_sequences, spliced_sequences

    others = [s for s in others if s.landmarks is not None and s.landmarks.has_hand()]
    if not sequence:
        if synthetic or spliced:
            raise IsyaratError("open_set.synthetic and open_set.spliced draw sequences: use them with a sequence "
                               "recipe (features.shape: sequence), or give a frame model open_set.negatives")
        return [replace(s, label=UNKNOWN_CLASS, metadata={**s.metadata, "negative": "other"}) for s in others]
    out = [_negative(lm, f"other-{i}", "other") for i, lm in
           enumerate(non_sign_sequences([_middle_hands(s.landmarks) for s in others], len(others), seed=1))]
    if synthetic:
        still = [_middle_hands(s.landmarks) for s in [*others, *own] if s.landmarks is not None and s.landmarks.has_hand()]
        out += [_negative(lm, f"synthetic-{i}", "synthetic") for i, lm in
                enumerate(non_sign_sequences(still, synthetic, seed=2))]
    if spliced:
        clips = [(s.label, s.landmarks) for s in own if s.landmarks is not None]
        out += [_negative(lm, f"spliced-{i}", "spliced") for i, lm in enumerate(spliced_sequences(clips, spliced, seed=3))]
    return out


def _middle_hands(lm: Landmarks) -> np.ndarray:
    """The middle frame with a hand (a clip's hand mid-sign, a photo's only frame)."""
    frames = np.flatnonzero(lm.hand_present().any(axis=1))
    return lm.hands[int(frames[len(frames) // 2])].copy()


def _negative(lm: Landmarks, name: str, kind: str) -> Sample:
    return Sample(UNKNOWN_CLASS, Path("(negatives)") / name, LANDMARKS, {"negative": kind}, lm)


def with_negatives(prep, negatives: list[Sample], features, unknown_output: bool = False):
    """`prep` (training.prepare.Prepared) with the negatives appended as the last class; with
    `unknown_output` that class is there even without negatives (a distance gate is then its only
    source, added after training: see gate_adds_output)."""
    from isyarat.features import has_signal
    from isyarat.training.prepare import Prepared

    if not negatives and (not unknown_output or UNKNOWN_CLASS in prep.labels):
        return prep
    if UNKNOWN_CLASS in prep.labels:
        raise IsyaratError(f"the data already has a class named {UNKNOWN_CLASS!r}; rename it")
    dataset = Dataset(prep.dataset.root, prep.dataset.layout, [*prep.dataset.samples, *negatives])
    labels = [*prep.labels, UNKNOWN_CLASS]
    targets = np.concatenate([prep.targets, np.full(len(negatives), len(labels) - 1, dtype=np.int64)])
    usable = np.concatenate([prep.usable, [has_signal(s.landmarks, features) for s in negatives]])
    return Prepared(dataset, labels, targets, usable.astype(bool), prep.extraction)


def calibrated(config: OpenSetConfig, probabilities: np.ndarray, targets: np.ndarray, labels: list[str],
               distance: OpenSetDistance | None = None) -> OpenSet:
    """The open-set record of a trained model from its validation predictions: the threshold
    passes `config.keep` of the vocabulary's own validation samples (negatives left out).
    `labels` are the model's outputs; `distance` the gate fitted in the model (distance_gated)."""
    from isyarat.vocab.variants import sign_probabilities

    unknown = labels.index(UNKNOWN_CLASS) if UNKNOWN_CLASS in labels else None
    signs = [i for i in range(len(labels)) if i != unknown]
    own = np.array([t != unknown for t in targets], dtype=bool)
    sign_labels = [labels[i] for i in signs]  # the best sign's probability, variants summed, as the Recognizer decides
    best = np.array([sign_probabilities(p[signs], sign_labels)[0].max() for p in probabilities[own]])
    return OpenSet(threshold=calibrate(best, config.keep), unknown_class=None if unknown is None else UNKNOWN_CLASS,
                   keep=config.keep, calibrated_on=int(own.sum()), distance=distance,
                   negatives=tuple(described(config)) if unknown is not None else ())


def described(config: OpenSetConfig) -> list[str]:
    """What the unknown class was trained on, in words (for the bundle and its model card)."""
    return ([f"samples of {Path(n).name}" for n in config.negatives]
            + ([f"{config.synthetic} synthetic sequences of hands held still or wandering"] if config.synthetic else [])
            + ([f"{config.spliced} sequences spliced from two of its signs or played backwards"]
               if config.spliced else []))


SHARPNESS = 10.0  # unknown logit - best sign logit per unit of log distance: a clear switch at the threshold


class DistanceGated(nn.Module):
    """A classifier whose unknown output wins when its last hidden layer (what goes into `head`)
    is far from every sign's training mean: the unknown logit is the best sign's logit plus
    SHARPNESS * log(distance / threshold), so it passes the best sign exactly at the threshold and
    is negligible well inside it (a sign's probabilities are then the network's own). With
    `added_output` it is one more output (the network knows the signs alone); else it is added
    (log-sum-exp) to the network's trained unknown output, its last one. Plain tensor operations:
    the ONNX export carries it."""

    def __init__(self, model: nn.Module, n_signs: int, added_output: bool) -> None:
        super().__init__()
        parent, name, head = _head_of(model)
        setattr(parent, name, nn.Identity())  # the wrapped model now returns its last hidden layer
        self.model, self.head = model, head
        self.n_signs, self.added_output = n_signs, added_output
        dim = next(m for m in head.modules() if isinstance(m, nn.Linear)).in_features
        self.register_buffer("means", torch.zeros(n_signs, dim))
        self.register_buffer("precision", torch.eye(dim))
        self.register_buffer("log_threshold", torch.zeros(()))

    def distance(self, hidden: torch.Tensor) -> torch.Tensor:
        """Squared Mahalanobis distance of each row to the nearest sign's mean."""
        diff = hidden[:, None, :] - self.means[None]
        return ((diff @ self.precision) * diff).sum(-1).min(dim=1).values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.model(x)
        logits = self.head(hidden)
        signs = logits[:, :self.n_signs]
        gate = signs.max(dim=1, keepdim=True).values + SHARPNESS * (
            torch.log(self.distance(hidden) + 1e-6) - self.log_threshold)[:, None]
        if self.added_output:
            return torch.cat([signs, gate], dim=1)
        trained = logits[:, self.n_signs:]
        top = torch.maximum(trained, gate)  # log(exp(trained) + exp(gate)), written out for ONNX
        return torch.cat([signs, top + torch.log(torch.exp(trained - top) + torch.exp(gate - top))], dim=1)


def _head_of(model: nn.Module) -> tuple[nn.Module, str, nn.Module]:
    """(parent, attribute name, module) of the model's last layer called `head`."""
    found = [(name, module) for name, module in model.named_modules() if name.split(".")[-1] == "head"]
    if not found:
        raise IsyaratError(f"open_set.distance_margin needs a model with a `head` layer (transformer, lstm, gnn); "
                           f"{type(model).__name__} has none: set open_set.distance_margin=0")
    name, head = found[-1]
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    return parent, name.split(".")[-1], head


def distance_gated(model: nn.Module, fit_x: torch.Tensor, fit_y: np.ndarray, reference_x: torch.Tensor,
                   n_signs: int, margin: float, added_output: bool) -> tuple[DistanceGated, OpenSetDistance]:
    """`model` with a distance gate fitted on its training samples `fit_x` (augmented copies; only
    rows whose target `fit_y` is a sign count) and calibrated on `reference_x` (the run's own
    training and validation samples of its signs, as recorded): threshold = margin x their largest
    distance. Never sees the test split."""
    from sklearn.covariance import LedoitWolf

    gated = DistanceGated(model, n_signs, added_output).eval()
    fit_y = np.asarray(fit_y)
    signs = fit_y < n_signs
    with torch.no_grad():
        hidden = gated.model(fit_x[torch.as_tensor(signs)]).double().numpy()
        y = fit_y[signs]
        missing = sorted(set(range(n_signs)) - set(y.tolist()))
        if missing:
            raise IsyaratError(f"open_set distance gate: no training sample of sign(s) {missing}; add data")
        means = np.stack([hidden[y == c].mean(axis=0) for c in range(n_signs)])
        precision = LedoitWolf().fit(hidden - means[y]).precision_
        gated.means.copy_(torch.as_tensor(means, dtype=torch.float32))
        gated.precision.copy_(torch.as_tensor(precision, dtype=torch.float32))
        reference = gated.distance(gated.model(reference_x)).double().numpy()
        threshold = float(margin * reference.max())
        gated.log_threshold.fill_(float(np.log(threshold + 1e-6)))
    record = OpenSetDistance(threshold=threshold, margin=float(margin), calibrated_on=len(reference),
                             added_output=added_output)
    return gated, record


def gated_like(model: nn.Module, record: OpenSet | None, n_outputs: int) -> nn.Module:
    """A freshly built model wrapped in the gate its run recorded (to load saved weights into)."""
    if record is None or record.distance is None:
        return model
    return DistanceGated(model, n_outputs - 1, record.distance.added_output)


def gate_adds_output(config: OpenSetConfig | None, labels: list[str], targets: np.ndarray) -> bool:
    """True when a distance gate will be the unknown output's only source: the run has the
    unknown label but no negatives, so the network is trained on its signs alone."""
    return bool(config is not None and config.distance_margin and UNKNOWN_CLASS in labels
                and not (np.asarray(targets) == labels.index(UNKNOWN_CLASS)).any())
