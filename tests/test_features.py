"""Feature code shared by training and runtime, on real ASL landmarks."""
import numpy as np
import pytest
import torch

from isyarat.data.layouts import load_dataset
from isyarat.errors import IsyaratError
from isyarat.features import FeatureConfig, has_signal, make_features
from isyarat.features.augment import AugmentConfig, augment
from isyarat.features.hand import joint_angles
from isyarat.models.standardize import Standardize
from isyarat.landmarks.arrays import LEFT, RIGHT, Landmarks, empty_hands


@pytest.fixture(scope="module")
def hands(datasets):
    ds = load_dataset(datasets / "asl-alphabet-landmarks-graudt/raw_gestures/A/..")
    return [s.landmarks for s in ds.samples[::400]]


def _moved(lm: Landmarks, scale: float, shift: float) -> Landmarks:
    h = lm.hands.copy()
    h = (h - 0.5) * scale + 0.5 + shift
    return Landmarks(h)


def test_wrist_normalization_ignores_where_and_how_big_the_hand_is(hands):
    cfg = FeatureConfig(angles=True, distances=True)
    for lm in hands[:5]:
        a = make_features(lm, cfg)
        b = make_features(_moved(lm, 0.6, 0.1), cfg)
        np.testing.assert_allclose(a, b, atol=1e-4)
        assert a[:3].tolist() == [0, 0, 0]  # the wrist is the origin


def test_left_hand_is_mirrored_into_a_right_hand(hands):
    cfg = FeatureConfig(angles=True)
    right = hands[0]
    left = empty_hands()
    left[0, LEFT] = right.hands[0, RIGHT]
    left[0, LEFT, :, 0] = 1 - left[0, LEFT, :, 0]  # the same hand seen mirrored
    np.testing.assert_allclose(make_features(Landmarks(left), cfg), make_features(right, cfg), atol=1e-5)
    no_mirror = FeatureConfig(handedness="keep")
    assert not np.allclose(make_features(Landmarks(left), no_mirror), make_features(right, no_mirror))


def test_joint_angles_of_a_straight_finger_are_straight():
    hand = np.zeros((21, 3), np.float32)
    for finger, start in enumerate((1, 5, 9, 13, 17)):
        for k in range(4):
            hand[start + k] = [finger * 0.1, -(k + 1) * 0.1, 0]
    angles = joint_angles(hand)
    assert angles.shape == (19,)
    np.testing.assert_allclose(angles[[1, 2, 4, 5, 7, 8, 10, 11, 13, 14]], 1.0, atol=1e-3)  # 180 degrees (arccos is steep there)


def test_two_hands_carry_presence_flags_and_zeros_for_the_missing_hand(hands):
    cfg = FeatureConfig(hands="two")
    x = make_features(hands[0], cfg)
    assert x.shape == cfg.output_shape == (128,)
    assert x[-2:].tolist() == [0.0, 1.0]
    assert not x[:63].any()
    graph = make_features(hands[0], FeatureConfig(shape="graph", hands="two"))
    assert graph.shape == (42, 4) and graph[:21, 3].sum() == 0 and graph[21:, 3].sum() == 21


def test_sequences_are_padded_with_a_mask_or_resampled(hands):
    frames = np.concatenate([lm.hands for lm in hands])  # (n, 2, 21, 3)
    cfg = FeatureConfig(shape="sequence", frames=50)
    x = make_features(Landmarks(frames), cfg)
    assert x.shape == (50, 64)
    assert x[:len(frames), -1].sum() == len(frames) and x[len(frames):].sum() == 0
    short = FeatureConfig(shape="sequence", frames=4)
    y = make_features(Landmarks(frames), short)
    np.testing.assert_allclose(y[0], x[0])
    np.testing.assert_allclose(y[-1], x[len(frames) - 1])
    nohand = Landmarks(empty_hands(3))
    assert not has_signal(nohand, cfg) and not make_features(nohand, cfg).any()


def test_zscore_layer_uses_training_statistics_and_keeps_the_mask(hands):
    frames = torch.from_numpy(np.stack([make_features(lm, FeatureConfig()) for lm in hands]))
    layer = Standardize(tuple(frames.shape[1:]))
    layer.fit(frames)
    z = layer(frames)
    informative = layer.std > 1e-5
    assert torch.allclose(z.mean(0)[informative], torch.zeros(int(informative.sum())), atol=1e-4)
    seq_cfg = FeatureConfig(shape="sequence", frames=8)
    seqs = torch.from_numpy(np.stack([make_features(lm, seq_cfg) for lm in hands]))  # 1 real frame of 8
    seq_layer = Standardize(tuple(seqs.shape[1:]))
    seq_layer.fit(seqs)
    out = seq_layer(seqs)
    assert torch.equal(out[..., -1], seqs[..., -1])
    assert torch.all(out[:, 1:, :-1] == 0)  # padded frames stay zero
    assert torch.allclose(seq_layer.mean, frames.mean(0), atol=1e-5)


def test_augmentation_changes_points_but_keeps_shapes(hands):
    rng = np.random.default_rng(0)
    lm = hands[0]
    out = augment(lm, AugmentConfig(mirror=1.0), rng)
    assert out.hands.shape == lm.hands.shape
    assert out.hand_present().tolist() == [[True, False]]  # mirrored: the right hand became a left one
    seq = Landmarks(np.repeat(lm.hands, 20, axis=0))
    assert 16 <= augment(seq, AugmentConfig(time_stretch=0.2), rng).n_frames <= 24


def test_bad_settings_are_refused():
    with pytest.raises(IsyaratError, match="features.shape"):
        FeatureConfig(shape="video")
    with pytest.raises(IsyaratError, match="unknown feature settings"):
        FeatureConfig.from_dict({"frame": 3})


def test_a_window_takes_its_frames_vectors_from_rows_made_for_the_frame_model(hands):
    """sequence_features with `rows` (what a live stream keeps: each frame's frame-model input)
    gives what it gives from the hands alone, bit for bit, for windows of one hand per frame (rows
    taken), windows where both hands show (the mirror rule: rows left aside) and a clip longer
    than the window (resampled: rows left aside); rows that were wrong would show in the first."""
    from dataclasses import replace

    from isyarat.features.pipeline import frame_features, same_frame_vectors, sequence_features
    from isyarat.landmarks.mirror import mirror_hands

    seq = FeatureConfig(shape="sequence", hands="two", angles=True, distances=True, frames=8, trajectory=True)
    frame = replace(seq, shape="frame", frames=1, trajectory=False)
    assert same_frame_vectors(seq, frame) and not same_frame_vectors(seq, replace(frame, angles=False))
    frames = np.concatenate([lm.hands for lm in hands])[:8].copy()
    frames[3] = np.nan  # no hand in one frame
    left = mirror_hands(frames)  # a left-handed signer: each frame's hand mirrored into the right slot
    both = frames.copy()
    both[:, LEFT] = left[:, LEFT] - [0.0, 0.3, 0.0]  # a second hand, higher: the window is mirrored
    long = np.concatenate([frames, frames])
    windows = [Landmarks(h) for h in (frames, left, both, long)]
    rows = [frame_features(h, None, frame) for h in (frames, left, both, long)]
    expected = sequence_features(windows, seq)
    assert np.array_equal(sequence_features(windows, seq, rows), expected)
    wrong = [r + 1 for r in rows]
    differs = [not np.array_equal(a, b) for a, b in zip(sequence_features(windows, seq, wrong), expected)]
    assert differs == [True, True, False, False]
