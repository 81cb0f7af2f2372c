"""Bundles, the Recognizer, smoothing, the fingerspelling decoder and the webcam app, on real data.

The letter model is a small MLP trained here on the first half of each letter's frames of the ASL
landmark set (a webcam session, so the held-out frames are the second half, never interleaved).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from isyarat.errors import IsyaratError
from isyarat.export.bundle import load_bundle, write_bundle
from isyarat.features import FeatureConfig, make_features
from isyarat.landmarks.arrays import Landmarks, empty_hands, from_flat
from isyarat.landmarks.hands import HandsExtractor
from isyarat.landmarks.media import iter_video_frames, read_image, video_fps
from isyarat.models.registry import build_model
from isyarat import shipped_models
from isyarat.runtime.recognizer import Recognizer, list_shipped
from isyarat.runtime.smoothing import ProbabilitySmoother, smooth_many, to_prediction, to_predictions
from isyarat.runtime.spelling import FingerspellingDecoder
from isyarat.runtime.webcam import open_camera, render, run_webcam

ASL = "asl-alphabet-landmarks-graudt/raw_gestures"
WORD_VIDEO = "bisindo-words-wlbisindo/videos/Belajar/signer0_label1_sample1.mp4"
LETTER_FEATURES = FeatureConfig(shape="frame", hands="one", normalize="wrist", angles=True, distances=True)


def asl_files(datasets: Path, letter: str) -> list[Path]:
    return sorted((datasets / ASL / letter).glob("*.npy"), key=lambda p: int(p.stem.split("_")[1]))


def asl_frames(datasets: Path, letter: str, start: int, count: int, step: int = 1) -> np.ndarray:
    """`count` frames (2, 21, 3) of a letter, every `step`-th, from its held-out second half."""
    files = asl_files(datasets, letter)
    first = len(files) // 2 + start
    return np.stack([from_flat(np.load(f)).hands[0] for f in files[first:first + count * step:step]])


def letter_mlp(n_classes: int) -> torch.nn.Module:
    return build_model("mlp", LETTER_FEATURES.output_shape, n_classes, hidden=(128, 64), input_dropout=0.0, dropout=0.1)


def train_letter_model(datasets: Path) -> tuple[torch.nn.Module, list[str]]:
    labels = sorted(p.name for p in (datasets / ASL).iterdir())
    x, y = [], []
    for i, letter in enumerate(labels):
        files = asl_files(datasets, letter)
        for f in files[: len(files) // 2: 3]:
            x.append(make_features(from_flat(np.load(f)), LETTER_FEATURES))
            y.append(i)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = letter_mlp(len(labels))
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    inputs, targets = torch.tensor(np.stack(x)), torch.tensor(y)
    for _ in range(250):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    torch.set_num_threads(threads)
    return model.eval(), labels


def build_letter_bundle(datasets: Path, base: Path) -> Path:
    """The ASL letter bundle (folder), trained once per test session and kept under `base`."""
    out = base / "asl-letters"
    if not (out / "bundle.json").is_file():
        model, labels = train_letter_model(datasets)
        write_bundle(model, LETTER_FEATURES.output_shape, labels, LETTER_FEATURES.to_dict(), "ASL", out,
                     "asl-letters", {"name": "mlp", "params": {"hidden": [128, 64]}}, {"accuracy": None},
                     "# ASL letters\nTrained in the tests on asl-alphabet-landmarks-graudt (MIT / CC0).\n")
        save_file(model.state_dict(), str(base / "asl-letters.safetensors"))  # weights only, no pickle
    return out


@pytest.fixture(scope="module")
def letter_bundle(datasets, tmp_path_factory) -> Path:
    return build_letter_bundle(datasets, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def letters(letter_bundle) -> Recognizer:
    return Recognizer.load(letter_bundle)


@pytest.fixture(scope="module")
def video_updates(letters, datasets) -> list:
    """The word video streamed through the headless webcam app (one MediaPipe pass, reused)."""
    return run_webcam(letters, frames=iter_video_frames(datasets / WORD_VIDEO), headless=True,
                      fps=video_fps(datasets / WORD_VIDEO))


# ---- bundles ---------------------------------------------------------------------------------

def test_bundle_folder_and_zip_hold_the_same_model(letter_bundle, tmp_path, datasets):
    meta = json.loads((letter_bundle / "bundle.json").read_text())
    model = letter_mlp(len(meta["labels"])).eval()
    model.load_state_dict(load_file(str(letter_bundle.parent / "asl-letters.safetensors")))
    assert {"name", "sign_system", "labels", "input_shape", "features", "model", "metrics", "created"} <= set(meta)
    archive = write_bundle(model, tuple(meta["input_shape"]), meta["labels"], meta["features"], "ASL",
                           tmp_path / "letters.zip", "asl-letters", meta["model"], {}, "# card")
    assert zipfile.ZipFile(archive).namelist() == ["model.onnx", "bundle.json", "MODEL_CARD.md"]
    folder, zipped = load_bundle(letter_bundle), load_bundle(archive)
    assert folder.labels == zipped.labels == [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    assert folder.input_shape == LETTER_FEATURES.output_shape and folder.card.startswith("# ASL letters")
    x = np.stack([make_features(Landmarks(h[None]), LETTER_FEATURES) for h in asl_frames(datasets, "B", 0, 4)])
    with torch.no_grad():
        expected = torch.softmax(model(torch.tensor(x)), dim=1).numpy()
    for bundle in (folder, zipped):
        probs = bundle.model.predict(x)
        np.testing.assert_allclose(probs, expected, atol=1e-5)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def _copy_bundle(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.mark.parametrize("damage, why", [
    (lambda b: (b / "model.onnx").unlink(), "missing model.onnx"),
    (lambda b: (b / "model.onnx").write_bytes(b"not a model"), "model.onnx does not load"),
    (lambda b: (b / "model.onnx").write_bytes((b / "model.onnx").read_bytes()[:500]), "model.onnx does not load"),
    (lambda b: (b / "bundle.json").write_text("{oops"), "not valid JSON"),
    (lambda b: (b / "bundle.json").write_text('{"name": "x"}'), "lacks sign_system"),
    (lambda b: _edit_meta(b, labels=["A", "B"]), "gives 26 outputs for 2 labels"),
    (lambda b: _edit_meta(b, input_shape=[5]), r"does not take input \[5\]"),
])
def test_broken_bundles_are_refused_with_the_reason(letter_bundle, tmp_path, damage, why):
    broken = _copy_bundle(letter_bundle, tmp_path / "broken")
    damage(broken)
    with pytest.raises(IsyaratError, match="is not an isyarat bundle: .*" + why):
        load_bundle(broken)


def _edit_meta(bundle: Path, **changes) -> None:
    meta = json.loads((bundle / "bundle.json").read_text())
    (bundle / "bundle.json").write_text(json.dumps({**meta, **changes}))


def test_paths_that_are_not_bundles(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.md", "no bundle here")
    with pytest.raises(IsyaratError, match="expected a folder or a .zip"):
        load_bundle(tmp_path / "notes.txt")
    with pytest.raises(IsyaratError, match="missing model.onnx, bundle.json"):
        load_bundle(tmp_path / "other.zip")
    with pytest.raises(IsyaratError, match="no bundle at this path and no shipped model"):
        Recognizer.load(tmp_path / "missing")


def test_shipped_models_are_found_by_name(letter_bundle, tmp_path, monkeypatch):
    _copy_bundle(letter_bundle, tmp_path / "asl-letters")
    monkeypatch.setattr(shipped_models, "SHIPPED_DIR", tmp_path)
    [shipped] = list_shipped()
    assert shipped.name == "asl-letters" and shipped.info.sign_system == "ASL" and len(shipped.info.labels) == 26
    assert Recognizer.load("asl-letters").labels == shipped.info.labels
    with pytest.raises(IsyaratError, match="shipped models: asl-letters"):
        Recognizer.load("sibi-letters")


# ---- recognizer --------------------------------------------------------------------------------

def test_recognizer_reads_held_out_letters(letters, datasets):
    hits = total = 0
    for letter in letters.labels:
        for hands in asl_frames(datasets, letter, 0, 10, step=20):
            prediction = letters.predict_landmarks(Landmarks(hands[None]))
            assert prediction.has_hand and set(prediction.probabilities) == set(letters.labels)
            hits += prediction.label == letter
            total += 1
    assert hits / total >= 0.85, f"held-out accuracy {hits / total:.2f}"


def test_no_hand_and_low_confidence_give_no_sign(letter_bundle, datasets):
    strict = Recognizer.load(letter_bundle, threshold=1.0)
    nothing = strict.predict_landmarks(Landmarks(empty_hands(1)))
    assert nothing.label is None and not nothing.has_hand and nothing.confidence == 0.0
    unsure = strict.predict_landmarks(Landmarks(asl_frames(datasets, "A", 0, 1)))
    assert unsure.label is None and unsure.has_hand and 0 < unsure.confidence < 1.0
    with pytest.raises(IsyaratError, match="threshold"):
        Recognizer.load(letter_bundle, threshold=1.5)


def test_predict_image_matches_offline_extraction(letters, datasets):
    """The runtime's image path gives exactly what extraction + make_features + the model give."""
    photos = sorted((datasets / "bisindo-alphabet-binus/images/B").glob("*.jpg"))[:3]
    with HandsExtractor(letters.extract_settings) as extractor:
        for photo in photos:
            hands, _ = extractor.frame(read_image(photo))
            offline = letters.predict_landmarks(Landmarks(hands[None]))
            by_path, by_array = letters.predict_image(photo), letters.predict_image(read_image(photo))
            assert by_path.has_hand
            assert by_path.label == by_array.label == offline.label
            assert by_path.probabilities == pytest.approx(offline.probabilities, abs=1e-6)
    blank = letters.predict_image(np.full((480, 640, 3), 200, np.uint8))
    assert blank.label is None and not blank.has_hand


def test_predict_video_streams_every_frame(letters, datasets, video_updates):
    n_frames = sum(1 for _ in iter_video_frames(datasets / WORD_VIDEO))
    result = letters.predict_video(datasets / WORD_VIDEO)
    assert len(result.frames) == len(video_updates) == n_frames
    assert [p.label for p in result.frames] == [u.prediction.label for u in video_updates]
    assert result.text == video_updates[-1].text
    assert sum(p.has_hand for p in result.frames) > n_frames / 2
    seen = [p for p in result.frames if p.probabilities]
    mean = np.mean([[p.probabilities[k] for k in letters.labels] for p in seen], axis=0)
    assert result.probabilities[letters.labels[int(np.argmax(mean))]] == pytest.approx(mean.max())


def test_sequence_model_reads_the_clip_and_each_sign_once(datasets, tmp_path, video_updates):
    """Mechanism test (the model's weights are untrained, the landmarks real): the clip prediction
    is the model on the whole clip resampled by make_features; a stream reads the sign once, as
    a whole, when it ends (runtime/words.py), and writes one word."""
    cfg = FeatureConfig(shape="sequence", hands="two", frames=16)
    torch.manual_seed(0)
    model = build_model("kolok_lstm", cfg.output_shape, 4)
    words = ["Belajar", "Terima Kasih", "Tuli", "maaf"]
    bundle = write_bundle(model, cfg.output_shape, words, cfg.to_dict(), "BISINDO", tmp_path / "words.zip",
                          "words", {"name": "kolok_lstm"}, {}, "# words")
    words_model = Recognizer.load(bundle, threshold=0.0, smoothing=1)
    hands = np.stack([u.hands for u in video_updates])
    clip = words_model.predict_landmarks(Landmarks(hands))
    assert clip.label in words and clip.has_hand
    gone = np.full((30, 2, 21, 3), np.nan, np.float32)  # then the hands are out of view for a second
    with words_model.stream() as stream:
        updates = [stream.push_landmarks(h, t=n / 30) for n, h in enumerate(np.concatenate([hands, gone]))]
    assert stream.text in words and sum(bool(u.added) for u in updates) == 1
    shown = [u.prediction.label for u in updates if u.prediction.label is not None]
    assert shown and set(shown) == {stream.text} and updates[-1].prediction.label is None


# ---- smoothing and spelling ---------------------------------------------------------------------

def test_smoother_averages_recent_frames_and_resets_without_a_hand():
    smoother = ProbabilitySmoother(window=2)
    assert smoother.push(np.array([1.0, 0.0])) == pytest.approx([1.0, 0.0])
    assert smoother.push(np.array([0.0, 1.0])) == pytest.approx([0.5, 0.5])
    assert smoother.push(np.array([0.0, 1.0])) == pytest.approx([0.0, 1.0])
    assert smoother.push(None) is None
    assert smoother.push(np.array([1.0, 0.0])) == pytest.approx([1.0, 0.0])
    assert to_prediction(np.array([0.4, 0.6]), ["A", "B"], 0.5).label == "B"
    timed = ProbabilitySmoother(window=5, max_age_s=0.3)                 # frames older than 0.3 s drop out
    assert timed.push(np.array([1.0, 0.0]), t=0.0) == pytest.approx([1.0, 0.0])
    assert timed.push(np.array([0.0, 1.0]), t=0.2) == pytest.approx([0.5, 0.5])
    assert timed.push(np.array([0.0, 1.0]), t=1.2) == pytest.approx([0.0, 1.0])
    assert to_prediction(np.array([0.45, 0.55]), ["A", "B"], 0.6).label is None


def test_many_smoothers_at_once_equal_the_plain_mean_of_each_window():
    """smooth_many (every live viewer's window in one sum) gives each stream exactly the mean of
    its recent vectors, as a plain deque of them would: frames without a hand, frames dropped by
    age, windows shorter and longer than `window`, viewers joining late."""
    rng = np.random.default_rng(3)
    smoothers = [ProbabilitySmoother(window=5, max_age_s=0.3) for _ in range(7)]
    recent: list[list[tuple[float, np.ndarray]]] = [[] for _ in smoothers]
    for step in range(300):
        probs, times = [], []
        for k, window in enumerate(recent):
            t = step / 30 + (0.5 if k == 3 and step > 100 else 0.0)  # one viewer's clock jumps ahead
            p = None if rng.random() < 0.1 or step < 10 * k else rng.dirichlet(np.ones(26)).astype(np.float32)
            if p is None:
                window.clear()
            else:
                window[:] = [(s, q) for s, q in window if t - s <= 0.3][-4:] + [(t, p.astype(np.float64))]
            probs.append(p)
            times.append(t)
        means = smooth_many(smoothers[:-1], probs[:-1], times[:-1]) + [smoothers[-1].push(probs[-1], times[-1])]
        for k, mean in enumerate(means):  # the last stream alone: the path of a lone viewer
            expected = None if probs[k] is None else sum(q for _, q in recent[k]) / len(recent[k])
            assert (mean is None) == (expected is None)
            if mean is not None:
                assert np.array_equal(mean, expected), (step, k)  # bit for bit


def test_predictions_of_many_rows_equal_one_by_one():
    rng = np.random.default_rng(4)
    labels = [chr(65 + i) for i in range(26)]
    probs = rng.dirichlet(np.full(26, 0.3), size=40)
    probs[5] = 1 / 26  # every label tied: the first wins, ties keep label order
    for threshold, rows in [(0.0, probs), (0.5, probs), (0.5, probs[:2]), (0.0, probs[5:6])]:  # many, and few
        for many, row in zip(to_predictions(rows, labels, threshold), rows):
            one = to_prediction(row, labels, threshold)
            assert (many.label, many.confidence, many.has_hand) == (one.label, one.confidence, one.has_hand)
            assert dict(many.probabilities) == one.probabilities and many.top(5) == one.top(5)
            assert many.to_dict() == one.to_dict()


def _decode(frames: str, fps: float = 10, **settings) -> str:
    """Mechanism test: one character per frame at `fps`, '_' = no sign (hand shown), '.' = no hand."""
    decoder = FingerspellingDecoder(**settings)
    for i, c in enumerate(frames):
        decoder.push(None if c in "_." else c, has_hand=c != ".", t=i / fps)
    return decoder.text


def test_decoder_counts_seconds():
    rules = dict(hold_s=0.3, release_s=0.2, space_after_s=0.6)      # at 10 frames/s
    assert _decode("HHHHHHHHHH", **rules) == "H"                      # a held letter counts once
    assert _decode("HHH_AAA", **rules) == ""                          # 0.2 s each: too short
    assert _decode("HHHHAAAA", **rules) == "HA"                       # a new letter, written directly
    assert _decode("LLLL_LLLL", **rules) == "L"                       # a one-frame gap: no release
    assert _decode("LLLL...LLLL", **rules) == "LL"                    # released: the letter again
    assert _decode("HHHHXHHHH", **rules) == "H"                       # a flicker is not a release
    assert _decode("HHHH....AAAA", **rules) == "HA"                   # a brief drop: no space
    assert _decode("HHHH........AAAA........", **rules) == "H A "     # a long pause: one space
    assert _decode("..........HHHH", **rules) == "H"                  # no leading space
    assert _decode("HH.HH", **rules) == "H"                           # the tracker missed one frame: held on
    assert _decode("HH.HH", **rules, bridge_s=0) == ""                # (a pause, without the bridge)
    assert _decode("HH...HH", **rules) == ""                          # 0.3 s without a hand: a pause
    assert _decode("LLLL.LLLL", **rules) == "L"                       # a missed frame releases nothing
    missed = "".join("." if i % 11 == 10 else "B" for i in range(40))  # every 11th frame lost at 30 fps
    assert _decode(missed + "." * 15 + missed, fps=30) == "BB"        # held 1.3 s, let go 0.5 s, held again
    assert _decode(missed, fps=30, bridge_s=0) == ""                  # (every loss restarted the 0.5 s hold)
    decoder = FingerspellingDecoder(hold_s=0.1)
    added = [decoder.push(w, t=i / 10) for i, w in enumerate(["Tuli", "Tuli", None, None, None, "maaf", "maaf", "A", "A"])]
    assert decoder.text == "Tuli maaf A" and added[1] == "Tuli" and added[6] == " maaf"
    decoder.reset()
    assert decoder.text == "" and decoder.push("B", t=5.0) is None
    with pytest.raises(ValueError, match="hold_s"):
        FingerspellingDecoder(hold_s=-1)
    with pytest.raises(ValueError, match="bridge_s"):
        FingerspellingDecoder(bridge_s=float("nan"))


def test_decoder_waits_for_a_settled_hand_and_takes_back_a_start_handshape():
    decoder = FingerspellingDecoder(hold_s=0.3)
    for i in range(5):  # I held 0.4 s, but the hand is setting off: not written yet
        assert decoder.push("I", t=i / 10, settled=False) is None
    assert decoder.push("I", t=0.5) == "I"  # settled again: written at once
    decoder.reset()
    for i in range(4):
        decoder.push("I", t=i / 10)
    assert decoder.text == "I"
    assert decoder.push("J", t=0.4, hold_s=0.0) == "J" and decoder.text == "IJ"
    assert not decoder.supersede("I", since=0.35)  # the I was written at 0.3 s: before `since`, kept
    assert decoder.supersede("I", since=0.2) and decoder.text == "J"
    assert not decoder.supersede("I", since=0.0)  # once only


def test_decoder_spells_the_same_at_any_frame_rate():
    """The same signing (letters held 2 s, the hand dropped 0.5 s between them, a 2 s pause
    between words) seen at 30, 10, 2 and 1 processed frames a second."""
    timeline = [("B", 2), (".", 0.5), ("A", 2), (".", 0.5), ("C", 2), (".", 0.5), ("A", 2),
                (".", 2), ("D", 2), ("U", 2), (".", 0.5), ("A", 2), (".", 3)]
    for fps in (30, 10, 2, 1):
        decoder = FingerspellingDecoder()
        t, end = 0.0, 0.0
        for label, seconds in timeline:
            end += seconds
            while t < end - 1e-9:
                decoder.push(None if label == "." else label, has_hand=label != ".", t=t)
                t += 1 / fps
        assert decoder.text == "BACA DUA ", f"at {fps} frames/s"


def test_stream_spells_real_letter_frames(letters, datasets):
    """'HALLO KITA' signed with held-out landmark frames at 30 frames/s: each letter held 0.4 s,
    the double L released by dropping the hand briefly, the space a 1.5 s pause without a hand."""
    no_hand = empty_hands(1)
    frames: list[np.ndarray] = []
    for i, letter in enumerate("HALLO KITA"):
        if letter == " ":
            frames += [no_hand[0]] * 50
            continue
        if i > 0 and "HALLO KITA"[i - 1] == letter:
            frames += [no_hand[0]] * 12
        frames += list(asl_frames(datasets, letter, 10 * i, 24))
    with letters.stream() as stream:
        added = [stream.push_landmarks(h, t=i / 30).added for i, h in enumerate(frames)]
    assert stream.text == "HALLO KITA"
    assert "".join(a for a in added if a) == "HALLO KITA"


def test_stream_spells_baca_slowed_down(letters, datasets):
    """'BACA' from real held-out letter frames at 1 processed frame a second (a slow phone),
    with the hand dropped for one frame between letters ('BACA', not a space at every drop) and
    without drops (the smoothing does not carry a letter into the next one for seconds)."""
    no_hand = empty_hands(1)[0]
    for drop in ([no_hand], []):
        frames: list[np.ndarray] = []
        for i, letter in enumerate("BACA"):
            frames += list(asl_frames(datasets, letter, 10 * i, 3, step=5)) + drop
        with letters.stream() as stream:
            for i, hands in enumerate(frames):
                stream.push_landmarks(hands, t=float(i))
        assert stream.text == "BACA", f"with {len(drop)} frame(s) without a hand between letters"


# ---- webcam app --------------------------------------------------------------------------------

def test_webcam_app_draws_and_reports(video_updates, datasets):
    frame = next(iter_video_frames(datasets / WORD_VIDEO, max_frames=1))
    update = next(u for u in video_updates if u.prediction.has_hand)
    shown = render(frame, update, mirror=False)
    mirrored = render(frame, update, mirror=True)
    assert shown.shape == frame.shape and not np.array_equal(shown, frame)
    x, y = (update.hands[~np.isnan(update.hands).any(axis=(1, 2))][0, 8, :2] * [frame.shape[1], frame.shape[0]]).astype(int)
    assert not np.array_equal(shown[y, x], frame[y, x])                    # a landmark was drawn there
    assert np.array_equal(mirrored[200:300], cv2.flip(render(frame, update, mirror=False), 1)[200:300])
    texts = [u.text for u in video_updates]
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))


def test_webcam_errors_are_clear(letters, monkeypatch):
    with pytest.raises(IsyaratError, match="cannot open camera 97"):
        open_camera(97)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(IsyaratError, match="no display"):
        run_webcam(letters, frames=[])
