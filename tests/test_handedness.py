"""A left-handed signer is the mirror twin of a right-handed one: every feature kind must read the
two alike (handedness 'mirror'), on real two-handed BISINDO landmarks."""
from __future__ import annotations

import numpy as np
import pytest

from isyarat.data.layouts import load_dataset
from isyarat.features import FeatureConfig, make_features
from isyarat.features.augment import AugmentConfig, augment
from isyarat.landmarks.arrays import LEFT, RIGHT, Landmarks
from isyarat.landmarks.mirror import POSE_MIRROR, mirror_landmarks
from isyarat.training.prepare import prepare
from isyarat.training.recipe import load_recipe

KINDS = {
    "frame, two hands": FeatureConfig(shape="frame", hands="two", angles=True, distances=True),
    "frame, one hand": FeatureConfig(shape="frame", hands="one", angles=True),
    "graph": FeatureConfig(shape="graph", hands="two"),
    "sequence, two hands + pose": FeatureConfig(shape="sequence", hands="two", pose=True, frames=8),
    "sequence, raw values (Kolok)": FeatureConfig(shape="sequence", hands="two", pose=True, frames=8, normalize="none"),
    "sequence, one hand": FeatureConfig(shape="sequence", hands="one", frames=8),
}


@pytest.fixture(scope="module")
def two_handed(datasets, tmp_path_factory) -> list[Landmarks]:
    """Real landmarks of two-handed BISINDO letters (B, K, P, T: both hands in every photo)."""
    root = tmp_path_factory.mktemp("binus")
    for letter in "BKPT":
        (root / letter).mkdir()
        for photo in sorted((datasets / "bisindo-alphabet-binus").rglob(f"{letter}/*"))[:2]:
            (root / letter / photo.name).symlink_to(photo)
    prep = prepare(load_dataset(root), load_recipe("bisindo-letters"), progress=False)
    found = [s.landmarks for s in prep.dataset if s.landmarks is not None and s.landmarks.hand_present().all()]
    assert len(found) >= 6, "MediaPipe should find both hands in most of these photos"
    return found


def _clip_with_pose(frames: list[Landmarks], seed: int = 0) -> Landmarks:
    """A short clip of real hands, with a body pose (wrists placed at the hands' wrists)."""
    hands = np.concatenate([lm.hands for lm in frames])
    rng = np.random.default_rng(seed)
    pose = np.concatenate([rng.uniform(0.2, 0.8, (len(hands), 33, 3)), np.ones((len(hands), 33, 1))], axis=-1)
    return Landmarks(hands=hands, pose=pose.astype(np.float32))


@pytest.mark.parametrize("name", KINDS)
def test_the_mirror_twin_gets_the_same_features(two_handed, name):
    cfg = KINDS[name]
    samples = [_clip_with_pose(two_handed[i:i + 3]) for i in range(0, len(two_handed) - 2, 2)] \
        if cfg.shape == "sequence" else two_handed
    for lm in samples:
        np.testing.assert_allclose(make_features(mirror_landmarks(lm), cfg), make_features(lm, cfg), atol=1e-5)


def test_without_the_rule_a_mirrored_two_handed_letter_reads_differently(two_handed):
    """So the test above can fail: 'lone' (isyarat before) and 'keep' see the twin differently."""
    for handedness in ("lone", "keep"):
        cfg = FeatureConfig(shape="frame", hands="two", handedness=handedness)
        differ = [not np.allclose(make_features(mirror_landmarks(lm), cfg), make_features(lm, cfg), atol=1e-3)
                  for lm in two_handed]
        assert all(differ)


def test_the_higher_hand_goes_to_the_right_slot(two_handed):
    cfg = FeatureConfig(shape="graph", hands="two", normalize="none")
    for lm in two_handed:
        nodes = make_features(lm, cfg)
        left_wrist_y, right_wrist_y = nodes[0, 1], nodes[21, 1]
        assert right_wrist_y <= left_wrist_y


def test_mirror_swaps_hands_and_sides_of_the_body():
    hands = np.zeros((1, 2, 21, 3), np.float32)
    hands[0, LEFT, :, 0], hands[0, RIGHT, :, 0] = 0.2, 0.7
    pose = np.zeros((1, 33, 4), np.float32)
    pose[0, 11, 0], pose[0, 12, 0] = 0.6, 0.4  # left and right shoulder
    twin = mirror_landmarks(Landmarks(hands, pose))
    np.testing.assert_allclose(twin.hands[0, RIGHT, :, 0], 0.8, atol=1e-6)
    np.testing.assert_allclose(twin.hands[0, LEFT, :, 0], 0.3, atol=1e-6)
    np.testing.assert_allclose(twin.pose[0, [11, 12], 0], [0.6, 0.4], atol=1e-6)
    assert sorted(POSE_MIRROR.tolist()) == list(range(33)) and POSE_MIRROR[0] == 0
    np.testing.assert_allclose(mirror_landmarks(twin).hands, hands)


def test_mirror_augmentation_uses_the_same_mirror(two_handed):
    lm = _clip_with_pose(two_handed[:1])
    out = augment(lm, AugmentConfig(rotate_deg=0, scale=0, shift=0, jitter=0, mirror=1.0, time_stretch=0),
                  np.random.default_rng(0))
    twin = mirror_landmarks(lm)
    np.testing.assert_allclose(out.hands, twin.hands, atol=1e-6)
    np.testing.assert_allclose(out.pose, twin.pose, atol=1e-6)


def test_settings_saved_before_handedness_still_load():
    assert FeatureConfig.from_dict({"kind": "frame", "mirror_left": True}).handedness == "lone"
    assert FeatureConfig.from_dict({"kind": "frame", "mirror_left": False}).handedness == "keep"
    assert FeatureConfig.from_dict({"kind": "frame"}).handedness == "mirror"


def _slots(hands: np.ndarray) -> list:
    return [None if np.isnan(h).any() else h.tolist() for h in hands]


def test_the_live_server_reads_the_mirror_twin_alike(two_handed, tmp_path):
    """Over the WebSocket (what the browser sends), with the shipped BISINDO letter model."""
    from fastapi.testclient import TestClient

    from isyarat.runtime.recognizer import Recognizer
    from isyarat.server.app import create_app

    recognizer = Recognizer.load("bisindo-letters", smoothing=1)
    assert recognizer.config.handedness == "mirror"
    client = TestClient(create_app({"bisindo": recognizer}, data_dir=tmp_path, allowed_hosts=["testserver"]))
    for lm in two_handed[:4]:
        replies = []
        for hands in (lm.hands[0], mirror_landmarks(lm).hands[0]):
            with client.websocket_connect("/ws/bisindo") as ws:  # a viewer each: no motion between them
                ws.send_json({"hands": _slots(hands)})
                replies.append(ws.receive_json())
        original, twin = replies
        assert original["label"] == twin["label"] and abs(original["confidence"] - twin["confidence"]) < 1e-4
