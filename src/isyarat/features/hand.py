"""Per-hand geometry: normalization, joint angles and fingertip distances.

joint_angles, tip_distances and hand_sizes take one hand (21, 3) or many (..., 21, 3) at once:
the live server computes both hands of a frame, or a window of frames, in one numpy call each."""
from __future__ import annotations

import numpy as np

WRIST, MIDDLE_MCP = 0, 9
FINGERS = [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20)]
TIPS = [4, 8, 12, 16, 20]
# (a, b, c): the angle at b between bones a->b and b->c
JOINT_TRIPLES = [(0 if i == 0 else f[i - 1], f[i], f[i + 1]) for f in FINGERS for i in range(3)]
SPREAD_TRIPLES = [(FINGERS[i][0], WRIST, FINGERS[i + 1][0]) for i in range(4)]
# Index arrays built once: these functions run for every frame of a live stream.
_ANGLE_A, _ANGLE_B, _ANGLE_C = np.array(JOINT_TRIPLES + SPREAD_TRIPLES).T
_TIP_I, _TIP_J = np.array(TIPS)[np.array(np.triu_indices(5, k=1))]  # the 10 pairs of fingertips


def lengths(vectors: np.ndarray) -> np.ndarray:
    """Euclidean length along the last axis: what np.linalg.norm(v, axis=-1) computes, without
    its checks, which cost more than the sum itself on 21 points."""
    return np.sqrt(np.add.reduce(vectors * vectors, axis=-1))


def hand_size(hand: np.ndarray) -> float:
    """Wrist to middle-finger knuckle, the hand-size unit that survives finger poses."""
    bone = hand[MIDDLE_MCP] - hand[WRIST]
    size = float(np.sqrt(bone.dot(bone)))
    return size if size > 1e-6 else 1.0


def hand_sizes(hands: np.ndarray) -> np.ndarray:
    """hand_size of every hand of (..., 21, 3) -> (...): 1 where the size is 0 or NaN (no hand).
    A stack of 1x3 by 3x1 products rounds as hand_size's dot product does (an elementwise sum can
    differ in the last bit), so both give the same features."""
    bone = hands[..., MIDDLE_MCP, :] - hands[..., WRIST, :]
    size = np.sqrt(np.matmul(bone[..., None, :], bone[..., :, None])[..., 0, 0])
    return np.where(size > 1e-6, size, np.float32(1.0))


def normalize_points(points: np.ndarray, origin: np.ndarray, scale: float, method: str) -> np.ndarray:
    """points (N, 3) -> wrist-relative and scaled; 'none' leaves raw values."""
    if method == "none":
        return points.copy()
    rel = points - origin
    if method == "maxabs":
        peak = float(np.nanmax(np.abs(rel))) if np.isfinite(rel).any() else 1.0
        return rel / (peak if peak > 1e-6 else 1.0)
    return rel / scale


def joint_angles(hand: np.ndarray) -> np.ndarray:
    """19 angles (radians / pi, in [0, 1]) between bones, via the dot product: (..., 21, 3) -> (..., 19)."""
    joints = hand.take(_ANGLE_B, axis=-2)
    u = hand.take(_ANGLE_A, axis=-2) - joints
    v = hand.take(_ANGLE_C, axis=-2) - joints
    cos = np.add.reduce(u * v, axis=-1) / (lengths(u) * lengths(v) + 1e-9)
    return (np.arccos(np.minimum(np.maximum(cos, -1.0), 1.0)) / np.pi).astype(np.float32)


def tip_distances(hand: np.ndarray) -> np.ndarray:
    """10 pairwise fingertip distances in hand-size units: (..., 21, 3) -> (..., 10)."""
    between = hand.take(_TIP_I, axis=-2) - hand.take(_TIP_J, axis=-2)
    return (lengths(between) / hand_sizes(hand)[..., None]).astype(np.float32)
