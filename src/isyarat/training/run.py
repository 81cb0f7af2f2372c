"""`isyarat train`: recipe + data -> run directory (weights, run.json, curves, test report)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from isyarat.data.combine import balanced_subset, load_datasets, source_relative
from isyarat.data.splits import Split, check_split_columns, split_groups, validation_split
from isyarat.errors import IsyaratError
from isyarat.evaluation.metrics import score_probabilities, summarize_folds
from isyarat.evaluation.report import write_report
from isyarat.models.registry import build_model, model_track
from isyarat.models.standardize import standardized
from isyarat.training.checkpoint import init_weights, save_run
from isyarat.training.curves import plot_curves
from isyarat.training.loop import fit, predict_proba, seed_everything
from isyarat.training.openset import calibrated, distance_gated, gate_adds_output, negative_samples, with_negatives
from isyarat.training.prepare import Prepared, input_shape, make_splits, prepare, torch_dataset
from isyarat.training.recipe import Recipe
from isyarat.training.run_info import planned_run

HEADLINE = ("accuracy", "accuracy_detected", "macro_f1", "n_samples")


def train_fold(prep: Prepared, train_idx: np.ndarray, recipe: Recipe, progress: bool = True, split: str | None = None):
    """Train on train_idx (minus a validation part for early stopping: whole held-out groups when
    `split` is a group split). Returns model, history, seconds."""
    fit_idx, val_idx = early_stopping_split(prep, train_idx[prep.usable[train_idx]], recipe, split)
    seed_everything(recipe.train.seed)  # the initial weights too: same recipe, same data, same model
    if recipe.open_set is not None and recipe.open_set.distance_margin and model_track(recipe.model) != "landmarks":
        raise IsyaratError(f"open_set.distance_margin works on landmark models; {recipe.model} reads photos: "
                           "set open_set.distance_margin=0")
    added = gate_adds_output(recipe.open_set, prep.labels, prep.targets)  # trained on the signs alone
    model = build_model(recipe.model, input_shape(recipe), len(prep.labels) - added, **recipe.model_params)
    init = init_weights(model, recipe.init_from) if recipe.init_from else None
    if init and progress:
        print(f"init_from {init['from']}: {init['loaded']} tensors loaded, skipped {init['skipped'] or 'none'}")
    train_ds = torch_dataset(prep, fit_idx, recipe, train=True)
    if recipe.features.zscore and model_track(recipe.model) == "landmarks":
        model = standardized(model, input_shape(recipe))
        model[0].fit(train_ds.versions.flatten(0, 1))
    model.init_report = init  # what init_from loaded, for run.json
    val_ds = torch_dataset(prep, val_idx, recipe, train=False)
    model, history, seconds = fit(model, train_ds, val_ds, recipe.train, progress=progress)
    if recipe.open_set is not None:  # the threshold and gate are set on training + validation, never the test split
        distance = None
        if recipe.open_set.distance_margin:
            model, distance = gate(model, prep, fit_idx, val_idx, train_ds, recipe, added)
        model.open_set = calibrated(recipe.open_set, predict_proba(model, val_ds), prep.targets[val_idx], prep.labels,
                                    distance)
    return model, history, seconds


def gate(model, prep: Prepared, fit_idx: np.ndarray, val_idx: np.ndarray, train_ds, recipe: Recipe, added: bool):
    """The trained model with its distance gate (training.openset.distance_gated): sign means from
    the augmented training copies, threshold from the fit and validation samples as recorded."""
    n_signs = len(prep.labels) - 1  # the unknown output is the last (train_recipe puts it there)
    own = np.array([i for i in [*fit_idx, *val_idx] if prep.targets[i] < n_signs])
    reference = torch_dataset(prep, own, recipe, train=False).versions[0]
    copies = train_ds.versions.flatten(0, 1)
    targets = np.tile(prep.targets[fit_idx], train_ds.versions.shape[0])
    return distance_gated(model.eval(), copies, targets, reference, n_signs, recipe.open_set.distance_margin, added)


def early_stopping_split(prep: Prepared, train_idx: np.ndarray, recipe: Recipe, split: str | None) -> Split:
    """The validation part of train_idx; under a group split, groups the fit part does not hold."""
    labels = [prep.labels[t] for t in prep.targets]
    groups = split_groups(prep.dataset, split) if split else None
    return validation_split(train_idx, labels, recipe.train.val_fraction, recipe.train.seed, groups)


def evaluate_indices(model, prep: Prepared, test_idx: np.ndarray, recipe: Recipe) -> dict:
    """Report on test_idx (the best class of each sample, no threshold); samples the model cannot
    be given (no hand found) count as wrong."""
    usable = test_idx[prep.usable[test_idx]]
    probs = predict_proba(model, torch_dataset(prep, usable, recipe, train=False)) if len(usable) else []
    by_index = dict(zip(usable.tolist(), probs))
    y_true = [prep.labels[prep.targets[i]] for i in test_idx]
    meta = prep.dataset.subset(test_idx).metadata_frame()
    return score_probabilities(y_true, [by_index.get(int(i)) for i in test_idx], prep.labels, metadata=meta)


def cross_validate(prep: Prepared, recipe: Recipe, split: str, progress: bool = True) -> dict:
    """Train and test on every fold of `split`; the summary carries mean and std over folds."""
    reports = []
    for train_idx, test_idx in make_splits(prep, split, recipe.train.seed):
        model, _, seconds = train_fold(prep, train_idx, recipe, progress, split)
        report = evaluate_indices(model, prep, test_idx, recipe)
        report["train_seconds"] = seconds
        reports.append(report)
    return summarize_folds(reports)


def protocol_summaries(prep: Prepared, recipe: Recipe, n_splits: int, progress: bool) -> dict[str, dict]:
    """Cross-validation under the recipe's own split (when it has folds) and every `compare` split,
    so random-split and group-wise (signer, session, capture group) scores sit side by side."""
    splits = ([recipe.split] if n_splits > 1 else []) + [s for s in recipe.compare if s != recipe.split]
    return {split: cross_validate(prep, recipe, split, progress) for split in splits}


def train_recipe(recipe: Recipe, data: Path | list[Path], out_dir: Path, workers: int = 1,
                 cache_dir: Path | None = None, progress: bool = True, ray=None) -> Path:
    """Train on the recipe's split of `data` (one dataset or several, combined), test on the
    held-out part, cross-validate the recipe's `compare` splits, write everything to out_dir."""
    out_dir = Path(out_dir)
    paths = [Path(p) for p in (data if isinstance(data, (list, tuple)) else [data])]
    dataset = load_datasets(paths)
    check_split_columns(dataset, [recipe.split, *recipe.compare])  # before any extraction
    if recipe.max_per_class:
        dataset = balanced_subset(dataset, recipe.max_per_class)
    prep = prepare(dataset, recipe, workers=workers, cache_dir=cache_dir, progress=progress, ray=ray)
    if recipe.open_set is not None and (recipe.open_set.has_negatives or recipe.open_set.distance_margin):
        negatives = negative_samples(recipe.open_set, recipe, prep.dataset, paths, workers, cache_dir, progress)
        prep = with_negatives(prep, negatives, recipe.features, unknown_output=bool(recipe.open_set.distance_margin))
    splits = make_splits(prep, recipe.split, recipe.train.seed)
    train_idx, test_idx = splits[0]
    model, history, seconds = train_fold(prep, train_idx, recipe, progress, recipe.split)
    report = evaluate_indices(model, prep, test_idx, recipe)
    protocols = protocol_summaries(prep, recipe, len(splits), progress)
    if len(splits) > 1:
        report["folds"] = protocols[recipe.split]
    if protocols:
        report["protocols"] = protocols
    names = " + ".join(p.name for p in paths)
    write_report(report, out_dir, title=f"{recipe.name}: test split of {names} ({recipe.split})")
    plot_curves(history, out_dir / "curves.png")
    info = planned_run(
        recipe, prep.labels, data=[str(p) for p in paths], extraction=prep.extraction, n_train=int(len(train_idx)),
        test_samples=[prep.dataset.samples[i].id for i in test_idx],
        held_out=[{"path": source_relative(prep.dataset.samples[i].path, paths),
                   "label": prep.dataset.samples[i].label} for i in test_idx],
        train_seconds=round(seconds, 2), epochs_run=len(history), history=history,
        n_params=sum(p.numel() for p in model.parameters()), init_from=getattr(model, "init_report", None),
        open_set=getattr(model, "open_set", None),
        metrics={k: report[k] for k in HEADLINE},
        protocols={split: {"n_folds": s["n_folds"], "mean": s["mean"], "std": s["std"]}
                   for split, s in protocols.items()})
    save_run(out_dir, model, info)
    return out_dir
