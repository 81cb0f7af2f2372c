"""From a dataset and a recipe to model inputs: landmark extraction when needed, targets, torch datasets."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset as TorchDataset

from isyarat.data.samples import LANDMARKS, Dataset
from isyarat.data.splits import group_kfold, holdout, kfold, parse_split, split_groups, warn_if_mixed
from isyarat.errors import IsyaratError
from isyarat.features import has_signal
from isyarat.features.hand import hand_size
from isyarat.landmarks.arrays import LEFT, RIGHT
from isyarat.models.registry import model_track
from isyarat.training.landmark_data import LandmarkFeatureDataset
from isyarat.training.recipe import Recipe
from isyarat.vocab.variants import SEPARATOR, sign_of


@dataclass
class Prepared:
    """A dataset ready for one recipe: samples (with landmarks where the recipe needs them),
    label order, integer targets and which samples a model can be given at all."""

    dataset: Dataset
    labels: list[str]
    targets: np.ndarray
    usable: np.ndarray
    extraction: dict | None = None


def needs_landmarks(recipe: Recipe) -> bool:
    return model_track(recipe.model) == "landmarks" or bool(recipe.image.get("crop_hands"))


def extract_settings(recipe: Recipe):
    """The recipe's extraction settings, with the detector its features need (Holistic for pose)."""
    from isyarat.landmarks.settings import ExtractSettings

    pose = recipe.features.pose and model_track(recipe.model) == "landmarks"
    return ExtractSettings(**recipe.extract).for_model(pose)


def with_landmarks(dataset: Dataset, recipe: Recipe, workers: int = 1, cache_dir: Path | None = None,
                   progress: bool = True, ray=None) -> tuple[Dataset, dict | None]:
    """Run MediaPipe over image/video samples (cached; as Ray tasks with `ray`, a RayTarget);
    landmark datasets pass through."""
    if dataset.media == LANDMARKS or not needs_landmarks(recipe):
        return dataset, None
    from isyarat.landmarks.extract import extract_dataset

    result = extract_dataset(dataset, extract_settings(recipe), workers=workers, cache_dir=cache_dir,
                             progress=progress, ray=ray)
    if progress:
        print(result.summary.format())
    return result.dataset, result.summary.to_dict()


def prepare(dataset: Dataset, recipe: Recipe, labels: list[str] | None = None, workers: int = 1,
            cache_dir: Path | None = None, progress: bool = True, ray=None) -> Prepared:
    if recipe.exclude_labels:
        dataset = dataset.subset([i for i, s in enumerate(dataset) if s.label not in recipe.exclude_labels])
    track = model_track(recipe.model)
    if track == "image" and dataset.media != "image":
        raise IsyaratError(f"model '{recipe.model}' reads images but {dataset.root} holds {dataset.media} samples")
    dataset, summary = with_landmarks(dataset, recipe, workers, cache_dir, progress, ray)
    if recipe.hand_classes:
        dataset = by_signing_hand(dataset)
    labels = labels or dataset.labels
    unknown = sorted(set(dataset.labels) - set(labels))
    if unknown:
        raise IsyaratError(f"{dataset.root} has labels the model does not know: {', '.join(unknown[:10])}; "
                           f"the model knows {', '.join(labels)}")
    index = {label: i for i, label in enumerate(labels)}
    targets = np.array([index[s.label] for s in dataset], dtype=np.int64)
    if track == "landmarks":
        usable = np.array([s.landmarks is not None and has_signal(s.landmarks, recipe.features) for s in dataset])
    else:
        usable = np.ones(len(dataset), bool)
    return Prepared(dataset, labels, targets, usable, summary)


def by_signing_hand(dataset: Dataset) -> Dataset:
    """Relabel every sample as a variant of its sign named by the hand that signs it (A -> A~kiri or
    A~kanan: the larger hand in view, over the sample's frames), as the SIBI LSTM study's 52 classes."""
    if dataset.media != LANDMARKS and not any(s.landmarks is not None for s in dataset):
        raise IsyaratError("hand_classes needs landmarks: use a landmark recipe")
    relabelled = dataset.subset(range(len(dataset)))
    relabelled.samples = [replace(s, label=f"{sign_of(s.label)}{SEPARATOR}{HAND_NAMES[_signing_hand(s.landmarks)]}")
                          for s in dataset]
    return relabelled


HAND_NAMES = {LEFT: "kiri", RIGHT: "kanan"}


def _signing_hand(lm) -> int:
    if lm is None or not lm.has_hand():
        return RIGHT
    sizes = [np.nanmean([hand_size(h) for h in lm.hands[:, side] if not np.isnan(h).any()] or [0.0])
             for side in (LEFT, RIGHT)]
    return LEFT if sizes[LEFT] > sizes[RIGHT] else RIGHT


def input_shape(recipe: Recipe) -> tuple[int, ...]:
    if model_track(recipe.model) == "landmarks":
        return recipe.features.output_shape
    from isyarat.training.image_data import image_transform_config

    return image_transform_config(recipe).input_shape


def torch_dataset(prep: Prepared, indices: np.ndarray, recipe: Recipe, train: bool) -> TorchDataset:
    samples = [prep.dataset.samples[i] for i in indices]
    targets = prep.targets[indices].tolist()
    if model_track(recipe.model) == "landmarks":
        return LandmarkFeatureDataset([s.landmarks for s in samples], targets, recipe.features,
                                      recipe.augment if train else None, seed=recipe.train.seed)
    from isyarat.training.image_data import image_dataset

    return image_dataset(samples, targets, recipe, train)


def make_splits(prep: Prepared, split: str, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """holdout:F, kfold:K or group:COLUMN (one fold per group, or K group folds for many groups)."""
    spec = parse_split(split)
    labels = [prep.labels[t] for t in prep.targets]
    if spec.method == "group":
        return group_kfold(labels, split_groups(prep.dataset, split), 5, seed)
    warn_if_mixed(prep.dataset)
    return [holdout(labels, spec.fraction, seed)] if spec.method == "holdout" else kfold(labels, spec.folds, seed)
