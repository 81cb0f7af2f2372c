"""Deterministic splits: stratified hold-out and K-fold, and group-aware splits by any metadata column."""
from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold, train_test_split

from isyarat.data.samples import Dataset
from isyarat.errors import IsyaratError

Split = tuple[np.ndarray, np.ndarray]  # (train indices, test indices)
SPLIT_USAGE = "use holdout:0.2 (a test fraction between 0 and 1), kfold:5 (2 or more folds) or group:<metadata column>"


@dataclass(frozen=True)
class SplitSpec:
    """A split as recipes, `train --split/--compare` and `sweep --protocol` name it: `holdout:F`
    (0 < F < 1, default 0.2), `kfold:K` (K >= 2, default 5) or `group:COLUMN` (folds that never
    put one value of a metadata column on both sides)."""

    method: str
    fraction: float = 0.2
    folds: int = 5
    column: str = ""

    def __str__(self) -> str:
        value = {"holdout": f"{self.fraction:g}", "kfold": str(self.folds), "group": self.column}[self.method]
        return f"{self.method}:{value}"


def parse_split(split: object, what: str = "split") -> SplitSpec:
    """The one parser of split names; `what` names the setting in the one-line error."""
    if not isinstance(split, str):
        raise IsyaratError(f"{what} {split!r} is not a split; {SPLIT_USAGE}")
    method, _, arg = split.strip().partition(":")
    arg = arg.strip()
    try:
        if method == "holdout" and 0 < float(arg or 0.2) < 1:
            return SplitSpec("holdout", fraction=float(arg or 0.2))
        if method == "kfold" and int(arg or 5) >= 2:
            return SplitSpec("kfold", folds=int(arg or 5))
    except ValueError:
        pass
    if method == "group" and arg:
        return SplitSpec("group", column=arg)
    raise IsyaratError(f"{what} '{split}' is not usable; {SPLIT_USAGE}")


def check_split_columns(dataset: Dataset, splits: Sequence[str]) -> None:
    """Every group split's column is in the dataset's metadata: checked before any extraction."""
    for split in splits:
        spec = parse_split(split)
        if spec.method == "group":
            groups_of(dataset, spec.column, allow_missing=True)


def split_groups(dataset: Dataset, split: str) -> list[str | None] | None:
    """Each sample's group under a group split (None where a sample has no value); None for
    other splits."""
    spec = parse_split(split)
    return groups_of(dataset, spec.column, allow_missing=True) if spec.method == "group" else None


def holdout(labels: Sequence[str], test_size: float = 0.3, seed: int = 0,
            groups: Sequence[str] | None = None) -> Split:
    """Stratified hold-out (70/30 and 80/20 in the papers); with groups, whole groups go to one side."""
    idx = np.arange(len(labels))
    if groups is not None:
        folds = max(2, int(round(1 / test_size)))
        return next(iter(group_kfold(labels, groups, folds, seed)))
    n_classes, n_test = len(set(labels)), math.ceil(test_size * len(labels))
    if n_test < n_classes or len(labels) - n_test < 2 * n_classes:
        raise IsyaratError(f"{len(labels)} samples of {n_classes} classes are too few for holdout:{test_size:g} "
                           f"(a test part of {n_test} cannot hold every class and leave 2 of each to train on): "
                           "add samples, or use kfold:2")
    stratify = _stratify(labels)
    train, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def kfold(labels: Sequence[str], k: int = 5, seed: int = 0) -> list[Split]:
    """Stratified K-fold over samples."""
    if k < 2:
        raise IsyaratError(f"kfold:{k} needs at least 2 folds, e.g. kfold:5")
    _check_min_per_class(labels, k)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in skf.split(np.zeros(len(labels)), labels)]


def group_kfold(labels: Sequence[str], groups: Sequence[str | None], k: int = 5, seed: int = 0) -> list[Split]:
    """K folds that never put one group (signer, session, capture group) on both sides.

    Samples whose group is None (an added source without that column, say) are in every
    training fold and never tested."""
    tested = np.array([i for i, g in enumerate(groups) if g is not None], dtype=int)
    always = np.array([i for i, g in enumerate(groups) if g is None], dtype=int)
    folds = _group_folds([labels[i] for i in tested], [groups[i] for i in tested], k, seed)
    return [(np.sort(np.concatenate([tested[tr], always])), tested[te]) for tr, te in folds]


def _group_folds(labels: Sequence[str], groups: Sequence[str], k: int, seed: int) -> list[Split]:
    n_groups = len(set(groups))
    if n_groups < 2:
        raise IsyaratError("a group split needs at least 2 distinct groups in that column")
    if n_groups <= k:
        return leave_one_group_out(groups)
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in sgkf.split(np.zeros(len(labels)), labels, groups)]


def leave_one_group_out(groups: Sequence[str]) -> list[Split]:
    """One fold per group: train on all others, test on it (leave-one-signer/session/group-out)."""
    if len(set(groups)) < 2:
        raise IsyaratError("leave-one-group-out needs at least 2 distinct groups")
    logo = LeaveOneGroupOut()
    return [(tr, te) for tr, te in logo.split(np.zeros(len(groups)), groups=groups)]


def validation_split(train_idx: np.ndarray, labels: Sequence[str], fraction: float = 0.15, seed: int = 0,
                     groups: Sequence[str] | None = None) -> Split:
    """Carve an early-stopping validation set out of the training indices (never the test set).
    With `groups` (a group split's), the validation part is whole groups the fit part does not
    hold, so early stopping watches unseen signers/sessions as the test does; samples without a
    group stay in the fit part. Fewer than 3 groups among the training indices: a random part."""
    sub_labels = [labels[i] for i in train_idx]
    if groups is not None and len({groups[i] for i in train_idx}) >= 3:
        inner = group_kfold(sub_labels, [groups[i] for i in train_idx], max(2, int(round(1 / fraction))), seed)
        tr, va = inner[0]
    else:
        if len(train_idx) < 2:
            raise IsyaratError(f"{len(train_idx)} training sample(s) with a hand: too few to train on; add data")
        # stratify only when the validation part can hold every class at least once
        stratify = _stratify(sub_labels) if fraction * len(train_idx) >= len(set(sub_labels)) else None
        tr, va = train_test_split(np.arange(len(train_idx)), test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(train_idx[tr]), np.sort(train_idx[va])


def groups_of(dataset: Dataset, column: str, allow_missing: bool = False) -> list[str | None]:
    """Each sample's value in `column`; with `allow_missing`, None for samples without it (as long
    as some samples have it)."""
    missing = [s.id for s in dataset.samples if column not in s.metadata]
    if missing and (not allow_missing or len(missing) == len(dataset.samples)):
        cols = sorted({k for s in dataset.samples for k in s.metadata})
        raise IsyaratError(f"{len(missing)} samples of {dataset.root} have no '{column}' metadata "
                           f"(e.g. {missing[0]}); columns present: {', '.join(cols) or 'none'}; "
                           "add a metadata.csv with path,label,<columns>")
    return [s.metadata.get(column) for s in dataset.samples]


def consecutive_frames_warning(dataset: Dataset) -> str | None:
    """A random split of frames recorded in one capture session overstates accuracy: say so."""
    numbered = sum(bool(re.search(r"(frame|img|image)?[_-]?\d+$", s.path.stem, re.I)) for s in dataset.samples)
    session_cols = {"session", "signer", "group"} & {k for s in dataset.samples for k in s.metadata}
    if dataset.layout in ("npy", "table") and numbered > 0.9 * len(dataset) or (
            session_cols and all(len({s.metadata.get(c) for s in dataset.samples}) == 1 for c in session_cols)):
        return (f"{dataset.root}: samples look like consecutive frames of few capture sessions; a random split "
                "puts near-duplicate frames on both sides and overstates accuracy. Prefer a group split "
                "(--split group:<column>) when the metadata has signer/session/group.")
    return None


def warn_if_mixed(dataset: Dataset) -> None:
    message = consecutive_frames_warning(dataset)
    if message:
        warnings.warn(message)


def _stratify(labels: Sequence[str]) -> Sequence[str] | None:
    counts = np.unique(labels, return_counts=True)[1]
    return labels if counts.min() >= 2 else None


def _check_min_per_class(labels: Sequence[str], k: int) -> None:
    names, counts = np.unique(labels, return_counts=True)
    if counts.min() < k:
        raise IsyaratError(f"class '{names[counts.argmin()]}' has {counts.min()} samples, fewer than the {k} folds")
