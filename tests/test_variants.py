"""Variants of a sign (C~2, A~kiri): learned as their own classes, read, spelled and scored as the sign."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from isyarat.cli.main import main
from isyarat.data.layouts import load_dataset
from isyarat.errors import IsyaratError
from isyarat.evaluation.metrics import evaluate_predictions
from isyarat.landmarks.mirror import mirror_landmarks
from isyarat.runtime.smoothing import to_prediction
from isyarat.training.prepare import prepare
from isyarat.training.recipe import load_recipe
from isyarat.vocab import load_vocabulary
from isyarat.vocab.variants import sign_of, sign_probabilities


def test_variant_probabilities_add_up_to_their_sign():
    labels = ["A", "C", "C~2"]
    probs = np.array([0.4, 0.35, 0.25])
    summed, signs = sign_probabilities(probs, labels)
    assert signs == ["A", "C"] and np.allclose(summed, [0.4, 0.6])
    p = to_prediction(probs, labels, threshold=0.5)
    assert (p.label, p.variant, round(p.confidence, 3)) == ("C", "C", 0.6)
    assert p.to_dict()["variant"] == "C" and set(p.probabilities) == {"A", "C"}
    assert to_prediction(np.array([0.2, 0.3, 0.5]), labels, 0.5).variant == "C~2"
    low = to_prediction(np.array([0.5, 0.3, 0.2]), labels, 0.9)
    assert low.label is None and low.variant is None


def test_reports_score_the_sign_and_keep_the_variant_confusion():
    labels = ["A", "C", "C~2"]
    report = evaluate_predictions(["C", "C~2", "A", "C~2"], ["C~2", "C~2", "A", None], labels)
    assert report["labels"] == ["A", "C"]
    assert report["accuracy"] == pytest.approx(0.75)  # C read as its second form is still C
    assert report["variants"]["accuracy"] == pytest.approx(0.5)
    assert report["variants"]["confusion_matrix"][1] == [0, 0, 1, 0]


def test_vocabulary_lists_variants(capsys):
    bisindo = load_vocabulary("bisindo")
    assert "C~2" in bisindo.variant_labels and sign_of("C~2") == "C"
    assert main(["vocab", "bisindo"]) == 0
    assert "variant C~2" in capsys.readouterr().out


def test_bad_variant_ids_are_refused(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("name: v\nsigns:\n  - {name: C, variants: {'a~b': x}}\n")
    with pytest.raises(IsyaratError, match="variant ids"):
        load_vocabulary(path)


def test_hand_classes_name_the_signing_hand(datasets, tmp_path):
    """The SIBI LSTM study's 52 classes: real ASL frames (right hand) and their mirror twins."""
    recipe = load_recipe("sibi-lstm-hands")
    assert recipe.hand_classes and recipe.features.handedness == "keep"
    root = datasets / "asl-alphabet-landmarks-graudt"
    ds = load_dataset(root)
    picked = ds.subset([i for i, s in enumerate(ds) if s.label in ("A", "B")][:: 200])
    twins = picked.subset(range(len(picked)))
    twins.samples = [replace(s, landmarks=mirror_landmarks(s.landmarks)) for s in picked]
    both = picked.subset(range(len(picked)))
    both.samples = picked.samples + twins.samples
    prep = prepare(both, recipe, progress=False)
    n = len(picked)
    assert {prep.dataset.samples[i].label for i in range(n)} <= {"A~kanan", "B~kanan"}
    assert {prep.dataset.samples[i].label for i in range(n, 2 * n)} <= {"A~kiri", "B~kiri"}
    assert prep.labels == ["A~kanan", "A~kiri", "B~kanan", "B~kiri"]
