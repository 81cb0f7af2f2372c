"""Open-set rejection ("unknown sign", isyarat tidak dikenal): the record, the one decision, a
real letter model trained with negatives that rejects letters it never saw, a word model whose
distance gate (in its ONNX graph) rejects a word it never saw, the shipped word bundle, and
records-free answers as before. bench/openset.py measures the rates on held-out words and letters."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from isyarat.cli.main import main
from isyarat.data.layouts import load_dataset
from isyarat.errors import IsyaratError
from isyarat.evaluation.evaluate import evaluate_model
from isyarat.export.bundle import load_bundle, read_model_bytes, write_onnx_bundle
from isyarat.export.bundle_info import BundleInfo
from isyarat.export.from_run import export_run
from isyarat.export.openset import UNKNOWN_CLASS, OpenSet, OpenSetDistance, calibrate
from isyarat.landmarks.arrays import Landmarks
from isyarat.runtime.recognizer import Recognizer
from isyarat.runtime.smoothing import to_prediction
from isyarat.shipped_models import resolve_bundle
from isyarat.synth.negatives import non_sign_sequences, spliced_sequences

ASL = "asl-alphabet-landmarks-graudt"
VOCAB, NEGATIVES, UNSEEN = ("A", "B", "L", "V", "Y"), ("C", "D", "E", "F", "G"), ("I", "K", "O", "R", "W")


def copy_letters(datasets: Path, root: Path, letters: tuple[str, ...], per_letter: int, offset: int = 0) -> Path:
    """`per_letter` real ASL landmark frames of each letter, spread over the session, as a .npy folder."""
    for letter in letters:
        files = sorted((datasets / ASL / "raw_gestures" / letter).glob("*.npy"), key=lambda p: int(p.stem[6:]))
        (root / letter).mkdir(parents=True)
        for f in files[offset::len(files) // per_letter][:per_letter]:
            shutil.copy(f, root / letter / f.name)
    return root


@pytest.fixture(scope="module")
def letters_run(datasets, tmp_path_factory) -> tuple[Path, Path]:
    """A letter model of 5 letters trained with 5 other letters as negatives; returns (run, unseen
    letters' frames). The unseen letters are never trained on, in any role."""
    tmp = tmp_path_factory.mktemp("openset")
    vocab = copy_letters(datasets, tmp / "vocab", VOCAB, 40)
    negatives = copy_letters(datasets, tmp / "negatives", NEGATIVES, 16)
    unseen = copy_letters(datasets, tmp / "unseen", UNSEEN, 20, offset=3)
    out = tmp / "run"
    code = main(["train", "isyarat-letters", "--data", str(vocab), "--out", str(out), "--epochs", "30", "--quiet",
                 "--set", "augment.copies=2", "--set", "params.dim=64", "--set", "params.blocks=1",
                 "--set", f"open_set.negatives=['{negatives}']", "--set", "open_set.keep=0.98"])
    assert code == 0
    return out, unseen


def test_open_set_record_round_trips_and_refuses_bad_values():
    record = OpenSet(threshold=0.62, unknown_class=UNKNOWN_CLASS, keep=0.98, calibrated_on=12, negatives=("x",))
    assert OpenSet.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert OpenSet.from_dict(None) is None  # an older bundle: no rejection
    for bad in ({"threshold": 1.5}, {"threshold": "high"}, {"keep": 0.1}, {"unknown_class": 3}, {"margin": 1}):
        with pytest.raises(IsyaratError):
            OpenSet.from_dict(bad)
    assert calibrate(np.array([0.9, 0.8, 0.95, 0.7]), keep=1.0) == 0.0
    assert 0.69 < calibrate(np.array([0.9, 0.8, 0.95, 0.7]), keep=0.98) <= 0.7  # passes all four


def test_recipe_open_set_section_is_checked_and_negatives_are_found_beside_the_data(datasets):
    from isyarat.training.openset import negatives_path
    from isyarat.training.recipe import load_recipe

    recipe = load_recipe("isyarat-words", {"open_set.synthetic": 10, "open_set.keep": 0.95})
    assert recipe.open_set.synthetic == 10 and recipe.open_set.has_negatives
    assert recipe.to_dict()["open_set"]["keep"] == 0.95
    assert load_recipe("isyarat-words", {"open_set": None}).open_set is None
    assert load_recipe("bisindo-words-openset").open_set.max_negatives == 60  # as bench/openset.py measured
    for bad in ({"open_set.keep": 2}, {"open_set.synthetic": -1}, {"open_set.max_negatives": -2}, {"open_set.margin": 1}, {"open_set.negatives": "x"}):
        with pytest.raises(IsyaratError, match="open_set"):
            load_recipe("isyarat-words", bad)
    words = datasets / "bisindo-words-wlbisindo"
    assert negatives_path("bisindo-alphabet-binus", [words]) == datasets / "bisindo-alphabet-binus"
    with pytest.raises(IsyaratError, match="not found"):
        negatives_path("no-such-letters", [words])


def test_one_decision_names_unknown_signs():
    labels = ["halo", "maaf", UNKNOWN_CLASS]
    with_class = OpenSet(unknown_class=UNKNOWN_CLASS)
    p = to_prediction(np.array([0.2, 0.1, 0.7]), labels, 0.0, with_class)
    assert p.unknown and p.label is None and p.has_hand and set(p.probabilities) == {"halo", "maaf"}
    p = to_prediction(np.array([0.8, 0.1, 0.1]), labels, 0.5, with_class)
    assert not p.unknown and p.label == "halo" and p.to_dict()["unknown"] is False
    low = OpenSet(threshold=0.9)
    p = to_prediction(np.array([0.85, 0.15]), ["halo", "maaf"], 0.5, low)
    assert p.unknown and p.label is None and p.confidence == pytest.approx(0.85)
    assert to_prediction(np.array([0.85, 0.15]), ["halo", "maaf"], 0.5).label == "halo"  # no record: as before
    p = to_prediction(np.array([0.3, 0.3, 0.1, 0.3]), ["C", "C~2", "D", UNKNOWN_CLASS], 0.0, with_class)
    assert p.label == "C" and not p.unknown  # variants are summed before the unknown class is compared


def test_negative_sequences_are_sequences_of_real_hands(datasets):
    hands = np.load(datasets / ASL / "raw_gestures" / "A" / "frame_0.npy").reshape(21, 3)
    frame = np.full((2, 21, 3), np.nan, np.float32)
    frame[1] = hands
    made = non_sign_sequences([frame], 4, seed=0)
    assert len(made) == 4 and all(lm.n_frames >= 14 and np.isfinite(lm.hands).all(axis=(2, 3)).any(axis=1).all()
                                  for lm in made)
    clip = Landmarks(np.repeat(frame[None], 10, axis=0))
    spliced = spliced_sequences([("a", clip), ("b", clip)], 5, seed=0)
    assert len(spliced) == 5 and spliced_sequences([("a", clip)], 5) == []


def test_letter_model_with_negatives_rejects_unseen_letters_and_keeps_its_own(letters_run, tmp_path):
    run, unseen = letters_run
    info = json.loads((run / "run.json").read_text())
    record = OpenSet.from_dict(info["open_set"])
    assert record.unknown_class == UNKNOWN_CLASS and record.calibrated_on > 0 and UNKNOWN_CLASS in info["labels"]
    bundle = load_bundle(export_run(run, tmp_path / "bundle"))
    assert bundle.open_set == record  # the record travels from run.json through export and load
    assert bundle.signs == list(VOCAB) and bundle.summary()["labels"] == list(VOCAB)
    recognizer = Recognizer(bundle)
    assert recognizer.labels == list(VOCAB)

    held_out = [Path(d["path"]) for d in info["held_out"] if d["label"] != UNKNOWN_CLASS]
    held = [(h.parent.name, np.load(run.parent / "vocab" / h.parent.name / h.name)) for h in held_out]
    negatives = [Path(d["path"]) for d in info["held_out"] if d["label"] == UNKNOWN_CLASS]
    assert negatives and all(h.parent.name in NEGATIVES for h in negatives)  # negatives are split like a class
    answers = [recognizer.predict_landmarks(Landmarks(_frame(x)[None])) for _, x in held]
    kept = np.mean([a.label == label for (label, _), a in zip(held, answers)])
    assert kept >= 0.95, kept  # its own held-out letters are still named

    frames = sorted(unseen.rglob("*.npy"))
    given = np.mean([recognizer.predict_landmarks(Landmarks(_frame(np.load(f))[None])).label is not None
                     for f in frames])
    # letters it never saw, in any role, are mostly "unknown sign" (measured 0.28: R is read as V, its
    # handshape twin; the same model without rejection names 0.96 of them)
    assert given <= 0.45, given

    # evaluate: the same answers, the out-of-vocabulary samples reported apart
    mixed = tmp_path / "mixed"
    shutil.copytree(unseen, mixed)
    for label, x in held:
        (mixed / label).mkdir(exist_ok=True)
        np.save(mixed / label / f"held-{len(list((mixed / label).iterdir()))}.npy", x)
    report = evaluate_model(tmp_path / "bundle", mixed, progress=False)
    assert report["n_samples"] == len(held) and report["accuracy"] == pytest.approx(kept)
    outside = report["open_set"]["out_of_vocabulary"]
    assert outside["n"] == len(frames) and outside["given_a_sign"] == pytest.approx(given)
    assert set(outside["by_label"]) == set(UNSEEN)


def _frame(values: np.ndarray) -> np.ndarray:
    frame = np.full((2, 21, 3), np.nan, np.float32)
    frame[1] = values.reshape(21, 3)  # a 63-value vector is the right-hand slot (the data layer's rule)
    return frame


def test_shipped_word_bundle_names_its_clip_and_a_stricter_record_turns_every_sign_unknown(tmp_path, datasets):
    shipped = resolve_bundle("bisindo-words")
    gated = Recognizer.load(shipped)  # its distance gate lives in model.onnx: the record only describes it
    assert gated.open_set.distance is not None and UNKNOWN_CLASS not in gated.labels
    assert gated.outputs == [*gated.labels, UNKNOWN_CLASS]
    from isyarat.adaptation.adapt import check_adaptable

    with pytest.raises(IsyaratError, match="distance gate"):  # `isyarat adapt` says why, before any extraction
        check_adaptable(gated.bundle)
    clip = _word_clip(datasets, gated)
    before = gated.predict_clip(clip)
    assert before.label is not None and not before.unknown

    meta = json.loads((Path(shipped) / "bundle.json").read_text())
    meta["open_set"] = {**meta["open_set"], "threshold": 0.999}  # nothing is that sure: every sign is unknown
    strict = Recognizer.load(write_onnx_bundle(read_model_bytes(shipped), BundleInfo.from_dict(meta), "# strict\n",
                                               tmp_path / "strict"))
    after = strict.predict_clip(clip)
    assert after.unknown and after.label is None and after.confidence == pytest.approx(before.confidence)
    with strict.stream() as stream:  # the live path (serve's WebSocket and REST) answers the same
        updates = [stream.push_landmarks(h, t=i / 30) for i, h in enumerate(clip.hands)]
    assert any(u.prediction.unknown for u in updates) and stream.text == ""
    assert all(u.to_dict()["label"] is None for u in updates)

    meta["open_set"] = {"threshold": 0.5, "unknown_class": "nope"}
    with pytest.raises(IsyaratError, match="open_set"):
        write_onnx_bundle(read_model_bytes(shipped), BundleInfo.from_dict(meta), "# bad\n", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def _word_clip(datasets: Path, recognizer: Recognizer) -> Landmarks:
    """One WL-BISINDO clip's landmarks, extracted (cached) with the bundle's settings."""
    from isyarat.landmarks.extract import extract_dataset

    dataset = load_dataset(datasets / "bisindo-words-wlbisindo")
    one = dataset.subset([0])
    return extract_dataset(one, recognizer.extract_settings, progress=False).dataset.samples[0].landmarks


def test_distance_record_round_trips_and_refuses_bad_values():
    gate = OpenSetDistance(threshold=812.5, margin=3.0, calibrated_on=20)
    record = OpenSet(unknown_class=UNKNOWN_CLASS, distance=gate)
    assert OpenSet.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert "distance" not in OpenSet(threshold=0.5).to_dict()  # records without a gate read as before
    for bad in ({"threshold": 0.0}, {"margin": 0.5}, {"calibrated_on": 0}, {"kind": "cosine"}, {"extra": 1}, {}):
        with pytest.raises(IsyaratError, match="distance"):
            OpenSet.from_dict({"unknown_class": UNKNOWN_CLASS, "distance": {**gate.__dict__, **bad} if bad else {}})
    with pytest.raises(IsyaratError, match="unknown_class"):
        OpenSet(distance=gate)  # the gate drives the unknown output: there must be one
    from isyarat.training.recipe import load_recipe

    assert load_recipe("isyarat-words", {"open_set.distance_margin": 3}).open_set.distance_margin == 3
    with pytest.raises(IsyaratError, match="distance_margin"):
        load_recipe("isyarat-words", {"open_set.distance_margin": 0.5})


@pytest.fixture(scope="module")
def word_clips(datasets) -> dict[str, list[Landmarks]]:
    """Every WL-BISINDO clip's landmarks by word, extracted (cached) as the word recipes read them."""
    from isyarat.landmarks.extract import extract_dataset
    from isyarat.training.prepare import extract_settings
    from isyarat.training.recipe import load_recipe

    found = extract_dataset(load_dataset(datasets / "bisindo-words-wlbisindo"),
                            extract_settings(load_recipe("bisindo-words")), progress=False).dataset
    clips: dict[str, list[Landmarks]] = {}
    for s in found:
        clips.setdefault(s.label, []).append(s.landmarks)
    return clips


def test_distance_gate_in_the_onnx_graph_rejects_a_word_it_never_saw(word_clips, tmp_path):
    from isyarat.synth.dataset import SynthSequence, write_sequences
    from isyarat.synth.motion import held_sequence

    vocab, outside = ("Tuli", "maaf"), "Belajar"  # Belajar is never trained on, in any role
    data = write_sequences([SynthSequence(w, lm) for w in vocab for lm in word_clips[w]], tmp_path / "words")
    run = tmp_path / "run"
    assert main(["train", "bisindo-words", "--data", str(data), "--out", str(run), "--epochs", "15", "--quiet",
                 "--set", "compare=[]", "--set", "augment.copies=2", "--set", "params.dim=32",
                 "--set", "params.layers=1", "--set", "open_set={keep: 1.0, distance_margin: 3}"]) == 0
    bundle = load_bundle(export_run(run, tmp_path / "bundle"))
    gate = bundle.open_set.distance
    assert gate is not None and gate.margin == 3.0 and gate.threshold > 0 and bundle.labels[-1] == UNKNOWN_CLASS
    assert gate.added_output  # no negatives: the network learned its two words alone, the gate adds "unknown"
    assert bundle.signs == list(vocab) and "distance" in (tmp_path / "bundle" / "MODEL_CARD.md").read_text()
    recognizer = Recognizer(bundle)

    info = json.loads((run / "run.json").read_text())
    trained = [lm for w in vocab for lm in word_clips[w]]
    names = [recognizer.predict_clip(lm) for lm in trained]  # all inside the gate by construction (margin >= 1)
    assert not any(p.unknown for p in names)
    held = {Path(d["path"]).name for d in info["held_out"]}  # the test split: clips of its own words
    assert held and held <= {f"{w}-{i:04d}" for w in vocab for i in range(len(word_clips[w]))}
    unseen = [recognizer.predict_clip(lm) for lm in word_clips[outside]]
    # measured: all 6 unknown (the same tiny model without the gate names a word for every one)
    assert sum(p.unknown for p in unseen) >= 5, [p.to_dict() for p in unseen]
    still = held_sequence(word_clips[outside][0].hands[20], np.random.default_rng(0))
    assert recognizer.predict_clip(still).unknown  # a still hand is no word either
