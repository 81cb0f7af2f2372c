"""Torch datasets over landmark samples: augmentation, then the shared feature code."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from isyarat.features import FeatureConfig, make_features
from isyarat.features.augment import AugmentConfig, augment
from isyarat.landmarks.arrays import Landmarks


class LandmarkFeatureDataset(Dataset):
    """(features, target) pairs, computed once up front.

    With augmentation, `augment_cfg.copies` augmented versions of every sample are computed and
    each pass over the data (an epoch) uses the next version: the feature code costs about a
    millisecond per sample, so recomputing it every epoch would dominate training small models."""

    def __init__(self, landmarks: list[Landmarks], targets: list[int], features: FeatureConfig,
                 augment_cfg: AugmentConfig | None = None, seed: int = 0):
        self.targets = torch.as_tensor(targets, dtype=torch.long)
        if augment_cfg is None:
            versions = [feature_matrix(landmarks, features)]
        else:
            rng = np.random.default_rng(seed)
            versions = [feature_matrix([augment(lm, augment_cfg, rng) for lm in landmarks], features)
                        for _ in range(augment_cfg.copies)]
        self.versions = torch.from_numpy(np.stack(versions))
        self.passes = 0

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.versions[0][i], self.targets[i]

    def next_pass(self) -> torch.Tensor:
        """All samples' features for the next epoch: (N, *feature shape)."""
        x = self.versions[self.passes % len(self.versions)]
        self.passes += 1
        return x


def feature_matrix(landmarks: list[Landmarks], features: FeatureConfig) -> np.ndarray:
    if not landmarks:
        return np.zeros((0, *features.output_shape), np.float32)
    return np.stack([make_features(lm, features) for lm in landmarks])
