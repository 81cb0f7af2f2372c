"""Torch datasets over landmark samples: augmentation, then the shared feature code."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from isyarat.features import FeatureConfig, make_features
from isyarat.features.augment import AugmentConfig, augment
from isyarat.landmarks.arrays import Landmarks


class LandmarkFeatureDataset(Dataset):
    """(features, target) pairs; with augmentation the features are recomputed every epoch."""

    def __init__(self, landmarks: list[Landmarks], targets: list[int], features: FeatureConfig,
                 augment_cfg: AugmentConfig | None = None, seed: int = 0):
        self.landmarks = landmarks
        self.targets = torch.as_tensor(targets, dtype=torch.long)
        self.features = features
        self.augment_cfg = augment_cfg
        self.rng = np.random.default_rng(seed)
        self.cached = None if augment_cfg else torch.from_numpy(feature_matrix(landmarks, features))

    def __len__(self) -> int:
        return len(self.landmarks)

    def __getitem__(self, i: int):
        if self.cached is not None:
            return self.cached[i], self.targets[i]
        lm = augment(self.landmarks[i], self.augment_cfg, self.rng)
        return torch.from_numpy(make_features(lm, self.features)), self.targets[i]


def feature_matrix(landmarks: list[Landmarks], features: FeatureConfig) -> np.ndarray:
    if not landmarks:
        return np.zeros((0, *features.output_shape), np.float32)
    return np.stack([make_features(lm, features) for lm in landmarks])
