"""Landmarks -> model input. The one code path used by training, evaluation and the runtime."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from isyarat.features.config import N_TRAJECTORY, FeatureConfig
from isyarat.features.hand import WRIST, hand_sizes, joint_angles, tip_distances
from isyarat.landmarks.arrays import LEFT, RIGHT, Landmarks
from isyarat.landmarks.mirror import mirror_hands, mirror_landmarks, mirror_pose, mirror_x

L_SHOULDER, R_SHOULDER = 11, 12


def make_features(lm: Landmarks, cfg: FeatureConfig) -> np.ndarray:
    """Features of one sample, shaped cfg.output_shape (float32)."""
    if cfg.shape == "sequence":
        return sequence_features([lm], cfg)[0]
    t = _signal_frame(lm, cfg)
    return frame_features(lm.hands[t:t + 1], None if lm.pose is None else lm.pose[t:t + 1], cfg)[0]


def frame_features(hands: np.ndarray, pose: np.ndarray | None, cfg: FeatureConfig) -> np.ndarray:
    """Features of many one-frame samples at once (frame and graph models): hands (B, 2, 21, 3),
    pose (B, 33, 4) or None -> (B, *cfg.output_shape). Row b is sample b's features, whatever
    else is in the batch: the live server reads the frames of all its viewers in one call."""
    hands = np.asarray(hands, dtype=np.float32)
    pose = None if pose is None else np.asarray(pose, dtype=np.float32)
    if cfg.handedness == "mirror":
        hands, pose = _dominant_right_frames(hands, pose)
    if cfg.shape == "graph":
        return _graph_nodes(hands, cfg)
    return frame_vectors(hands, pose, cfg)


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
    return mirror_landmarks(lm) if both.any() and _left_higher(lm.hands, both) else lm


def _left_higher(hands: np.ndarray, both: np.ndarray) -> bool:
    """Whether the left wrist is the higher one, on average over the frames (T,) `both` where
    both hands show (at least one)."""
    wrists_y = hands[both][:, :, WRIST, 1]  # (frames with both hands, 2)
    return float(np.mean(wrists_y[:, RIGHT] - wrists_y[:, LEFT])) > 0


def _dominant_right_frames(hands: np.ndarray, pose: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """dominant_right of every one-frame sample (B, 2, 21, 3) at once: a frame whose left wrist
    is the higher of two shown hands is mirrored."""
    both = (~np.isnan(hands).any(axis=(2, 3))).all(axis=1)
    flip = both & (hands[:, RIGHT, WRIST, 1] - hands[:, LEFT, WRIST, 1] > 0)
    if not flip.any():
        return hands, pose
    hands = np.where(flip[:, None, None, None], mirror_hands(hands), hands)
    if pose is not None:
        pose = np.where(flip[:, None, None], mirror_pose(pose), pose)
    return hands, pose


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
    """(T, 2, 21, 3) -> (points (T, n_points, 3) normalized, present (T, n_hands)); absent points NaN.

    one: the signing hand (the larger one when both show), a left hand mirrored into a right one.
    two: left then right slot; a frame with only a left hand is mirrored so it reads as a right.
    Every frame at once (numpy over the frames and hands): it runs for every frame of a live stream.
    """
    present = ~np.isnan(hands).any(axis=(2, 3))
    if cfg.hands == "one":
        side = _signing_side(hands, present)  # a shown hand, when there is one
        points = hands[np.arange(len(hands)), side]
        flip = side == LEFT  # only ever a shown hand
        if cfg.mirrors_left and flip.any():
            points = np.where(flip[:, None, None], mirror_x(points), points)
        return _normalized(points, points, cfg.normalize), present.any(axis=1)[:, None]
    flip = present[:, LEFT] & ~present[:, RIGHT] & cfg.mirrors_left
    if flip.any():
        hands = np.where(flip[:, None, None, None], mirror_hands(hands), hands)
        present = np.where(flip[:, None], present[:, ::-1], present)
    ref = np.where(present[:, RIGHT, None, None], hands[:, RIGHT], hands[:, LEFT])
    return _normalized(hands.reshape(len(hands), 42, 3), ref, cfg.normalize), present


def _signing_side(hands: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(T,) the slot of the signing hand: the larger when both show, else the one shown (right when none)."""
    side = np.where(present[:, LEFT], LEFT, RIGHT)
    both = present.all(axis=1)
    if both.any():
        sizes = hand_sizes(hands)
        side = np.where(both, np.where(sizes[:, RIGHT] >= sizes[:, LEFT], RIGHT, LEFT), side)
    return side


def _normalized(points: np.ndarray, ref: np.ndarray, method: str) -> np.ndarray:
    """points (T, N, 3) relative to each frame's reference hand ref (T, 21, 3): see normalize_points."""
    if method == "none":
        return points.copy()
    rel = points - ref[:, WRIST:WRIST + 1]
    if method == "maxabs":
        peak = np.fmax.reduce(np.abs(rel).reshape(len(rel), -1), axis=1)  # NaN (no hand) -> 1 below
        rel /= np.where(peak > 1e-6, peak, np.float32(1.0))[:, None, None]
    else:
        rel /= hand_sizes(ref)[:, None, None]
    return rel


def _hand_blocks(points: np.ndarray, present: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """points (T, H, 21, 3), present (T, H) -> (T, H, hand_dim): points (+ angles) (+ distances) of
    every hand shown, computed together; 0 where a hand is absent."""
    every = present.all()
    shown = points.reshape(-1, 21, 3) if every else points[present]  # (hands shown, 21, 3)
    parts = [shown.reshape(len(shown), 63)]
    if cfg.angles:
        parts.append(joint_angles(shown))
    if cfg.distances:
        parts.append(tip_distances(shown))
    blocks = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    if every:
        return blocks.astype(np.float32, copy=False).reshape(*present.shape, cfg.hand_dim)
    out = np.zeros((*present.shape, cfg.hand_dim), np.float32)
    out[present] = blocks
    return out


def _pose_block(pose: np.ndarray | None, cfg: FeatureConfig) -> np.ndarray:
    if pose is None or np.isnan(pose).all():
        return np.zeros(132, np.float32)
    pose = pose.copy()
    if cfg.normalize != "none":
        mid = (pose[L_SHOULDER, :3] + pose[R_SHOULDER, :3]) / 2
        width = float(np.linalg.norm(pose[L_SHOULDER, :2] - pose[R_SHOULDER, :2])) or 1.0
        pose[:, :3] = (pose[:, :3] - mid) / width
    return np.nan_to_num(pose.reshape(-1)).astype(np.float32)


def frame_vectors(hands: np.ndarray, pose: np.ndarray | None, cfg: FeatureConfig) -> np.ndarray:
    """(T, F) for frames (T, 2, 21, 3): hand block(s) (+ presence flags for two hands) (+ pose)."""
    points, present = arrange_hands(hands, cfg)  # absent hands are NaN until _hand_blocks zeroes them
    blocks = _hand_blocks(points.reshape(len(hands), -1, 21, 3), present, cfg)
    parts = [blocks.reshape(len(hands), -1)]
    if cfg.hands == "two":
        parts.append(present.astype(np.float32))
    if cfg.pose:
        poses = [None] * len(hands) if pose is None else pose
        parts.append(np.stack([_pose_block(p, cfg) for p in poses]))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def _graph_nodes(hands: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(T, 2, 21, 3) -> (T, nodes, 4): each node's point (0 where its hand is absent) and a presence flag."""
    points, present = arrange_hands(hands, cfg)
    mask = np.repeat(present, 21, axis=1).astype(np.float32)[..., None]
    return np.concatenate([np.nan_to_num(points) * mask, mask], axis=2).astype(np.float32)


def resample_indices(n_frames: int, target: int) -> np.ndarray:
    """Indices that keep n_frames <= target as they are and spread longer clips evenly over target."""
    if n_frames <= target:
        return np.arange(n_frames)
    return np.linspace(0, n_frames - 1, target).round().astype(int)


def sequence_features(samples: list[Landmarks], cfg: FeatureConfig,
                      rows: list[Sequence[np.ndarray] | None] | None = None) -> np.ndarray:
    """Features of many sequence samples (cfg.shape "sequence") at once: (len(samples), *cfg.output_shape).
    Samples of one length are read as one array (the windows of the live viewers whose hands are
    moving): each sample's row is bit for bit what it gets on its own.

    `rows` (the live streams'): per sample, each of its frames' vector as frame_features gives it
    for a frame config of the same per-frame settings (see same_frame_vectors; a sequence of the
    sample's frames, any vector for a frame without a hand), or None. A sample
    whose frames show one hand each (so that neither the window's mirror rule nor the frame's
    applies) takes its frames' vectors from there instead of computing them again: a moving hand's
    window is read every other frame, and all but its newest frames were computed before."""
    out = np.zeros((len(samples), cfg.frames, cfg.frame_dim + 1), np.float32)
    rows = list(rows or [None] * len(samples))
    clips, settled, by_length = [], [], {}
    for k, lm in enumerate(samples):
        long = lm.n_frames > cfg.frames
        if long:  # the mirror rule reads the whole clip, then it is resampled to cfg.frames
            lm = dominant_right(lm, cfg)
            idx = resample_indices(lm.n_frames, cfg.frames)
            lm = Landmarks(lm.hands[idx], None if lm.pose is None else lm.pose[idx])
            rows[k] = None
        clips.append(lm)
        settled.append(long)
        by_length.setdefault(lm.n_frames, []).append(k)
    for length, ks in by_length.items():
        out[ks, :length] = _windows([clips[k] for k in ks], [settled[k] for k in ks], cfg, [rows[k] for k in ks])
    return out


def same_frame_vectors(sequence: FeatureConfig, frame: FeatureConfig) -> bool:
    """Whether frame_features(frame) gives, for a frame with at most one hand, the vector a
    `sequence` window holds for that frame (the settings frame_vectors reads are the same)."""
    keys = ("hands", "normalize", "angles", "distances", "pose", "handedness")
    return frame.shape == "frame" and all(getattr(sequence, k) == getattr(frame, k) for k in keys)


def _windows(clips: list[Landmarks], settled: list[bool], cfg: FeatureConfig,
             rows: list[Sequence[np.ndarray] | None] | None = None) -> np.ndarray:
    """Clips of one length T -> (R, T, frame_dim + 1): the mirror rule (unless `settled`), each
    frame's vector (from `rows` where a clip has them and no frame of it shows both hands), the
    wrist path and the frame mask, every clip at once."""
    hands = np.stack([lm.hands for lm in clips])
    pose = None
    if cfg.pose and any(lm.pose is not None for lm in clips):
        pose = np.stack([np.full((lm.n_frames, 33, 4), np.nan, np.float32) if lm.pose is None else lm.pose
                         for lm in clips])
    present = ~np.isnan(hands).any(axis=(3, 4))  # (R, T, 2)
    both = present.all(axis=2)
    if cfg.handedness == "mirror":
        flip = np.zeros(len(clips), bool)
        for k in np.flatnonzero(both.any(axis=1)):
            flip[k] = not settled[k] and _left_higher(hands[k], both[k])
        if flip.any():
            hands = np.where(flip[:, None, None, None, None], mirror_hands(hands), hands)  # slots swap: any() below holds
            if pose is not None:
                pose = np.where(flip[:, None, None, None], mirror_pose(pose), pose)
    valid = present.any(axis=2)
    if pose is not None:
        valid |= ~np.isnan(pose).all(axis=(2, 3))
    out = np.zeros((*valid.shape, cfg.frame_dim + 1), np.float32)
    shape_end = cfg.frame_dim - N_TRAJECTORY * cfg.trajectory
    known = np.array([r is not None for r in rows or [None] * len(clips)]) & ~both.any(axis=1)
    computed = valid & ~known[:, None]
    if computed.any():
        out[computed, :shape_end] = frame_vectors(hands[computed], None if pose is None else pose[computed], cfg)
    if known.any():  # every known clip's rows in one stack; frames without a hand stay 0
        ks = np.flatnonzero(known)
        kept = np.stack([row for k in ks for row in rows[k]]).reshape(len(ks), valid.shape[1], -1)
        out[ks, :, :shape_end] = np.where(valid[ks, :, None], kept, np.float32(0))
    out[valid, -1] = 1.0
    if cfg.trajectory:
        out[:, :, shape_end:-1] = trajectories(hands, cfg)
    return out


def trajectory(hands: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(T, 2, 21, 3) -> (T, 4): the signing hand's wrist x, y relative to its first frame with a
    hand, and its x, y velocity (from the previous frame with a hand), in hand sizes; 0 where no
    hand. A left hand is mirrored as arrange_hands mirrors it for the shape features, so a
    left-handed signer's path is mirrored with their hand shape.

    The path follows one hand, the one seen in more frames of the window (decided once; a left
    one mirrored as arrange_hands mirrors a lone left hand): a frame where only the other hand
    shows (a glimpse as the hands come up) would otherwise move the path's origin to the other
    hand and shift the whole path."""
    return trajectories(np.asarray(hands)[None], cfg)[0]


def trajectories(hands: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """trajectory of many windows of one length (R, T, 2, 21, 3) -> (R, T, 4), all at once."""
    n, length = hands.shape[:2]
    r = np.arange(n)
    present = ~np.isnan(hands).any(axis=(3, 4))  # (R, T, 2)
    counts = present.sum(axis=1)
    slot = np.where(counts[:, RIGHT] >= counts[:, LEFT], RIGHT, LEFT)  # the hand seen in more frames
    hand = hands[r, :, slot]  # (R, T, 21, 3)
    if cfg.mirrors_left and (slot == LEFT).any():
        hand = np.where((slot == LEFT)[:, None, None, None], mirror_x(hand), hand)
    seen = present[r, :, slot]  # (R, T)
    wrists = hand[:, :, WRIST, :2].astype(np.float32)
    sizes = hand_sizes(hand).astype(np.float32)
    with np.errstate(invalid="ignore"):  # windows without a hand: inf - inf, never read
        pos = (wrists - wrists[r, seen.argmax(axis=1)][:, None]) / _medians(sizes, seen)[:, None, None]
    before = np.maximum.accumulate(np.where(seen, np.arange(length), -1), axis=1)  # latest seen frame
    before = np.concatenate([np.full((n, 1), -1), before[:, :-1]], axis=1)  # ... before each frame
    out = np.zeros((n, length, N_TRAJECTORY), np.float32)
    out[:, :, :2] = np.where(seen[..., None], pos, 0)
    moved = seen & (before >= 0)
    out[:, :, 2:] = np.where(moved[..., None], pos - pos[r[:, None], np.maximum(before, 0)], 0)
    return out


def _medians(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """np.median of each row's values where mask (R, T) float32, as np.median rounds it (the mean of
    the two middle values in float32); inf for a row without any."""
    n = mask.sum(axis=1)
    ordered = np.sort(np.where(mask, values, np.float32(np.inf)), axis=1)
    r = np.arange(len(values))
    low, high = ordered[r, np.maximum((n - 1) // 2, 0)], ordered[r, np.minimum(n // 2, values.shape[1] - 1)]
    with np.errstate(invalid="ignore"):
        return np.where(n % 2 == 1, low, (low + high) / np.float32(2))
