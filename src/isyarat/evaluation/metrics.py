"""Scores for a list of predictions: overall, per class, per metadata group and across folds.

A prediction of ``None`` means the recognizer gave no sign (no hand found, or below its
confidence threshold); it always counts as wrong and gets its own confusion column.
"""

import re
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from isyarat.errors import IsyaratError
from isyarat.vocab.variants import has_variants, sign_of, sign_probabilities, signs_of

NONE_LABEL = "(none)"
SKIPPED_COLUMNS = {"sample", "path", "label", "frame"}
MAX_GROUPS = 50
FOLD_METRICS = ("accuracy", "accuracy_detected", "macro_f1", "macro_precision", "macro_recall",
                "weighted_precision", "weighted_recall", "weighted_f1")


def score_probabilities(
    y_true: list[str],
    probabilities: list[np.ndarray | None],
    labels: list[str],
    threshold: float = 0.0,
    metadata: pd.DataFrame | None = None,
) -> dict:
    """The report of one test set from each sample's class probabilities (None: the model could
    not be given the sample, no hand found). Below `threshold` the answer is "no sign", as the
    Recognizer does. Training (threshold 0: the best class) and `isyarat evaluate` (the
    Recognizer's threshold) both score through here."""
    y_pred = [None if probs is None else _best_label(np.asarray(probs), labels, threshold) for probs in probabilities]
    report = evaluate_predictions(y_true, y_pred, labels, metadata=metadata,
                                  has_hand=[p is not None for p in probabilities])
    report["threshold"] = float(threshold)
    return report


def _best_label(probs: np.ndarray, labels: list[str], threshold: float) -> str | None:
    """The best class, or None below the threshold; with variants, the best sign (its variants'
    probabilities summed, as the Recognizer decides) in its most likely variant."""
    if not has_variants(labels):
        best = int(np.argmax(probs))
        return labels[best] if float(probs[best]) >= threshold else None
    summed, signs = sign_probabilities(probs, labels)
    best_sign = signs[int(np.argmax(summed))]
    if float(summed.max()) < threshold:
        return None
    return max((label for label in labels if sign_of(label) == best_sign), key=lambda label: probs[labels.index(label)])


def evaluate_predictions(
    y_true: list[str],
    y_pred: list[str | None],
    labels: list[str],
    metadata: pd.DataFrame | None = None,
    has_hand: list[bool] | None = None,
) -> dict:
    """The report dict (JSON-serializable) for one test set.

    ``has_hand`` defaults to "the prediction is not None". ``macro_f1`` averages the classes
    that occur in ``y_true`` or ``y_pred``, so a class missing from a fold does not count as 0.
    """
    y_true, y_pred, has_hand = _checked(y_true, y_pred, labels, has_hand)
    if has_variants(labels):
        return _sign_report(y_true, y_pred, labels, metadata, has_hand)
    with warnings.catch_warnings():
        # sklearn guesses "regression?" when a small group has many distinct labels; they are labels.
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        return _report(y_true, _filled(y_pred), has_hand, labels, metadata)


def _sign_report(y_true: list[str], y_pred: list[str | None], labels: list[str], metadata: pd.DataFrame | None,
                 has_hand: list[bool]) -> dict:
    """Variants (C, C~2) are scored as their sign; the variant-level scores and confusion sit under
    report['variants'] so a confusion between two forms of one sign stays visible."""
    report = evaluate_predictions([sign_of(t) for t in y_true], [p if p is None else sign_of(p) for p in y_pred],
                                  signs_of(labels), metadata, has_hand)
    pred = _filled(y_pred)
    report["variants"] = {"labels": list(labels), "accuracy": _accuracy(y_true, pred),
                          "confusion_columns": [*labels, NONE_LABEL],
                          "confusion_matrix": _confusion(y_true, pred, labels)}
    return report


def _report(
    y_true: list[str], pred: list[str], has_hand: list[bool], labels: list[str], metadata: pd.DataFrame | None
) -> dict:
    detected = [i for i, hand in enumerate(has_hand) if hand]
    report = {
        "n_samples": len(y_true),
        "n_without_hand": len(y_true) - len(detected),
        "accuracy": _accuracy(y_true, pred),
        "accuracy_detected": _accuracy([y_true[i] for i in detected], [pred[i] for i in detected]),
        "macro_f1": _macro_f1(y_true, pred, labels),
        **_averaged(y_true, pred, labels),
        "labels": list(labels),
        "per_class": _per_class(y_true, pred, labels),
        "confusion_columns": [*labels, NONE_LABEL],
        "confusion_matrix": _confusion(y_true, pred, labels),
    }
    if metadata is not None:
        report["by"] = _breakdown(y_true, pred, has_hand, labels, metadata)
    return report


def summarize_folds(reports: list[dict]) -> dict:
    """Mean and population standard deviation (ddof=0) of the fold scores, and the pooled confusion."""
    if not reports:
        raise IsyaratError("summarize_folds got no fold reports: pass one report per fold")
    labels = reports[0]["labels"]
    if any(report["labels"] != labels for report in reports):
        raise IsyaratError("fold reports have different label lists: evaluate every fold with the same labels")
    per_fold = [{"n_samples": r["n_samples"], **{m: r[m] for m in FOLD_METRICS}} for r in reports]
    pooled = np.sum([np.array(r["confusion_matrix"], dtype=int) for r in reports], axis=0)
    return {
        "n_folds": len(reports),
        "std_ddof": 0,
        "mean": {m: _fold_stat(per_fold, m, np.mean) for m in FOLD_METRICS},
        "std": {m: _fold_stat(per_fold, m, np.std) for m in FOLD_METRICS},
        "per_fold": per_fold,
        "labels": list(labels),
        "confusion_columns": [*labels, NONE_LABEL],
        "confusion_matrix": pooled.tolist(),
    }


def _checked(
    y_true: list[str], y_pred: list[str | None], labels: list[str], has_hand: list[bool] | None
) -> tuple[list[str], list[str | None], list[bool]]:
    """The inputs as lists, after checking they agree with each other and with ``labels``."""
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred) or not y_true:
        raise IsyaratError(f"got {len(y_true)} true labels and {len(y_pred)} predictions: pass one of each per sample")
    if len(set(labels)) != len(labels) or NONE_LABEL in labels:
        raise IsyaratError(f"labels must be unique and must not include {NONE_LABEL!r}")
    known = set(labels)
    unknown = sorted({str(y) for y in [*y_true, *y_pred] if y is not None and y not in known})
    if unknown:
        raise IsyaratError(f"labels {unknown[:5]} are not in the label list: pass every class in `labels`")
    has_hand = [p is not None for p in y_pred] if has_hand is None else [bool(h) for h in has_hand]
    if len(has_hand) != len(y_true):
        raise IsyaratError(f"has_hand has {len(has_hand)} entries for {len(y_true)} samples: pass one per sample")
    return y_true, y_pred, has_hand


def _filled(y_pred: list[str | None]) -> list[str]:
    return [NONE_LABEL if p is None else p for p in y_pred]


def _accuracy(y_true: list[str], pred: list[str]) -> float | None:
    return float(accuracy_score(y_true, pred)) if y_true else None


def _macro_f1(y_true: list[str], pred: list[str], labels: list[str]) -> float:
    seen = set(y_true) | set(pred)
    present = [label for label in labels if label in seen]
    return float(f1_score(y_true, pred, labels=present, average="macro", zero_division=0))


def _averaged(y_true: list[str], pred: list[str], labels: list[str]) -> dict[str, float]:
    """Macro (classes alike, over the classes seen) and support-weighted precision and recall,
    and weighted F1, beside ``macro_f1``."""
    seen = set(y_true) | set(pred)
    present = [label for label in labels if label in seen]
    out = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, pred, labels=present, average=average, zero_division=0)
        out[f"{average}_precision"], out[f"{average}_recall"] = float(p), float(r)
        if average == "weighted":
            out["weighted_f1"] = float(f)
    return out


def _per_class(y_true: list[str], pred: list[str], labels: list[str]) -> dict[str, dict]:
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, pred, labels=labels, zero_division=0
    )
    return {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }


def _confusion(y_true: list[str], pred: list[str], labels: list[str]) -> list[list[int]]:
    """Rows: true label; columns: predicted label, then ``(none)``."""
    matrix = confusion_matrix(y_true, pred, labels=[*labels, NONE_LABEL])
    return matrix[: len(labels)].astype(int).tolist()


def _breakdown(
    y_true: list[str], pred: list[str], has_hand: list[bool], labels: list[str], metadata: pd.DataFrame
) -> dict[str, dict[str, dict]]:
    """Scores per value of every metadata column that splits the samples into 2..50 groups."""
    if len(metadata) != len(y_true):
        raise IsyaratError(f"metadata has {len(metadata)} rows for {len(y_true)} samples: pass one row per sample")
    by = {}
    for column in metadata.columns:
        values = metadata[column].fillna("(missing)").astype(str).tolist()
        if column in SKIPPED_COLUMNS or not 2 <= len(set(values)) <= MAX_GROUPS:
            continue
        by[str(column)] = {
            value: _group_scores([i for i, v in enumerate(values) if v == value], y_true, pred, has_hand, labels)
            for value in sorted(set(values), key=condition_order)
        }
    return by


def condition_order(value: str) -> tuple:
    """Sort key of a condition value: numbers by their value, with or without a unit
    ("25cm" before "100cm"), before any other text, which sorts alphabetically."""
    match = re.fullmatch(r"\s*([-+]?\d+(?:\.\d+)?)\s*([^\d\s]*)\s*", value)
    if match:
        return (0, match.group(2), float(match.group(1)), value)
    return (1, "", 0.0, value)


def _group_scores(
    rows: list[int], y_true: list[str], pred: list[str], has_hand: list[bool], labels: list[str]
) -> dict:
    true, predicted = [y_true[i] for i in rows], [pred[i] for i in rows]
    return {
        "accuracy": _accuracy(true, predicted),
        "n_samples": len(rows),
        "n_without_hand": sum(not has_hand[i] for i in rows),
        "macro_f1": _macro_f1(true, predicted, labels),
        **_averaged(true, predicted, labels),
        "per_class": {label: scores for label, scores in _per_class(true, predicted, labels).items()
                      if scores["support"] or label in predicted},
    }


def _fold_stat(per_fold: list[dict], metric: str, stat) -> float | None:
    """The statistic over folds that have the metric (``accuracy_detected`` is None without hands)."""
    values = [fold[metric] for fold in per_fold if fold[metric] is not None]
    return float(stat(values)) if values else None
