"""The vectorized features (both hands and every frame of a window at once) give exactly what
the per-hand code gave before them, on real ASL landmarks: one hand, two hands, a lone left
hand, mirrored frames, no hand, and windows with dropped frames."""
from dataclasses import replace

import numpy as np
import pytest

from isyarat.features import FeatureConfig, make_features
from isyarat.features.pipeline import _medians, dominant_right, frame_features, sequence_features, trajectories
from isyarat.features.hand import hand_size, hand_sizes, joint_angles, normalize_points, tip_distances
from isyarat.landmarks.arrays import LEFT, RIGHT, Landmarks, from_flat
from isyarat.landmarks.mirror import mirror_hands, mirror_landmarks, mirror_x

ASL = "asl-alphabet-landmarks-graudt/raw_gestures"


# ---- the per-hand reference: how features were computed one hand and one frame at a time ----

def reference_arrange(hands: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    present = ~np.isnan(hands).any(axis=(1, 2))
    if cfg.hands == "one":
        both = present.all()
        side = (RIGHT if hand_size(hands[RIGHT]) >= hand_size(hands[LEFT]) else LEFT) if both else \
            (LEFT if present[LEFT] else RIGHT)
        hand = mirror_x(hands[side]) if side == LEFT and cfg.mirrors_left and present[LEFT] else hands[side]
        ref, points, present = hand, hand, present[side:side + 1]
    else:
        if cfg.mirrors_left and present[LEFT] and not present[RIGHT]:
            hands, present = mirror_hands(hands), present[::-1]
        ref, points = (hands[RIGHT] if present[RIGHT] else hands[LEFT]), hands.reshape(42, 3)
    if not present.any():
        return points, present
    return normalize_points(points, ref[0], hand_size(ref), cfg.normalize), present


def reference_frame(hands: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    points, present = reference_arrange(hands, cfg)
    blocks = []
    for i, hand in enumerate(points.reshape(-1, 21, 3)):
        if not present[i]:
            blocks.append(np.zeros(cfg.hand_dim, np.float32))
            continue
        parts = [hand.reshape(-1)] + [joint_angles(hand)] * cfg.angles + [tip_distances(hand)] * cfg.distances
        blocks.append(np.concatenate(parts).astype(np.float32))
    if cfg.hands == "two":
        blocks.append(present.astype(np.float32))
    return np.concatenate(blocks)


def reference_trajectory(hands: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The path of the hand slot seen in more frames (a left one mirrored unless handedness keep)."""
    wrists, sizes = np.full((len(hands), 2), np.nan, np.float32), np.full(len(hands), np.nan, np.float32)
    shown = [[not np.isnan(frame[side]).any() for side in (LEFT, RIGHT)] for frame in hands]
    slot = RIGHT if sum(s[RIGHT] for s in shown) >= sum(s[LEFT] for s in shown) else LEFT
    for i, frame in enumerate(hands):
        if shown[i][slot]:
            hand = frame[slot].copy()
            if slot == LEFT and cfg.handedness != "keep":
                hand[:, 0] = 1.0 - hand[:, 0]
            wrists[i], sizes[i] = hand[0, :2], hand_size(hand)
    out = np.zeros((len(hands), 4), np.float32)
    seen = np.flatnonzero(np.isfinite(sizes))
    if len(seen):
        pos = (wrists[seen] - wrists[seen[0]]) / float(np.median(sizes[seen]))
        out[seen, :2], out[seen[1:], 2:] = pos, np.diff(pos, axis=0)
    return out


# ---- real frames -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def frames(datasets) -> np.ndarray:
    """(N, 2, 21, 3): real right hands; two real hands side by side; lone left hands; all mirrored; none."""
    singles = []
    for letter in "ABCDLVWY":
        files = sorted((datasets / ASL / letter).glob("*.npy"), key=lambda p: int(p.stem.split("_")[1]))[:40:8]
        singles += [from_flat(np.load(f)).hands[0] for f in files]
    singles = np.stack(singles)
    two = singles.copy()
    two[:, LEFT] = np.roll(singles[:, RIGHT], 3, axis=0)
    two[:, LEFT, :, 0] -= 0.3
    two[1::2, LEFT, :, 1] -= 0.2  # the left hand higher: the dominant-hand rule mirrors these
    lone_left = singles[:, ::-1]
    shown = np.concatenate([singles, two, lone_left])
    return np.concatenate([shown, mirror_landmarks(Landmarks(shown)).hands, np.full((1, 2, 21, 3), np.nan, np.float32)])


FRAME_CONFIGS = [FeatureConfig(hands=h, normalize=n, angles=a, distances=d, handedness=m)
                 for h in ("one", "two") for n in ("wrist", "maxabs", "none") for a, d in ((True, True), (False, False))
                 for m in ("mirror", "keep")]


@pytest.mark.parametrize("cfg", FRAME_CONFIGS, ids=lambda c: f"{c.hands}-{c.normalize}-{c.angles}-{c.handedness}")
def test_frame_features_equal_the_per_hand_reference_bit_for_bit(frames, cfg):
    for hands in frames:
        lm = dominant_right(Landmarks(hands[None]), cfg)  # unchanged: the higher wrist goes right
        assert np.array_equal(make_features(Landmarks(hands[None]), cfg), reference_frame(lm.hands[0], cfg))


@pytest.mark.parametrize("hands_setting", ["one", "two"])
def test_window_features_equal_the_per_frame_reference(frames, hands_setting):
    """Sequences (the motion model's window: shapes, mask, wrist path) with dropped frames,
    short windows padded and long ones resampled."""
    cfg = FeatureConfig(shape="sequence", frames=30, hands=hands_setting, angles=True, distances=True,
                        trajectory=True, handedness="keep")  # the whole-window mirror rule is unchanged
    rng = np.random.default_rng(0)
    for start, length in ((0, 30), (40, 12), (90, 45), (200, 30)):
        window = frames[start:start + length].copy()
        window[rng.random(len(window)) < 0.2] = np.nan
        got = make_features(Landmarks(window), cfg)
        idx = np.linspace(0, len(window) - 1, 30).round().astype(int) if len(window) > 30 else np.arange(len(window))
        shape_end = cfg.frame_dim - 4
        for row, t in enumerate(idx):
            shown = not np.isnan(window[t]).all()
            expected = reference_frame(window[t], cfg) if shown else np.zeros(shape_end, np.float32)
            assert np.array_equal(got[row, :shape_end], expected) and got[row, -1] == float(shown)
        assert np.array_equal(got[:len(idx), shape_end:-1], reference_trajectory(window[idx], cfg))
        assert not got[len(idx):].any()


def test_hand_sizes_round_like_hand_size(frames):
    hands = frames.reshape(-1, 21, 3)
    expected = np.array([hand_size(h) for h in hands], np.float32)
    assert np.array_equal(hand_sizes(hands), expected)


@pytest.mark.parametrize("cfg", FRAME_CONFIGS[::3] + [FeatureConfig(shape="graph", hands="two")],
                         ids=lambda c: f"{c.shape}-{c.hands}-{c.normalize}-{c.handedness}")
def test_a_batch_of_frames_gets_each_frames_own_features(frames, cfg):
    """The live server reads all its viewers' frames in one frame_features call: each row is
    bit for bit what the frame gets alone (two hands with either wrist higher, lone left hands)."""
    shown = frames[:-1]  # a model reads only frames with a hand
    batch = frame_features(shown, None, cfg)
    assert batch.shape == (len(shown), *cfg.output_shape)
    for row, hands in zip(batch, shown):
        assert np.array_equal(row, make_features(Landmarks(hands[None]), cfg))


@pytest.mark.parametrize("pose", [False, True])
def test_many_windows_get_each_windows_own_features(frames, pose):
    """The live server reads the windows of every viewer whose hand is moving in one
    sequence_features call: each is bit for bit what it gets alone (dropped frames, a left-handed
    window, windows short and long, with a body pose in some and none in others)."""
    cfg = FeatureConfig(shape="sequence", frames=15, hands="one", angles=True, distances=True, trajectory=True,
                        pose=pose)
    rng = np.random.default_rng(1)
    windows = []
    for k, (start, length) in enumerate([(0, 15), (30, 9), (60, 22), (100, 15), (140, 3)]):
        hands = frames[start:start + length].copy()
        hands[rng.random(len(hands)) < 0.2] = np.nan
        if k == 1:
            hands = mirror_hands(hands)
        body = rng.random((len(hands), 33, 4)).astype(np.float32) if pose and k % 2 else None
        windows.append(Landmarks(hands, body))
    windows.append(Landmarks(np.full((15, 2, 21, 3), np.nan, np.float32)))  # no hand at all
    batch = sequence_features(windows, cfg)
    assert batch.shape == (len(windows), *cfg.output_shape)
    for row, window in zip(batch, windows):
        assert np.array_equal(row, make_features(window, cfg))
        assert np.array_equal(row, sequence_features([window], cfg)[0])


def test_trajectories_of_many_windows_equal_the_reference(frames):
    """Windows read together (the wrist paths of every moving viewer in one call) against the
    per-frame reference: one hand, the left hand seen more (mirrored), a hand in no frame, and
    hand sizes whose median is the mean of two middle values."""
    cfg = FeatureConfig(shape="sequence", frames=30, hands="one", trajectory=True)
    rng = np.random.default_rng(2)
    windows = []
    for k in range(12):
        window = frames[15 * k:15 * k + 20].copy()
        window[rng.random(len(window)) < 0.3] = np.nan
        if k % 3 == 1:
            window = mirror_hands(window)
        windows.append(window)
    windows.append(np.full_like(windows[0], np.nan))
    got = trajectories(np.stack(windows), cfg)
    for row, window in zip(got, windows):
        assert np.array_equal(row, reference_trajectory(window, cfg))


def test_row_medians_round_as_numpy_median():
    rng = np.random.default_rng(5)
    values = rng.random((400, 30)).astype(np.float32) * 3
    mask = rng.random((400, 30)) < rng.random((400, 1))
    for got, row, m in zip(_medians(values, mask), values, mask):
        assert (not m.any() and got == np.inf) or got == np.median(row[m])
