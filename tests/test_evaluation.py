"""Evaluation stage: metrics checked against numbers worked out by hand, and the files it writes."""

import json
from fractions import Fraction as F

import matplotlib.image
import pandas as pd
import pytest

from isyarat.errors import IsyaratError
from isyarat.evaluation.markdown import comparison_table, worst_confusions
from isyarat.evaluation.metrics import evaluate_predictions, summarize_folds
from isyarat.evaluation.report import write_report
from isyarat.training.curves import best_epoch, plot_curves

LABELS = ["A", "B", "C"]
# sample:      0    1    2    3    4     5    6    7
Y_TRUE = ["A", "A", "A", "B", "B", "B", "C", "C"]
Y_PRED = ["A", "A", "B", "B", None, "C", "C", "A"]
METADATA = pd.DataFrame(
    {
        "path": [f"img/{i}.jpg" for i in range(8)],
        "label": Y_TRUE,
        "camera": ["phone"] * 8,
        "background": ["indoor"] * 4 + ["outdoor"] * 4,
    }
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def report() -> dict:
    return evaluate_predictions(Y_TRUE, Y_PRED, LABELS, metadata=METADATA)


def test_headline_numbers_match_hand_count(report):
    # correct: samples 0, 1, 3, 6; sample 4 has no hand (None) and counts as wrong
    assert report["n_samples"] == 8
    assert report["n_without_hand"] == 1
    assert report["accuracy"] == pytest.approx(float(F(4, 8)))
    assert report["accuracy_detected"] == pytest.approx(float(F(4, 7)))


def test_per_class_and_macro_f1_match_hand_count(report):
    # A: predicted at 0,1,7 (2 right) of 3 true; B: predicted at 2,3 (1 right) of 3; C: at 5,6 (1 right) of 2
    expected = {
        "A": (F(2, 3), F(2, 3), F(2, 3), 3),
        "B": (F(1, 2), F(1, 3), F(2, 5), 3),
        "C": (F(1, 2), F(1, 2), F(1, 2), 2),
    }
    for label, (precision, recall, f1, support) in expected.items():
        scores = report["per_class"][label]
        assert scores["precision"] == pytest.approx(float(precision))
        assert scores["recall"] == pytest.approx(float(recall))
        assert scores["f1"] == pytest.approx(float(f1))
        assert scores["support"] == support
    assert report["macro_f1"] == pytest.approx(float((F(2, 3) + F(2, 5) + F(1, 2)) / 3))  # 47/90


def test_confusion_matrix_has_a_none_column(report):
    assert report["confusion_columns"] == ["A", "B", "C", "(none)"]
    assert report["confusion_matrix"] == [[2, 1, 0, 0], [0, 1, 1, 1], [1, 0, 1, 0]]


def test_breakdown_by_metadata_skips_ids_and_constant_columns(report):
    assert list(report["by"]) == ["background"]
    indoor, outdoor = report["by"]["background"]["indoor"], report["by"]["background"]["outdoor"]
    # indoor = samples 0-3: 3 right; only A and B occur, F1 A = 4/5, B = 2/3
    assert indoor["n_samples"] == 4 and indoor["n_without_hand"] == 0
    assert indoor["accuracy"] == pytest.approx(float(F(3, 4)))
    assert indoor["macro_f1"] == pytest.approx(float((F(4, 5) + F(2, 3)) / 2))
    # outdoor = samples 4-7: only 6 right; A (predicted at 7), B, C occur, F1 = 0, 0, 1/2
    assert outdoor["n_samples"] == 4 and outdoor["n_without_hand"] == 1
    assert outdoor["accuracy"] == pytest.approx(float(F(1, 4)))
    assert outdoor["macro_f1"] == pytest.approx(float(F(1, 2) / 3))


def test_no_sign_with_a_hand_counts_against_detected_accuracy():
    report = evaluate_predictions(Y_TRUE, Y_PRED, LABELS, has_hand=[True] * 8)
    assert report["n_without_hand"] == 0
    assert report["accuracy_detected"] == pytest.approx(float(F(4, 8)))
    assert "by" not in report


def test_report_is_plain_json(report):
    assert json.loads(json.dumps(report)) == report


def test_bad_inputs_raise_user_errors():
    with pytest.raises(IsyaratError, match="not in the label list"):
        evaluate_predictions(["A", "D"], ["A", "A"], LABELS)
    with pytest.raises(IsyaratError, match="predictions"):
        evaluate_predictions(["A", "B"], ["A"], LABELS)
    with pytest.raises(IsyaratError, match="metadata"):
        evaluate_predictions(Y_TRUE, Y_PRED, LABELS, metadata=METADATA.head(3))


def test_breakdown_on_real_sibi_metadata(datasets):
    """Mechanism test on real metadata: a fake recognizer that finds no hand in the 2020 grey crops."""
    metadata = pd.read_csv(datasets / "sibi-alphabet-ajustiago" / "metadata.csv")
    labels = sorted(metadata["label"].unique())
    no_hand = metadata["group"] == "crop-2020"
    y_pred = [None if missing else label for label, missing in zip(metadata["label"], no_hand)]
    report = evaluate_predictions(metadata["label"].tolist(), y_pred, labels, metadata=metadata)
    assert set(report["by"]) == {"camera", "background", "group", "original_split"}
    groups = report["by"]["group"]
    assert groups["crop-2020"]["accuracy"] == 0.0
    assert groups["crop-2020"]["n_without_hand"] == no_hand.sum()
    assert groups["phone-2022"]["accuracy"] == 1.0
    assert report["accuracy"] == pytest.approx(1 - no_hand.sum() / len(metadata))
    assert report["accuracy_detected"] == 1.0


def test_fold_summary_mean_and_population_std(report):
    # fold 2: A->A, B->B, C->C, A->B: accuracy 3/4; F1 A = 2/3, B = 2/3, C = 1
    second = evaluate_predictions(["A", "B", "C", "A"], ["A", "B", "C", "B"], LABELS)
    summary = summarize_folds([report, second])
    assert summary["n_folds"] == 2 and summary["std_ddof"] == 0
    assert summary["mean"]["accuracy"] == pytest.approx(float(F(5, 8)))
    assert summary["std"]["accuracy"] == pytest.approx(float(F(1, 8)))
    assert summary["mean"]["accuracy_detected"] == pytest.approx(float((F(4, 7) + F(3, 4)) / 2))
    assert summary["std"]["accuracy_detected"] == pytest.approx(float((F(3, 4) - F(4, 7)) / 2))
    assert summary["mean"]["macro_f1"] == pytest.approx(float((F(47, 90) + F(7, 9)) / 2))
    assert summary["std"]["macro_f1"] == pytest.approx(float((F(7, 9) - F(47, 90)) / 2))
    assert [fold["accuracy"] for fold in summary["per_fold"]] == pytest.approx([0.5, 0.75])
    assert summary["confusion_matrix"] == [[3, 2, 0, 0], [0, 2, 1, 1], [1, 0, 2, 0]]


def test_fold_summary_refuses_different_labels(report):
    other = evaluate_predictions(["A", "B"], ["A", "B"], ["A", "B"])
    with pytest.raises(IsyaratError, match="label"):
        summarize_folds([report, other])


def test_worst_confusions_order_by_count_then_share(report):
    worst = worst_confusions(report["confusion_matrix"], report["labels"], report["confusion_columns"])
    assert [(true, predicted) for true, predicted, _, _ in worst] == [
        ("C", "A"),  # 1 of 2
        ("A", "B"),  # 1 of 3
        ("B", "C"),
        ("B", "(none)"),
    ]
    assert worst[0][3] == pytest.approx(0.5)


def test_write_report_creates_three_files(report, tmp_path):
    second = evaluate_predictions(["A", "B", "C", "A"], ["A", "B", "C", "B"], LABELS)
    report["folds"] = summarize_folds([report, second])
    paths = write_report(report, tmp_path / "run" / "eval", "SIBI test")
    assert json.loads(paths["json"].read_text()) == report
    png = paths["confusion"].read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    height, width, _ = matplotlib.image.imread(paths["confusion"]).shape
    assert height > 300 and width > 300
    markdown = paths["markdown"].read_text()
    assert markdown.startswith("# SIBI test\n")
    assert "| label | precision | recall | F1 | support |" in markdown
    assert "| B | 0.500 | 0.333 | 0.400 | 3 |" in markdown
    assert "### By background" in markdown and "| outdoor | 4 | 1 | 0.250 | 0.167 |" in markdown
    assert "| C | A | 1 | 0.500 |" in markdown
    assert "| mean ± std |  | 0.625 ± 0.125 |" in markdown
    assert "](confusion_matrix.png)" in markdown


def test_write_report_refuses_a_file(report, tmp_path):
    target = tmp_path / "report"
    target.write_text("not a folder")
    with pytest.raises(IsyaratError, match="is a file"):
        write_report(report, target, "x")


def test_comparison_table():
    rows = [{"split": "random", "accuracy": 0.98765}, {"split": "by signer", "accuracy": 0.5, "note": "a|b"}]
    assert comparison_table(rows, ["split", "accuracy", "note"]) == (
        "| split | accuracy | note |\n"
        "| --- | --- | --- |\n"
        "| random | 0.988 |  |\n"
        "| by signer | 0.500 | a\\|b |"
    )


def test_curves_png_marks_lowest_val_loss(tmp_path):
    losses = [1.2, 0.8, 0.5, 0.6, 0.7]
    history = [
        {"epoch": e + 1, "train_loss": 1.0 / (e + 1), "val_loss": v, "train_acc": 0.5 + e / 10, "val_acc": 0.4 + e / 20,
         "lr": 1e-3}
        for e, v in enumerate(losses)
    ]
    assert best_epoch(history) == 2
    path = plot_curves(history, tmp_path / "plots" / "curves.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE) and path.stat().st_size > 1000
    with pytest.raises(IsyaratError, match="no training history"):
        plot_curves([], tmp_path / "empty.png")


def test_macro_and_weighted_precision_recall_match_hand_count(report):
    # precision A 2/3, B 1/2, C 1/2; recall A 2/3, B 1/3, C 1/2; supports 3, 3, 2
    assert report["macro_precision"] == pytest.approx(float(F(5, 9)))
    assert report["macro_recall"] == pytest.approx(float(F(1, 2)))
    assert report["weighted_precision"] == pytest.approx(float(F(9, 16)))
    assert report["weighted_recall"] == pytest.approx(float(F(1, 2)))


def test_breakdown_gives_per_class_scores_per_value(report):
    indoor = report["by"]["background"]["indoor"]["per_class"]
    assert set(indoor) == {"A", "B"}, "classes that neither occur nor are predicted in a group are left out"
    assert indoor["A"]["precision"] == 1 and indoor["A"]["recall"] == pytest.approx(2 / 3)
    assert indoor["B"]["precision"] == pytest.approx(0.5) and indoor["B"]["f1"] == pytest.approx(2 / 3)
    assert indoor["A"]["support"] == 3 and indoor["B"]["support"] == 1
    assert report["by"]["background"]["outdoor"]["macro_precision"] == pytest.approx(float(F(1, 2) / 3))


def test_numeric_condition_values_sort_as_numbers():
    distance = ["100cm", "25cm", "50cm", "25cm", "100cm", "far", "50cm", "25cm"]
    report = evaluate_predictions(Y_TRUE, Y_PRED, LABELS, metadata=pd.DataFrame({"distance": distance}))
    assert list(report["by"]["distance"]) == ["25cm", "50cm", "100cm", "far"]
    assert report["by"]["distance"]["25cm"]["n_samples"] == 3


def test_scores_from_probabilities_apply_the_threshold():
    from isyarat.evaluation.metrics import score_probabilities
    import numpy as np

    probs = [np.array([0.9, 0.05, 0.05]), np.array([0.4, 0.35, 0.25]), None]
    sure = score_probabilities(["A", "A", "B"], probs, LABELS, threshold=0.5)
    assert sure["accuracy"] == pytest.approx(1 / 3) and sure["n_without_hand"] == 1
    assert sure["confusion_matrix"][0] == [1, 0, 0, 1], "below the threshold: no sign"
    best = score_probabilities(["A", "A", "B"], probs, LABELS)
    assert best["accuracy"] == pytest.approx(2 / 3) and best["threshold"] == 0.0
