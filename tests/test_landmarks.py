"""Landmark extraction on the real shared datasets: detection, slots, cache, failures, videos."""
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from isyarat.data.samples import Dataset, Sample
from isyarat.errors import IsyaratError
from isyarat.landmarks.arrays import LEFT, RIGHT
from isyarat.landmarks.cache import LandmarkCache
from isyarat.landmarks.extract import extract_dataset
from isyarat.landmarks.hands import HandsExtractor, assign_slots, same_hand
from isyarat.landmarks.holistic import HolisticExtractor
from isyarat.landmarks.media import add_border, iter_video_frames, read_image, remove_border
from isyarat.landmarks.settings import ExtractSettings

VIDEO = "bisindo-words-wlbisindo/videos/Tuli/signer0_label11_sample1.mp4"


def folder_dataset(root: Path, paths: list[Path], media: str = "image") -> Dataset:
    """A Dataset labelled by parent folder name (the layout readers are built elsewhere)."""
    return Dataset(root, "folders", [Sample(p.parent.name, p, media) for p in paths])


def nan_equal(a, b) -> bool:
    return np.array_equal(a, b, equal_nan=True)


@pytest.fixture(scope="module")
def binus(datasets, tmp_path_factory):
    root = datasets / "bisindo-alphabet-binus"
    dataset = folder_dataset(root, sorted(root.glob("images/*/*.jpg")))
    cache = tmp_path_factory.mktemp("cache")
    cold = extract_dataset(dataset, ExtractSettings(), workers=2, cache_dir=cache, progress=False)
    return dataset, cache, cold


def test_binus_detects_hands_and_second_run_is_all_cache_hits(binus):
    dataset, cache, cold = binus
    print(cold.summary.format())
    assert len(dataset) == 519
    assert cold.summary.failures == []
    assert len(cold.dataset) == 519 and cold.summary.cache_misses == 519
    assert cold.summary.detection_rate >= 0.95
    assert all(s.landmarks.hands.shape == (1, 2, 21, 3) for s in cold.dataset)

    warm = extract_dataset(dataset, ExtractSettings(), workers=2, cache_dir=cache, progress=False)
    assert (warm.summary.cache_hits, warm.summary.cache_misses) == (519, 0)
    assert [s.path for s in warm.dataset] == [s.path for s in cold.dataset]
    assert all(nan_equal(w.landmarks.hands, c.landmarks.hands) for w, c in zip(warm.dataset, cold.dataset))
    assert warm.summary.to_dict()["total"]["with_hand"] == cold.summary.total.with_hand


def test_two_hands_take_slots_by_side(binus):
    """In these un-mirrored photos the signer's right wrist (slot 1) is on the image's left
    (wrists, not whole hands: the fingers of letters like G cross over)."""
    _, _, cold = binus
    both = [s.landmarks.hands[0] for s in cold.dataset if s.landmarks.hand_present()[0].all()]
    assert len(both) >= 100
    right_on_left = [h[RIGHT, 0, 0] < h[LEFT, 0, 0] for h in both]
    assert np.mean(right_on_left) >= 0.95


def test_a_hand_reported_twice_is_recognised(binus):
    _, _, cold = binus
    hand = next(s.landmarks.hands[0, RIGHT] for s in cold.dataset if s.landmarks.hand_present()[0, RIGHT])
    palm = np.linalg.norm(hand[0, :2] - hand[9, :2])
    assert same_hand(hand, hand + [0.1 * palm, 0, 0])
    assert not same_hand(hand, hand + [palm, 0, 0])


def test_mirrored_frames_give_unmirrored_landmarks(datasets):
    paths = sorted((datasets / "bisindo-alphabet-binus/images/A").glob("*.jpg"))[:3]
    with HandsExtractor(ExtractSettings()) as plain, HandsExtractor(ExtractSettings(mirrored=True)) as selfie:
        for path in paths:
            image = read_image(path)
            hands, scores = plain.frame(image)
            assert (scores > 0.5).any()
            assert nan_equal(selfie.frame(cv2.flip(image, 1))[0], hands)


def test_same_handedness_label_falls_back_to_wrist_position():
    """Mechanism (synthetic points): two hands both labelled "Left" are split by wrist x, even
    when their fingers cross over (the signer's right wrist is on the image's left)."""
    crossing_right, crossing_left = np.full((21, 3), 0.8), np.full((21, 3), 0.2)
    crossing_right[0, 0], crossing_left[0, 0] = 0.3, 0.6
    assert assign_slots([crossing_right, crossing_left], ["Left", "Left"]) == [RIGHT, LEFT]
    assert assign_slots([crossing_left, crossing_right], ["Right", "Right"]) == [LEFT, RIGHT]
    assert assign_slots([crossing_left], ["Right"]) == [LEFT]


def test_unreadable_files_are_failures_and_a_handless_image_is_kept(datasets, tmp_path):
    good = sorted((datasets / "bisindo-alphabet-binus/images/A").glob("*.jpg"))[0]
    corrupt = tmp_path / "bad" / "x.jpg"
    truncated = tmp_path / "bad" / "clip.mp4"
    blank = tmp_path / "blank" / "wall.png"  # synthetic: a plain grey picture, readable, no hand
    for path in (corrupt, blank):
        path.parent.mkdir(exist_ok=True)
    corrupt.write_bytes(b"definitely not a jpeg" * 50)
    truncated.write_bytes((datasets / VIDEO).read_bytes()[:2048])
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    samples = [Sample("A", good, "image"), Sample("bad", corrupt, "image"),
               Sample("bad", truncated, "video"), Sample("blank", blank, "image")]
    result = extract_dataset(Dataset(tmp_path, "mixed", samples), ExtractSettings(),
                             cache_dir=tmp_path / "cache", progress=False)
    print(result.summary.format())
    assert [path for path, _ in result.summary.failures] == [str(corrupt), str(truncated)]
    assert [s.path for s in result.dataset] == [good, blank]
    assert result.dataset.samples[0].landmarks.has_hand()
    assert np.isnan(result.dataset.samples[1].landmarks.hands).all()
    assert result.summary.labels["bad"].failed == 2
    assert result.summary.labels["blank"].detection_rate == 0.0
    with pytest.raises(IsyaratError, match="x.jpg"):
        read_image(corrupt)


def decoded_frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_video_gives_one_hand_frame_per_decoded_frame(datasets, tmp_path):
    path = datasets / VIDEO
    n = decoded_frame_count(path)
    assert n > 30
    dataset = Dataset(path.parent, "folders", [Sample("Tuli", path, "video")])
    result = extract_dataset(dataset, ExtractSettings(every=4), cache_dir=tmp_path, progress=False)
    hands = result.dataset.samples[0].landmarks.hands
    assert hands.shape == (math.ceil(n / 4), 2, 21, 3)
    assert result.dataset.samples[0].landmarks.pose is None
    assert 0 < result.summary.total.frames_with_hand < len(hands)  # the signer's hands rest at first


def test_holistic_video_has_pose_and_person_sided_hands(datasets, tmp_path):
    path = datasets / VIDEO
    dataset = Dataset(path.parent, "folders", [Sample("Tuli", path, "video")])
    settings = ExtractSettings(mode="holistic", every=3, max_frames=12)
    landmarks = extract_dataset(dataset, settings, cache_dir=tmp_path, progress=False).dataset.samples[0].landmarks
    assert landmarks.hands.shape == (12, 2, 21, 3) and landmarks.pose.shape == (12, 33, 4)
    assert not np.isnan(landmarks.pose).any()
    right = landmarks.hand_present()[:, RIGHT]
    assert right.any()
    wrist_gap = np.linalg.norm(landmarks.hands[right, RIGHT, 0, :2] - landmarks.pose[right, 16, :2], axis=-1)
    assert wrist_gap.max() < 0.1  # the right-hand slot sits at the pose's right wrist


def test_video_frames_stride_and_limit(datasets, tmp_path):
    path = datasets / VIDEO
    assert len(list(iter_video_frames(path, every=5, max_frames=4))) == 4
    with pytest.raises(IsyaratError, match="clip.mp4"):
        next(iter_video_frames(tmp_path / "clip.mp4"))


def test_border_maps_back_to_original_coordinates():
    """Mechanism (synthetic image): a pixel's normalized position survives add/remove border."""
    image = np.zeros((100, 200, 3), np.uint8)
    bordered = add_border(image, 0.25)
    assert bordered.shape == (150, 300, 3)
    found = np.array([[(50 + 40) / 300, (25 + 10) / 150, 0.1]])  # pixel (40, 10) in the bordered image
    assert np.allclose(remove_border(found, image.shape, 0.25), [[40 / 200, 10 / 100, 0.15]])


def test_border_helps_on_grey_hand_crops(datasets, tmp_path):
    root = datasets / "sibi-alphabet-ajustiago"
    meta = pd.read_csv(root / "metadata.csv")
    crops = meta[meta.camera == "webcam-grey-crop"].groupby(["group", "label"]).head(1)
    dataset = folder_dataset(root, [root / p for p in crops.path])
    plain = extract_dataset(dataset, ExtractSettings(), cache_dir=tmp_path, progress=False)
    bordered = extract_dataset(dataset, ExtractSettings(border=0.25), cache_dir=tmp_path, progress=False)
    print(f"grey crops ({len(dataset)}): detection {plain.summary.detection_rate:.1%} without border, "
          f"{bordered.summary.detection_rate:.1%} with a 25% border")
    assert bordered.summary.detection_rate >= plain.summary.detection_rate
    fallback = extract_dataset(dataset, ExtractSettings(border=0.25, fallback_border=1.0), cache_dir=tmp_path,
                               progress=False)
    print(f"... {fallback.summary.detection_rate:.1%} with a 100% border retried where none was found")
    assert fallback.summary.detection_rate > bordered.summary.detection_rate
    kept = [(a.landmarks.hands, b.landmarks.hands) for a, b in zip(bordered.dataset, fallback.dataset)
            if a.landmarks.has_hand()]
    assert all(nan_equal(a, b) for a, b in kept)  # the retry only touches photos without a hand
    # where both find a hand, the bordered landmarks are in the original image's coordinates
    pairs = [(a.landmarks.hands[0], b.landmarks.hands[0]) for a, b in zip(plain.dataset, bordered.dataset)
             if a.landmarks.has_hand() and b.landmarks.has_hand()]
    assert pairs
    for a, b in pairs:
        assert np.nanmean(np.abs(np.nanmean(a, axis=0)[:, :2] - np.nanmean(b, axis=0)[:, :2])) < 0.05


def test_cache_key_depends_on_content_and_settings(datasets, tmp_path):
    image = sorted((datasets / "bisindo-alphabet-binus/images/B").glob("*.jpg"))[0]
    copy = tmp_path / "renamed.jpg"
    shutil.copy(image, copy)
    cache = LandmarkCache(tmp_path / "cache")
    assert cache.key(image, ExtractSettings()) == cache.key(copy, ExtractSettings())
    assert cache.key(image, ExtractSettings()) != cache.key(image, ExtractSettings(border=0.25))
    with pytest.raises(IsyaratError, match="missing.jpg"):
        cache.key(tmp_path / "missing.jpg", ExtractSettings())


def test_settings_refuse_what_is_not_bundled():
    with pytest.raises(IsyaratError, match="model_complexity"):
        ExtractSettings(mode="holistic", model_complexity=2)
    with pytest.raises(IsyaratError, match="mode"):
        ExtractSettings(mode="face")
