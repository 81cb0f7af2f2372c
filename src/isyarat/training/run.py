"""`isyarat train`: recipe + data -> run directory (weights, run.json, curves, test report)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from isyarat.data.layouts import load_dataset
from isyarat.data.splits import validation_split
from isyarat.evaluation.metrics import evaluate_predictions, summarize_folds
from isyarat.evaluation.report import write_report
from isyarat.models.registry import build_model, model_kind
from isyarat.training.checkpoint import save_run
from isyarat.training.curves import plot_curves
from isyarat.training.loop import fit, predict_proba
from isyarat.training.prepare import Prepared, input_shape, make_splits, prepare, torch_dataset
from isyarat.training.recipe import Recipe


def train_fold(prep: Prepared, train_idx: np.ndarray, recipe: Recipe, progress: bool = True):
    """Train on train_idx (minus a validation part for early stopping). Returns model, history, seconds."""
    train_idx = train_idx[prep.usable[train_idx]]
    labels = [prep.labels[t] for t in prep.targets]
    fit_idx, val_idx = validation_split(train_idx, labels, recipe.train.val_fraction, recipe.train.seed)
    model = build_model(recipe.model, input_shape(recipe), len(prep.labels), **recipe.model_params)
    return fit(model, torch_dataset(prep, fit_idx, recipe, train=True),
               torch_dataset(prep, val_idx, recipe, train=False), recipe.train, progress=progress)


def evaluate_indices(model, prep: Prepared, test_idx: np.ndarray, recipe: Recipe) -> dict:
    """Report on test_idx; samples the model cannot be given (no hand found) count as wrong."""
    usable = test_idx[prep.usable[test_idx]]
    probs = predict_proba(model, torch_dataset(prep, usable, recipe, train=False))
    predicted = dict(zip(usable.tolist(), probs.argmax(1).tolist())) if len(usable) else {}
    y_true = [prep.labels[prep.targets[i]] for i in test_idx]
    y_pred = [prep.labels[predicted[i]] if i in predicted else None for i in test_idx]
    meta = prep.dataset.subset(test_idx).metadata_frame()
    return evaluate_predictions(y_true, y_pred, prep.labels, metadata=meta,
                                has_hand=[bool(prep.usable[i]) for i in test_idx])


def cross_validate(prep: Prepared, recipe: Recipe, split: str, progress: bool = True) -> dict:
    """Train and test on every fold of `split`; the summary carries mean and std over folds."""
    reports = []
    for train_idx, test_idx in make_splits(prep, split, recipe.train.seed):
        model, _, seconds = train_fold(prep, train_idx, recipe, progress)
        report = evaluate_indices(model, prep, test_idx, recipe)
        report["train_seconds"] = seconds
        reports.append(report)
    return summarize_folds(reports)


def train_recipe(recipe: Recipe, data: Path, out_dir: Path, workers: int = 1, cache_dir: Path | None = None,
                 progress: bool = True) -> Path:
    """Train on the recipe's split of `data`, test on the held-out part, write everything to out_dir."""
    out_dir = Path(out_dir)
    prep = prepare(load_dataset(data), recipe, workers=workers, cache_dir=cache_dir, progress=progress)
    splits = make_splits(prep, recipe.split, recipe.train.seed)
    train_idx, test_idx = splits[0]
    model, history, seconds = train_fold(prep, train_idx, recipe, progress)
    report = evaluate_indices(model, prep, test_idx, recipe)
    if len(splits) > 1:
        report["folds"] = cross_validate(prep, recipe, recipe.split, progress)
    write_report(report, out_dir, title=f"{recipe.name}: test split of {Path(data).name} ({recipe.split})")
    plot_curves(history, out_dir / "curves.png")
    info = {
        "name": recipe.name, "kind": model_kind(recipe.model), "sign_system": recipe.sign_system,
        "recipe": recipe.to_dict(), "model": {"name": recipe.model, "params": recipe.model_params},
        "input_shape": list(input_shape(recipe)), "labels": prep.labels, "features": recipe.features.to_dict(),
        "data": str(data), "split": recipe.split, "extraction": prep.extraction,
        "test_samples": [prep.dataset.samples[i].id for i in test_idx],
        "train_seconds": round(seconds, 2), "epochs_run": len(history), "history": history,
        "n_params": sum(p.numel() for p in model.parameters()),
        "metrics": {k: report[k] for k in ("accuracy", "accuracy_detected", "macro_f1", "n_samples")},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    save_run(out_dir, model, info)
    return out_dir
