"""The one mirror of landmarks: what a horizontally flipped image (a left-handed twin) would show."""
from __future__ import annotations

import numpy as np

from isyarat.landmarks.arrays import Landmarks

# MediaPipe Pose points that name a side of the body (eyes, ears, mouth, shoulders, elbows, wrists,
# hand points, hips, knees, ankles, heels, feet): a mirror swaps each pair; the nose (0) stays.
POSE_PAIRS = [(1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
              (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32)]
POSE_MIRROR = np.arange(33)
for _a, _b in POSE_PAIRS:
    POSE_MIRROR[_a], POSE_MIRROR[_b] = _b, _a


def mirror_x(points: np.ndarray) -> np.ndarray:
    """Mirror normalized image coordinates left-right (x -> 1 - x); NaN stays NaN."""
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., 0] = 1.0 - out[..., 0]
    return out


def mirror_hands(hands: np.ndarray) -> np.ndarray:
    """(..., 2, 21, 3) hand slots of a flipped image: x -> 1 - x and the signer's left and right
    hands trade slots (the mirror twin signs with the other hand)."""
    return mirror_x(np.asarray(hands)[..., ::-1, :, :])


def mirror_pose(pose: np.ndarray) -> np.ndarray:
    """(..., 33, 4) pose of a flipped image: x -> 1 - x, left/right body points swapped."""
    return mirror_x(np.asarray(pose)[..., POSE_MIRROR, :])


def mirror_landmarks(lm: Landmarks) -> Landmarks:
    return Landmarks(hands=mirror_hands(lm.hands), pose=None if lm.pose is None else mirror_pose(lm.pose))
