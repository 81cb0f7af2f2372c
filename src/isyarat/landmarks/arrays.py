"""The one in-memory landmark format shared by every stage (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_HAND_POINTS = 21
N_POSE_POINTS = 33
LEFT, RIGHT = 0, 1
# MediaPipe's hand skeleton: the bones between the 21 points (wrist 0; thumb 1-4, index 5-8, middle
# 9-12, ring 13-16, little 17-20). The GNN's graph, the webcam overlay and the page's drawing
# (server/static/camera.js CONNECTIONS, compared in tests/test_records.py) use these bones.
HAND_BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4),
    (0, 5), (5, 6), (6, 7), (7, 8),
    (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16),
    (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)


@dataclass
class Landmarks:
    """Landmarks of one sample: hands (T, 2, 21, 3) with NaN for absent hands, pose (T, 33, 4) or None."""

    hands: np.ndarray
    pose: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.hands = np.asarray(self.hands, dtype=np.float32)
        if self.hands.ndim == 3:
            self.hands = self.hands[None]
        if self.hands.shape[1:] != (2, N_HAND_POINTS, 3):
            raise ValueError(f"hands must be (T, 2, 21, 3), got {self.hands.shape}")
        if self.pose is not None:
            self.pose = np.asarray(self.pose, dtype=np.float32)
            if self.pose.ndim == 2:
                self.pose = self.pose[None]
            if self.pose.shape[1:] != (N_POSE_POINTS, 4) or len(self.pose) != len(self.hands):
                raise ValueError(f"pose must be (T, 33, 4) like hands, got {self.pose.shape}")

    @property
    def n_frames(self) -> int:
        return len(self.hands)

    def hand_present(self) -> np.ndarray:
        """(T, 2) bool: which hand slots hold a detected hand in each frame."""
        return ~np.isnan(self.hands).any(axis=-1).any(axis=-1)

    def has_hand(self) -> bool:
        return bool(self.hand_present().any())


def empty_hands(n_frames: int = 1) -> np.ndarray:
    return np.full((n_frames, 2, N_HAND_POINTS, 3), np.nan, dtype=np.float32)


def empty_pose(n_frames: int = 1) -> np.ndarray:
    return np.full((n_frames, N_POSE_POINTS, 4), np.nan, dtype=np.float32)


def from_flat(values: np.ndarray) -> Landmarks:
    """Read 63 (one hand -> right slot), 126 (left, right) or 258 (pose 132 + left + right) values,
    or a (T, F) array of those, into Landmarks."""
    arr = np.asarray(values, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        raise ValueError(f"expected a vector or a (T, F) array, got shape {arr.shape}")
    t, f = arr.shape
    hands = empty_hands(t)
    pose = None
    if f == 63:
        hands[:, RIGHT] = arr.reshape(t, 21, 3)
    elif f == 126:
        hands[:] = arr.reshape(t, 2, 21, 3)
    elif f == 258:
        pose = arr[:, :132].reshape(t, 33, 4).copy()
        hands[:] = arr[:, 132:].reshape(t, 2, 21, 3)
    else:
        raise ValueError(f"expected 63, 126 or 258 values per frame, got {f}")
    # MediaPipe-to-LSTM pipelines write zeros for an absent hand: treat all-zero hands as absent.
    absent = np.all(hands == 0, axis=(2, 3))
    hands[absent] = np.nan
    if pose is not None:
        pose[np.all(pose == 0, axis=(1, 2))] = np.nan
    return Landmarks(hands=hands, pose=pose)
