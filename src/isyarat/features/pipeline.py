"""Landmarks -> model input. The one code path used by training, evaluation and the runtime."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from isyarat.features.config import N_TRAJECTORY, FeatureConfig
from isyarat.features.hand import WRIST, hand_size, joint_angles, normalize_points, tip_distances
from isyarat.landmarks.arrays import LEFT, RIGHT, Landmarks
from isyarat.landmarks.mirror import mirror_hands, mirror_landmarks, mirror_x

L_SHOULDER, R_SHOULDER = 11, 12


def make_features(lm: Landmarks, cfg: FeatureConfig) -> np.ndarray:
    """Features of one sample, shaped cfg.output_shape (float32)."""
    if cfg.shape == "sequence":
        return _sequence(dominant_right(lm, cfg), cfg)
    t = _signal_frame(lm, cfg)
    frame = dominant_right(Landmarks(lm.hands[t:t + 1], None if lm.pose is None else lm.pose[t:t + 1]), cfg)
    if cfg.shape == "graph":
        return _graph_nodes(frame.hands[0], cfg)
    return _frame_vector(frame, 0, cfg)


def dominant_right(lm: Landmarks, cfg: FeatureConfig) -> Landmarks:
    """With handedness 'mirror', the sample as a right-handed signer would show it.

    Where both hands show, the dominant hand is the one whose wrist is higher in the image (it acts
    on or above the other in most two-handed letters; measured in bench/handedness.py): when that
    is the signer's left, the whole sample is mirrored. The rule reads only what a mirror keeps
    (heights), so a signer and their mirror twin end up with the same landmarks. Frames with one
    hand are left to arrange_hands, which mirrors a lone left hand."""
    if cfg.handedness != "mirror":
        return lm
    both = lm.hand_present().all(axis=1)
    if not both.any():
        return lm
    wrists_y = lm.hands[both][:, :, WRIST, 1]  # (frames with both hands, 2)
    left_higher = float(np.mean(wrists_y[:, RIGHT] - wrists_y[:, LEFT])) > 0
    return mirror_landmarks(lm) if left_higher else lm


def has_signal(lm: Landmarks, cfg: FeatureConfig) -> bool:
    """Whether the sample holds anything to recognize (a hand, or a pose for pose features)."""
    return bool(_frame_valid(lm, cfg).any())


def _frame_valid(lm: Landmarks, cfg: FeatureConfig) -> np.ndarray:
    valid = lm.hand_present().any(axis=1)
    if cfg.pose and lm.pose is not None:
        valid |= ~np.isnan(lm.pose).all(axis=(1, 2))
    return valid


def _signal_frame(lm: Landmarks, cfg: FeatureConfig) -> int:
    """Frame models read the last frame that has a hand (the latest one, for a stream)."""
    valid = np.flatnonzero(_frame_valid(lm, cfg))
    return int(valid[-1]) if len(valid) else lm.n_frames - 1


def arrange_hands(hands: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(2, 21, 3) -> (points (n_points, 3) normalized, present (n_hands,)); absent points NaN.

    one: the signing hand (the larger one when both show), a left hand mirrored into a right one.
    two: left then right slot; a frame with only a left hand is mirrored so it reads as a right.
    """
    present = ~np.isnan(hands).any(axis=(1, 2))
    hands = hands.copy()
    if cfg.hands == "one":
        side = _signing_side(hands, present)
        hand = hands[side]
        if side == LEFT and cfg.mirrors_left and present[LEFT]:
            hand = mirror_x(hand)
        ref = hand
        points, present = hand, present[side:side + 1]
    else:
        if cfg.mirrors_left and present[LEFT] and not present[RIGHT]:
            hands = mirror_hands(hands)
            present = present[::-1]
        ref = hands[RIGHT] if present[RIGHT] else hands[LEFT]
        points = hands.reshape(42, 3)
    if not present.any():
        return points, present
    return normalize_points(points, ref[0], hand_size(ref), cfg.normalize), present


def _signing_side(hands: np.ndarray, present: np.ndarray) -> int:
    if present[RIGHT] and present[LEFT]:
        return RIGHT if hand_size(hands[RIGHT]) >= hand_size(hands[LEFT]) else LEFT
    return LEFT if present[LEFT] else RIGHT


def _hand_block(points: np.ndarray, present: bool, cfg: FeatureConfig) -> np.ndarray:
    if not present:
        return np.zeros(cfg.hand_dim, np.float32)
    parts = [points.reshape(-1)]
    if cfg.angles:
        parts.append(joint_angles(points))
    if cfg.distances:
        parts.append(tip_distances(points))
    return np.concatenate(parts).astype(np.float32)


def _pose_block(pose: np.ndarray | None, cfg: FeatureConfig) -> np.ndarray:
    if pose is None or np.isnan(pose).all():
        return np.zeros(132, np.float32)
    pose = pose.copy()
    if cfg.normalize != "none":
        mid = (pose[L_SHOULDER, :3] + pose[R_SHOULDER, :3]) / 2
        width = float(np.linalg.norm(pose[L_SHOULDER, :2] - pose[R_SHOULDER, :2])) or 1.0
        pose[:, :3] = (pose[:, :3] - mid) / width
    return np.nan_to_num(pose.reshape(-1)).astype(np.float32)


def frame_vector(hands: np.ndarray, pose: np.ndarray | None, cfg: FeatureConfig) -> np.ndarray:
    """(F,) for one frame: hand block(s) (+ presence flags for two hands) (+ pose)."""
    points, present = arrange_hands(hands, cfg)
    if cfg.hands == "one":
        parts = [_hand_block(points, bool(present[0]), cfg)]
    else:
        blocks = points.reshape(2, 21, 3)
        parts = [_hand_block(blocks[i], bool(present[i]), cfg) for i in (LEFT, RIGHT)]
        parts.append(present.astype(np.float32))
    if cfg.pose:
        parts.append(_pose_block(pose, cfg))
    return np.concatenate(parts)


def _frame_vector(lm: Landmarks, t: int, cfg: FeatureConfig) -> np.ndarray:
    return frame_vector(lm.hands[t], None if lm.pose is None else lm.pose[t], cfg)


def _graph_nodes(hands: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    points, present = arrange_hands(hands, cfg)
    mask = np.repeat(present, 21).astype(np.float32)[:, None]
    return np.concatenate([np.nan_to_num(points) * mask, mask], axis=1).astype(np.float32)


def resample_indices(n_frames: int, target: int) -> np.ndarray:
    """Indices that keep n_frames <= target as they are and spread longer clips evenly over target."""
    if n_frames <= target:
        return np.arange(n_frames)
    return np.linspace(0, n_frames - 1, target).round().astype(int)


def _sequence(lm: Landmarks, cfg: FeatureConfig) -> np.ndarray:
    valid = _frame_valid(lm, cfg)
    idx = resample_indices(lm.n_frames, cfg.frames)
    out = np.zeros((cfg.frames, cfg.frame_dim + 1), np.float32)
    shape_end = cfg.frame_dim - N_TRAJECTORY * cfg.trajectory
    for row, t in enumerate(idx):
        if valid[t]:
            out[row, :shape_end] = _frame_vector(lm, int(t), cfg)
            out[row, -1] = 1.0
    if cfg.trajectory:
        out[:len(idx), shape_end:-1] = trajectory(lm.hands[idx], cfg)
    return out


def trajectory(hands: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(T, 2, 21, 3) -> (T, 4): the signing hand's wrist x, y relative to its first frame with a
    hand, and its x, y velocity (from the previous frame with a hand), in hand sizes; 0 where no
    hand. Read from the hand points arrange_hands gives the shape features (mirrored the same
    way), so a left-handed signer's path is mirrored with their hand shape.

    The path follows one hand, the one seen in more frames of the window (decided once; a left
    one mirrored as arrange_hands mirrors a lone left hand): a frame where only the other hand
    shows (a glimpse as the hands come up) would otherwise move the path's origin to the other
    hand and shift the whole path."""
    present = ~np.isnan(hands).any(axis=(2, 3))  # (T, 2)
    slot = RIGHT if present[:, RIGHT].sum() >= present[:, LEFT].sum() else LEFT
    wrists = np.full((len(hands), 2), np.nan, np.float32)
    sizes = np.full(len(hands), np.nan, np.float32)
    for i in np.flatnonzero(present[:, slot]):
        hand = hands[i, slot]
        if slot == LEFT and cfg.mirrors_left:
            hand = mirror_x(hand)
        wrists[i], sizes[i] = hand[WRIST, :2], hand_size(hand)
    out = np.zeros((len(hands), N_TRAJECTORY), np.float32)
    seen = np.flatnonzero(np.isfinite(sizes))
    if not len(seen):
        return out
    pos = (wrists[seen] - wrists[seen[0]]) / float(np.median(sizes[seen]))
    out[seen, :2] = pos
    out[seen[1:], 2:] = np.diff(pos, axis=0)
    return out
