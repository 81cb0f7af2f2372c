"""Training a model that can say "unknown sign": negatives for its unknown class, and the
threshold on its best sign calibrated on the run's validation split (isyarat.export.openset).

A recipe's `open_set` section (OpenSetConfig) turns it on. The negatives are samples of no sign
of the vocabulary: other datasets' samples (`negatives`: letter photos for a word model, other
letters for a letter model) and, for sequence models, `synthetic` non-sign hand motion drawn
from real hands (isyarat.synth.negatives). They are one more class, split like the others, so
the run's test split holds negatives it never trained on.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from isyarat.data.samples import LANDMARKS, Dataset, Sample
from isyarat.errors import IsyaratError
from isyarat.export.openset import UNKNOWN_CLASS, OpenSet, calibrate
from isyarat.landmarks.arrays import Landmarks


@dataclass
class OpenSetConfig:
    """keep: the fraction of the vocabulary's validation samples the calibrated threshold lets
    through (1: no threshold). negatives: dataset folders whose samples, whatever their labels,
    train the unknown class. synthetic: non-sign sequences (hands held or wandering) drawn from
    the training data's own hands and the negatives' (sequence models only). spliced: sequences
    that start as one of the vocabulary's signs and end as another, or a clip played backwards
    (sequence models only). max_negatives: at most this many samples of the `negatives` datasets,
    drawn at random (0: all), so the unknown class does not swamp a small vocabulary."""

    keep: float = 0.98
    negatives: list[str] = field(default_factory=list)
    synthetic: int = 0
    spliced: int = 0
    max_negatives: int = 0

    def __post_init__(self) -> None:
        if not 0.5 <= self.keep <= 1.0:
            raise IsyaratError(f"open_set.keep is {self.keep}; it must be a fraction in [0.5, 1], e.g. 0.98")
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


def with_negatives(prep, negatives: list[Sample], features):
    """`prep` (training.prepare.Prepared) with the negatives appended as the last class."""
    from isyarat.features import has_signal
    from isyarat.training.prepare import Prepared

    if not negatives:
        return prep
    if UNKNOWN_CLASS in prep.labels:
        raise IsyaratError(f"the data already has a class named {UNKNOWN_CLASS!r}; rename it")
    dataset = Dataset(prep.dataset.root, prep.dataset.layout, [*prep.dataset.samples, *negatives])
    labels = [*prep.labels, UNKNOWN_CLASS]
    targets = np.concatenate([prep.targets, np.full(len(negatives), len(labels) - 1, dtype=np.int64)])
    usable = np.concatenate([prep.usable, [has_signal(s.landmarks, features) for s in negatives]])
    return Prepared(dataset, labels, targets, usable.astype(bool), prep.extraction)


def calibrated(config: OpenSetConfig, probabilities: np.ndarray, targets: np.ndarray, labels: list[str]) -> OpenSet:
    """The open-set record of a trained model from its validation predictions: the threshold
    passes `config.keep` of the vocabulary's own validation samples (negatives left out)."""
    from isyarat.vocab.variants import sign_probabilities

    unknown = labels.index(UNKNOWN_CLASS) if UNKNOWN_CLASS in labels else None
    signs = [i for i in range(len(labels)) if i != unknown]
    own = np.array([t != unknown for t in targets], dtype=bool)
    sign_labels = [labels[i] for i in signs]  # the best sign's probability, variants summed, as the Recognizer decides
    best = np.array([sign_probabilities(p[signs], sign_labels)[0].max() for p in probabilities[own]])
    return OpenSet(threshold=calibrate(best, config.keep), unknown_class=None if unknown is None else UNKNOWN_CLASS,
                   keep=config.keep, calibrated_on=int(own.sum()),
                   negatives=tuple(described(config)) if unknown is not None else ())


def described(config: OpenSetConfig) -> list[str]:
    """What the unknown class was trained on, in words (for the bundle and its model card)."""
    return ([f"samples of {Path(n).name}" for n in config.negatives]
            + ([f"{config.synthetic} synthetic sequences of hands held still or wandering"] if config.synthetic else [])
            + ([f"{config.spliced} sequences spliced from two of its signs or played backwards"]
               if config.spliced else []))
