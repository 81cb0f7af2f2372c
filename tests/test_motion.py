"""Moving letters (issue 13): trajectory features, the motion synthesizer, sequence folders in
train / evaluate, and a motion-aware bundle reading J in a stream.

Real hands: ASL landmark frames of a few letters (the first half of each letter's frames for
training, the second half held out; the set is mirrored, so x is flipped back as the data layer
does). Moving sequences are synthetic by design: no licensed recordings of these letters exist.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from isyarat.data.layouts import load_dataset
from isyarat.errors import IsyaratError
from isyarat.evaluation.evaluate import evaluate_model
from isyarat.export.bundle import load_bundle
from isyarat.export.from_run import export_run
from isyarat.export.motion import GateSettings
from isyarat.features import FeatureConfig, make_features
from isyarat.landmarks.arrays import LEFT, RIGHT, Landmarks, from_flat
from isyarat.runtime import motion
from isyarat.runtime.motion import MAX_RESIZE, MAX_STEP, MotionGate, push_wrists, wrist_path, wrist_points
from isyarat.runtime.recognizer import Recognizer
from isyarat.synth import SynthSettings, held_sequence, moving_sequence, still_hands, synthesize, write_sequences
from isyarat.training.recipe import load_recipe
from isyarat.training.run import train_recipe
from isyarat.vocab import load_vocabulary

ASL = "asl-alphabet-landmarks-graudt/raw_gestures"
LETTERS = ["A", "B", "D", "I", "J", "Z"]
SEQ = FeatureConfig(shape="sequence", frames=30, hands="two", angles=True, distances=True)
CALM = SynthSettings(jitter=0.0, tremor=0.0, drift=0.0, entry=0.0, exit=0.0, shake=0.0, left_handed=0.0)


def asl_hands(datasets: Path, letter: str, half: int, count: int) -> list[np.ndarray]:
    """`count` frames (2, 21, 3) spread over the first (half=0) or second (half=1) half of a letter."""
    files = sorted((datasets / ASL / letter).glob("*.npy"), key=lambda p: int(p.stem.split("_")[1]))
    part = files[:len(files) // 2] if half == 0 else files[len(files) // 2:]
    out = []
    for f in [part[i] for i in np.linspace(0, len(part) - 1, count).round().astype(int)]:
        hands = from_flat(np.load(f)).hands[0]
        hands[..., 0] = 1.0 - hands[..., 0]  # the set is mirrored (data/sources.yaml)
        out.append(hands)
    return out


def sibi_subset():
    vocab = load_vocabulary("sibi")
    return replace(vocab, signs=tuple(s for s in vocab.signs if s.name in LETTERS))


def gate_opens(lm: Landmarks, settings: GateSettings) -> bool:
    gate = MotionGate(settings)
    return any([gate.push(h) for h in lm.hands])


def mirrored(lm: Landmarks) -> Landmarks:
    hands = lm.hands[:, ::-1].copy()
    hands[..., 0] = 1.0 - hands[..., 0]
    return Landmarks(hands)


def test_trajectory_features_tell_a_moving_hand_from_a_still_one(datasets):
    hand = asl_hands(datasets, "D", 1, 1)[0]
    still = Landmarks(np.repeat(hand[None], 30, axis=0))
    z = moving_sequence(hand, load_vocabulary("sibi").sign("Z").motion, np.random.default_rng(0), CALM)
    # wrist-centred shape alone: the Z path and the still hand are the same features
    assert np.abs(make_features(z, SEQ) - make_features(still, SEQ)).max() < 1e-4
    with_path = replace(SEQ, trajectory=True)
    moving_x, still_x = make_features(z, with_path), make_features(still, with_path)
    assert moving_x.shape == still_x.shape == (30, SEQ.frame_dim + 4 + 1)
    assert not still_x[:, -5:-1].any()
    assert np.abs(moving_x[:, -5:-1]).max() > 1.0  # the Z is wider than a hand


def test_trajectory_is_mirrored_with_the_hand(datasets):
    """A left-handed signer's Z is the mirror image of a right-handed one: after arrange_hands
    mirrors the hand, the features (path included) are the same."""
    hand = asl_hands(datasets, "D", 1, 1)[0]
    z = moving_sequence(hand, load_vocabulary("sibi").sign("Z").motion, np.random.default_rng(1), CALM)
    for hands in ("one", "two"):
        cfg = replace(SEQ, hands=hands, trajectory=True)
        assert np.allclose(make_features(z, cfg), make_features(mirrored(z), cfg), atol=1e-4)


def test_a_glimpse_of_the_other_hand_does_not_move_the_path(datasets):
    """Found on a WL-BISINDO clip (Belajar, mirrored): the other hand seen for one frame as the
    hands come up became the path's origin and shifted the whole path, so the clip read as another
    word. The path follows the hand seen in more frames."""
    hand = asl_hands(datasets, "D", 1, 1)[0]
    z = moving_sequence(hand, load_vocabulary("sibi").sign("Z").motion, np.random.default_rng(2), CALM)
    signing = RIGHT if np.isfinite(z.hands[:, RIGHT]).all() else LEFT
    glimpse = z.hands.copy()
    glimpse[0, signing] = np.nan  # first frame: only the other hand, elsewhere
    glimpse[0, 1 - signing] = z.hands[0, signing] + np.array([0.4, 0.1, 0.0], np.float32)
    cfg = replace(SEQ, trajectory=True, frames=len(glimpse))  # no resampling: frame t is row t
    clean_path = make_features(Landmarks(z.hands[1:]), cfg)[:-1, -5:-1]
    glimpse_path = make_features(Landmarks(glimpse), cfg)[1:, -5:-1]
    assert np.allclose(clean_path, glimpse_path, atol=1e-4)


def test_old_bundles_keep_their_features():
    cfg = FeatureConfig.from_dict({"kind": "sequence", "frames": 30, "hands": "two"})
    assert not cfg.trajectory and cfg.output_shape == (30, 129)
    with pytest.raises(IsyaratError, match="trajectory"):
        FeatureConfig(shape="frame", trajectory=True)


def test_synthesizer_is_deterministic_and_j_is_not_a_held_i(datasets):
    hands = asl_hands(datasets, "I", 0, 3)
    j = load_vocabulary("sibi").sign("J").motion
    first = moving_sequence(hands[0], j, np.random.default_rng(7))
    again = moving_sequence(hands[0], j, np.random.default_rng(7))
    assert np.array_equal(first.hands, again.hands, equal_nan=True)
    calm = replace(SynthSettings(), entry=0.0, exit=0.0, shake=0.0)
    gate = GateSettings()
    rng = np.random.default_rng(3)
    for hand in hands:
        for _ in range(5):
            held = held_sequence(hand, rng, calm)
            moved = moving_sequence(hand, j, rng)
            travel = [np.abs(make_features(lm, replace(SEQ, trajectory=True))[:, -5:-3]).max() for lm in (moved, held)]
            assert travel[0] > 0.8 > travel[1], travel  # the J's hook vs a hand's drift
            assert not gate_opens(held, gate)  # tremor and drift never open the gate
            assert gate_opens(moved, gate)


def test_a_hand_jump_or_a_hand_entering_does_not_open_the_gate(datasets):
    """Tracking glitches (the hand jumps 3 hand sizes for a frame and back, or the other hand
    takes the slot), and a hand that leaves and comes back elsewhere, are not travel: only a
    path the hand really moves along opens the gate."""
    hand = asl_hands(datasets, "D", 1, 1)[0]
    held = held_sequence(hand, np.random.default_rng(5), CALM).hands
    size = float(np.linalg.norm(hand[1, 9, :2] - hand[1, 0, :2]) or np.linalg.norm(hand[0, 9, :2] - hand[0, 0, :2]))
    glitch = held.copy()
    glitch[10, :, :, 0] += 3 * size  # one frame 3 hand sizes away, then back
    glitch[20, :, :, 1] -= 3 * size
    away = held.copy()
    away[12:15] = np.nan  # the hand leaves for 3 frames ...
    away[15:, :, :, 0] += 2.5 * size  # ... and comes back 2.5 hand sizes to the side
    for frames in (glitch, away):
        assert wrist_path(frames) < 0.5
        assert not gate_opens(Landmarks(frames), GateSettings())
    z = moving_sequence(hand, load_vocabulary("sibi").sign("Z").motion, np.random.default_rng(1), CALM)
    assert gate_opens(z, GateSettings())  # a real path still does


@pytest.fixture(scope="module")
def motion_bundle(datasets, tmp_path_factory):
    """A letter bundle (frame model on ASL frames) with a motion model trained on synthetic
    sequences of the training hands, both through `train_recipe` on folders, and held-out
    synthetic sequences (second-half hands, another seed) written as a sequence folder."""
    base = tmp_path_factory.mktemp("motion")
    for half, name in ((0, "frames"), (1, "held-out-frames")):
        for letter in LETTERS:
            (base / name / letter).mkdir(parents=True)
            for i, hand in enumerate(asl_hands(datasets, letter, half, 24)):
                np.save(base / name / letter / f"{i}.npy", np.nan_to_num(hand.reshape(-1)))
    frames = base / "frames"
    train_hands = still_hands(load_dataset(frames))
    test_hands = still_hands(load_dataset(base / "held-out-frames"))
    vocab = sibi_subset()
    write_sequences(synthesize(train_hands, vocab, 30, seed=1), base / "synth-train")
    write_sequences(synthesize(test_hands, vocab, 6, seed=2), base / "synth-test")
    fast = {"train.epochs": 15, "train.patience": 15, "augment.copies": 1}
    letters = train_recipe(load_recipe("isyarat-letters", fast), frames, base / "run-letters", progress=False)
    motion = train_recipe(load_recipe("sibi-motion", fast), base / "synth-train", base / "run-motion",
                          progress=False)
    bundle = export_run(letters, base / "bundle", motion_run=motion)
    return bundle, base / "synth-test", test_hands


def test_sequence_folder_trains_and_evaluates_one_sample_per_clip(motion_bundle, tmp_path):
    bundle, test_folder, _ = motion_bundle
    loaded = load_bundle(bundle)
    assert loaded.motion is not None and loaded.motion.starts == {"J": "I", "Z": "D"}
    assert (bundle / "motion.onnx").is_file() and "Moving letters" in loaded.card
    clips = load_dataset(test_folder)
    assert clips.layout == "sequences" and len(clips) == 6 * len(LETTERS)
    report = evaluate_model(bundle, test_folder, tmp_path / "eval", progress=False)
    assert report["n_samples"] == len(clips)
    assert report["accuracy"] > 0.6, report["accuracy"]


def test_a_streamed_j_is_written_once(motion_bundle):
    bundle, _, test_hands = motion_bundle
    recognizer = Recognizer.load(bundle)
    j = load_vocabulary("sibi").sign("J").motion
    rng = np.random.default_rng(11)
    i_hands = [h for h in test_hands if h.label == "I"]
    texts = []
    for k in range(4):
        clip = moving_sequence(i_hands[k].hands, j, rng, replace(SynthSettings(), hold_frames=(2, 4), left_handed=0.0))
        frames = [*clip.hands, *[clip.hands[-1]] * 20]  # the hand rests in the I handshape after the hook: still the J
        with recognizer.stream() as stream:
            for n, hands in enumerate(frames):
                stream.push_landmarks(hands, t=n / 30)  # a 30 fps camera: spelling counts seconds
        texts.append(stream.text)
    assert texts.count("J") >= 3, texts


def test_held_letters_with_jitter_and_shakes_never_become_moving_letters(motion_bundle):
    """Still I and D (the start handshapes of J and Z) held with tremor, drift, a turn and, for
    every one, a small shake: the stream writes the still letter, never J or Z; and an I held
    a while before a J is drawn stays written: "IJ"."""
    bundle, _, test_hands = motion_bundle
    recognizer = Recognizer.load(bundle)
    shaky = replace(SynthSettings(), shake=1.0, entry=0.0, exit=0.0, left_handed=0.0)
    rng = np.random.default_rng(21)
    texts = []
    for letter in ("I", "D"):
        for item in [h for h in test_hands if h.label == letter][:4]:
            clip = held_sequence(item.hands, rng, shaky)
            with recognizer.stream() as stream:
                for n, hands in enumerate(clip.hands):
                    stream.push_landmarks(hands, t=n / 30)
                stream.finish()
            texts.append(stream.text)
    assert not any(set(t) & {"J", "Z"} for t in texts), texts
    i_hand = [h for h in test_hands if h.label == "I"][0].hands
    j = moving_sequence(i_hand, load_vocabulary("sibi").sign("J").motion, rng, replace(CALM, hold_frames=(2, 2)))
    frames = [*[j.hands[0]] * 36, *j.hands, *[j.hands[-1]] * 20]  # I held 1.2 s, then the J
    with recognizer.stream() as stream:
        for n, hands in enumerate(frames):
            stream.push_landmarks(hands, t=n / 30)
    assert stream.text == "IJ"


def test_a_bundle_with_a_broken_motion_part_is_refused_with_the_reason(tmp_path):
    from isyarat.export.bundle import write_bundle
    from isyarat.export.motion import MotionPart
    from isyarat.models.registry import build_model

    frame_cfg = FeatureConfig(shape="frame", hands="two")
    motion_cfg = FeatureConfig(shape="sequence", frames=8, hands="two", trajectory=True)
    labels = ["D", "I", "J", "Z"]
    frame_model = build_model("mlp", frame_cfg.output_shape, 4).eval()
    motion_model = build_model("transformer", motion_cfg.output_shape, 4, dim=16, layers=1, heads=2).eval()
    part = MotionPart(labels=labels, input_shape=motion_cfg.output_shape, features=motion_cfg,
                      starts={"J": "I", "Z": "D"})
    out = write_bundle(frame_model, frame_cfg.output_shape, labels, frame_cfg.to_dict(), "sibi", tmp_path / "b",
                       "b", {"name": "mlp"}, motion=(motion_model, part))
    loaded = load_bundle(out)
    assert loaded.motion.features == motion_cfg and loaded.motion.gate == GateSettings()
    meta = json.loads((out / "bundle.json").read_text())
    meta["motion"]["labels"] = ["D", "I", "J", "Q"]
    (out / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(IsyaratError, match="labels the letter model does not"):
        load_bundle(out)
    meta["motion"]["labels"] = labels
    (out / "bundle.json").write_text(json.dumps(meta))
    (out / "motion.onnx").unlink()
    with pytest.raises(IsyaratError, match="motion.onnx is missing"):
        load_bundle(out)
    with pytest.raises(IsyaratError, match="sequences"):
        MotionPart(labels=labels, input_shape=frame_cfg.output_shape, features=frame_cfg)


class ReferenceGate:
    """The gate as it was before the windows of all gates moved into one table (issue 11): a
    list of the last `window` wrists and links, every run rebuilt in Python at each frame. What
    every gate, pushed alone or in a batch, must still give."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings, self.frames = settings, []
        self.moving, self.path, self.travel = False, 0.0, 0.0

    def push(self, wrist) -> bool:
        previous = self.frames[-1][0] if self.frames else None
        linked = previous is not None and wrist is not None and self._continues(previous, wrist)
        self.frames = (self.frames + [(wrist, linked)])[-self.settings.window:]
        runs, current = [], []
        for point, link in self.frames:
            if current and not link:
                runs, current = runs + [current], []
            if point is not None:
                current.append(point)
        runs = [[(x / m, y / m) for x, y, _ in run] for run in runs + [current] if len(run) > 1
                for m in [statistics.median(p[2] for p in run)]]
        self.path = sum(self._length(run) for run in runs)
        self.travel = 0.0
        if runs:
            (x0, y0), (x1, y1) = (np.mean(part, axis=0) for part in (runs[-1][:3], runs[-1][-3:]))
            self.travel = math.hypot(x1 - x0, y1 - y0)
        if self.moving and self.path < self.settings.stop:
            self.moving = False
        elif not self.moving and self.path >= self.settings.start:
            self.moving = True
        return self.moving

    @staticmethod
    def _continues(a, b) -> bool:
        small, large = sorted((a[2], b[2]))
        small = max(small, 1e-9)
        return math.hypot(b[0] - a[0], b[1] - a[1]) / small <= MAX_STEP and large / small <= MAX_RESIZE

    @staticmethod
    def _length(run) -> float:
        points = np.array(run)
        if len(points) > 3:  # moving mean over 3 frames
            points = (points[:-2] + points[1:-1] + points[2:]) / 3
        return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def viewer_wrists(datasets: Path) -> list[list]:
    """The signing wrists of 16 clips: real ASL webcam frames (letters one after another, so the
    wrist jumps; mirrored; drifting; gaps without a hand; tracking glitches of 3 hand sizes; the
    hand suddenly twice as large and back; two hands with the larger one changing), synthetic J
    and Z paths and held letters (tremor, drift, shakes, entering and leaving)."""
    letters = []
    for letter in "AJZBLY":
        files = sorted((datasets / ASL / letter).glob("*.npy"), key=lambda p: int(p.stem.split("_")[1]))
        letters += [from_flat(np.load(f)).hands[0] for f in files[:16]]
    real = np.stack(letters)
    drifting = real.copy()
    drifting[..., 0] += np.linspace(0, 0.6, len(real), dtype=np.float32)[:, None, None]
    gaps = real.copy()
    gaps[3::7] = np.nan
    glitch = drifting.copy()
    glitch[20::25, :, :, 0] += 3 * 0.2  # the hands are ~0.2 wide
    resized = real.copy()
    for k in range(10, len(real), 20):  # the hand twice as large for 10 frames
        resized[k:k + 10] = (resized[k:k + 10] - resized[k:k + 10, :, :1]) * 2 + resized[k:k + 10, :, :1]
    two = real.copy()
    two[:, LEFT] = real[::-1, RIGHT] - np.float32([0.3, 0.0, 0.0])  # two hands: the larger one signs
    two[::4, LEFT] = np.nan
    rng = np.random.default_rng(4)
    sibi = load_vocabulary("sibi")
    synthetic = []
    for k in range(6):
        hand = real[rng.integers(len(real))]
        clips = [moving_sequence(hand, sibi.sign("JZ"[k % 2]).motion, rng),
                 held_sequence(hand, rng, replace(SynthSettings(), shake=0.5, entry=0.5, exit=0.5)),
                 moving_sequence(hand, sibi.sign("ZJ"[k % 2]).motion, rng)]
        synthetic.append(np.concatenate([clip.hands for clip in clips]))
    clips = [real, mirrored(Landmarks(real)).hands, drifting, gaps, glitch, resized, two, *synthetic,
             gaps[::-1], mirrored(Landmarks(glitch)).hands, two[::-1]]
    return [wrist_points(np.asarray(hands, np.float32)) for hands in clips]


@pytest.mark.parametrize("batch_min", [1, 8])
def test_gates_pushed_together_decide_as_each_gate_alone(datasets, batch_min, monkeypatch):
    """Many live viewers' gates pushed in batches (push_wrists: the windows as arrays), viewers
    joining late, leaving (a new viewer then takes the freed row), resetting, missing a frame,
    batches below BATCH_MIN going gate by gate, so windows move between the deques and the table
    (batch_min 1: every batch as arrays; 8: this test's batches of up to 12 go both ways): every
    gate's moving, path and travel at every frame are those of the gate before (ReferenceGate)."""
    monkeypatch.setattr(motion, "BATCH_MIN", batch_min)
    settings = GateSettings()
    clips = viewer_wrists(datasets)
    rng = np.random.default_rng(0)
    viewers = {}  # viewer -> [gate, reference, its clip, next frame]
    pushes, opened, batches, rows = 0, set(), [], []
    for tick in range(260):
        if tick % 9 == 0 and len(viewers) < 12:  # a viewer joins: the next clip, from a random frame
            clip = clips[len(rows) % len(clips)]
            viewers[tick] = [MotionGate(settings), ReferenceGate(settings), clip, int(rng.integers(len(clip) // 2))]
            rows.append(viewers[tick][0]._row)
        for key in [k for k, v in viewers.items() if v[3] >= len(v[2])]:
            del viewers[key]  # its clip ended: it leaves (the gate is collected, its row freed)
        if tick % 37 == 5 and viewers:
            gate, reference, *_ = viewers[min(viewers)]
            gate.reset()
            reference.__init__(settings)
        batch = [v for k, v in viewers.items() if (k + tick) % 11]  # now and then a viewer's frame is late
        if tick % 4 == 0:
            batch = batch[::3]  # a few viewers alone: gates of the table pushed one by one, then in the table again
        batches.append(len(batch))
        moving = push_wrists([v[0] for v in batch], [v[2][v[3]] for v in batch])
        for v, now in zip(batch, moving):
            gate, reference, clip, frame = v
            expected = reference.push(clip[frame])
            assert now == gate.moving == expected, (tick, frame)
            assert gate.path == pytest.approx(reference.path, rel=1e-9, abs=1e-12), (tick, frame)
            assert gate.travel == pytest.approx(reference.travel, rel=1e-9, abs=1e-12), (tick, frame)
            v[3] += 1
            pushes += 1
            opened.add(expected)
    assert pushes > 1500 and opened == {True, False}
    assert max(batches) >= 10 and min(batches) < 8  # batches as arrays and gate by gate
    assert len(set(rows)) < len(rows) and len(rows) > len(clips)  # every clip; rows of viewers gone taken again


def test_signing_wrists_of_many_frames_are_each_frames_own(datasets):
    """wrist_points of many frames at once gives each frame its signing wrist as a frame alone
    reads it: the larger hand by hand_size (the right one on a tie), else the hand shown; None
    without a complete hand. Real ASL frames, mirrored, with a second hand larger or smaller,
    both hands of one size, gaps, and hands with one point missing or infinite."""
    from isyarat.features.hand import hand_size
    from isyarat.landmarks.mirror import mirror_hands

    def alone(hands):
        shown = [s for s in (LEFT, RIGHT) if np.isfinite(hands[s]).all()]
        if not shown:
            return None
        slot = shown[0] if len(shown) == 1 else RIGHT if hand_size(hands[RIGHT]) >= hand_size(hands[LEFT]) else LEFT
        return float(hands[slot, 0, 0]), float(hands[slot, 0, 1]), hand_size(hands[slot])

    files = sorted((datasets / ASL / "B").glob("*.npy"), key=lambda p: int(p.stem.split("_")[1]))[:40]
    real = np.stack([from_flat(np.load(f)).hands[0] for f in files])
    two = real.copy()
    two[:, LEFT] = np.roll(real[:, RIGHT], 7, axis=0) + np.float32(0.05)
    two[::3, LEFT] = (two[::3, LEFT] - two[::3, LEFT, :1]) * np.float32(1.5) + two[::3, LEFT, :1]  # larger
    tie = real.copy()
    tie[:, LEFT] = real[:, RIGHT] * np.float32([-1, 1, 1])  # elsewhere, the very same size
    gaps = two.copy()
    gaps[::4] = np.nan
    gaps[1::5, RIGHT] = np.nan
    gaps[2::7, LEFT, 3, 1] = np.inf
    gaps[3::9, RIGHT, 20, 0] = np.nan
    frames = np.concatenate([real, mirror_hands(real), two, mirror_hands(two), tie, gaps, mirror_hands(gaps)])
    expected = [alone(hands) for hands in frames]
    assert wrist_points(frames) == expected
    present = np.isfinite(frames).all(axis=(2, 3))
    assert wrist_points(frames, present) == expected
    both = [(hands, p) for hands, p in zip(frames, expected) if np.isfinite(hands).all()]
    larger_left = sum(p[0] == float(hands[LEFT, 0, 0]) != float(hands[RIGHT, 0, 0]) for hands, p in both)
    assert sum(p is None for p in expected) > 20 and 10 < larger_left < len(both) - 10  # both sides chosen
