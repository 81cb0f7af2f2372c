"""Landmark augmentation, applied to Landmarks before features so every feature kind gets it."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from isyarat.errors import IsyaratError
from isyarat.features.hand import FINGERS
from isyarat.landmarks.arrays import Landmarks
from isyarat.landmarks.mirror import mirror_hands, mirror_pose


@dataclass
class AugmentConfig:
    """Strengths of each augmentation; 0 turns one off. mirror swaps the hands and flips x, so it
    turns a right-handed signer into a left-handed one (valid for one-handed alphabets)."""

    rotate_deg: float = 15.0
    scale: float = 0.15
    shift: float = 0.05
    jitter: float = 0.004
    mirror: float = 0.0
    finger_dropout: float = 0.0
    time_stretch: float = 0.2
    rotate3d_deg: float = 0.0  # turn each hand about its wrist out of the image plane (uses z): another camera angle
    proportions: float = 0.0   # stretch each finger's bones by up to this fraction: another signer's hand
    copies: int = 8  # augmented versions of each training sample, computed once, one per epoch in turn

    def __post_init__(self) -> None:
        if self.copies < 1 or min(self.rotate_deg, self.scale, self.shift, self.jitter, self.mirror,
                                  self.finger_dropout, self.time_stretch, self.rotate3d_deg, self.proportions) < 0:
            raise IsyaratError("augment: strengths must be >= 0 and copies >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


def augment(lm: Landmarks, cfg: AugmentConfig, rng: np.random.Generator) -> Landmarks:
    hands = lm.hands.copy()
    pose = None if lm.pose is None else lm.pose.copy()
    centre = np.nanmean(hands[..., :2].reshape(-1, 2), axis=0) if np.isfinite(hands).any() else np.full(2, 0.5)
    matrix = _affine(cfg, rng)
    offset = rng.uniform(-cfg.shift, cfg.shift, 2) if cfg.shift else np.zeros(2)
    hands[..., :2] = (hands[..., :2] - centre) @ matrix.T + centre + offset
    hands[..., 2] *= np.sqrt(abs(np.linalg.det(matrix)))
    if cfg.proportions:
        hands = _proportions(hands, cfg.proportions, rng)
    if cfg.rotate3d_deg:
        hands = _rotate3d(hands, cfg.rotate3d_deg, rng)
    if cfg.jitter:
        hands += rng.normal(0, cfg.jitter, hands.shape).astype(np.float32)
    if pose is not None:
        pose[..., :2] = (pose[..., :2] - centre) @ matrix.T + centre + offset
    if cfg.finger_dropout and rng.random() < cfg.finger_dropout:
        finger = list(FINGERS[rng.integers(5)])
        hands[:, :, finger[1:]] = hands[:, :, finger[:1]]  # fold the finger onto its knuckle
    if cfg.mirror and rng.random() < cfg.mirror:
        hands = mirror_hands(hands)
        pose = None if pose is None else mirror_pose(pose)
    if cfg.time_stretch and lm.n_frames > 1:
        hands, pose = _time_stretch(hands, pose, cfg.time_stretch, rng)
    return Landmarks(hands=hands.astype(np.float32), pose=pose)


def _rotate3d(hands: np.ndarray, max_deg: float, rng: np.random.Generator) -> np.ndarray:
    """Each hand turned about its wrist by a random yaw (about the vertical axis) and pitch."""
    out = hands.copy()
    for side in range(hands.shape[1]):
        yaw, pitch = np.deg2rad(rng.uniform(-max_deg, max_deg, 2))
        cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
        rot = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]) @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        wrist = hands[:, side, :1]
        out[:, side] = (hands[:, side] - wrist) @ rot.T.astype(np.float32) + wrist
    return out


def _proportions(hands: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Every finger's bones (from its knuckle out) lengthened or shortened by one random factor."""
    out = hands.copy()
    for side in range(hands.shape[1]):
        for finger in FINGERS:
            factor = rng.uniform(1 - strength, 1 + strength)
            for a, b in zip(finger[:-1], finger[1:]):
                out[:, side, b] = out[:, side, a] + factor * (hands[:, side, b] - hands[:, side, a])
    return out


def _affine(cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    angle = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    scale = rng.uniform(1 - cfg.scale, 1 + cfg.scale)
    c, s = np.cos(angle), np.sin(angle)
    return scale * np.array([[c, -s], [s, c]], np.float32)


def _time_stretch(hands, pose, strength: float, rng: np.random.Generator):
    n = len(hands)
    new_n = max(2, int(round(n * rng.uniform(1 - strength, 1 + strength))))
    idx = np.linspace(0, n - 1, new_n).round().astype(int)
    return hands[idx], None if pose is None else pose[idx]
