"""Accuracy of every landmark model under the same splits of the shared data (one table).

Rows: the papers' models (SIBI LSTM, BISINDO GNN, Kolok LSTM), the MLP baseline and isyarat's own
models. Columns: 5-fold within a dataset, group-wise (leave one capture group of
sibi-alphabet-ajustiago out), and cross-dataset (trained on ASL landmarks, tested on SIBI photos).
Every model sees the same folds (seeded); early stopping uses part of each training fold only.

    python bench/accuracy.py                  # everything (about an hour on 2 cores)
    python bench/accuracy.py --only sibi-group --models isyarat-letters bisindo-gnn
    python bench/accuracy.py --sweep              # models x folds as parallel runs (--workers processes)
    python bench/accuracy.py --sweep 10.0.0.5:6379   # ... as tasks on a Ray cluster (--sweep local: a local Ray)

With --sweep the cross-validated experiments go through `isyarat sweep`'s runner
(training/sweep.py: the same folds, seed 0, the same training code, one task per model x fold);
asl-to-sibi trains once and runs as before.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from isyarat.data.combine import balanced_subset, load_datasets
from isyarat.data.layouts import load_dataset
from isyarat.distributed.ray_cluster import RayTarget
from isyarat.evaluation.markdown import comparison_table
from isyarat.evaluation.metrics import summarize_folds
from isyarat.training.loop import predict_proba
from isyarat.training.prepare import prepare, torch_dataset
from isyarat.training.recipe import load_recipe
from isyarat.training.run import cross_validate, evaluate_indices, train_fold
from isyarat.training.sweep import run_sweep
from isyarat.training.sweep_table import summarize_sweep

LETTER_MODELS = ["mlp-baseline", "sibi-lstm", "bisindo-gnn", "isyarat-letters"]
WORD_MODELS = ["kolok-lstm", "kolok-lstm3", "sibi-lstm", "isyarat-words"]
PAPERS = {"sibi-lstm", "bisindo-gnn", "kolok-lstm", "kolok-lstm3"}
EXPERIMENTS = {
    "binus-5fold": ("BISINDO letters (bisindo-alphabet-binus), 5-fold", "bisindo-alphabet-binus", "kfold:5"),
    "sibi-5fold": ("SIBI letters (sibi-alphabet-ajustiago), 5-fold", "sibi-alphabet-ajustiago", "kfold:5"),
    "sibi-group": ("SIBI letters, leave-one-capture-group-out (3 groups)", "sibi-alphabet-ajustiago", "group:group"),
    "sibi-group+asl": ("SIBI letters, leave-one-capture-group-out, ASL frames added to every training fold",
                       "sibi-alphabet-ajustiago+asl-alphabet-landmarks-graudt", "group:group"),
    "asl-to-sibi": ("trained on ASL landmarks, tested on all SIBI photos", "sibi-alphabet-ajustiago", "cross"),
    "words-5fold": ("BISINDO words (bisindo-words-wlbisindo videos), 5-fold", "bisindo-words-wlbisindo", "kfold:5"),
}


def run_experiment(key: str, recipe_name: str, data_root: Path, workers: int, asl_per_class: int) -> dict:
    _, folder, split = EXPERIMENTS[key]
    recipe = load_recipe(recipe_name)
    if key.startswith("words") and recipe.features.shape != "sequence":
        raise SystemExit(f"{recipe_name} is not a sequence recipe")
    start = time.perf_counter()
    dataset = load_datasets([data_root / name for name in folder.split("+")])
    if "+" in folder:  # the added ASL frames: a class-balanced sample, as in asl-to-sibi
        dataset = balanced_subset(dataset, asl_per_class)
    test = prepare(dataset, recipe, workers=workers, progress=False)
    if split == "cross":
        summary = cross_dataset(recipe, data_root, test, asl_per_class)
    else:
        summary = cross_validate(test, recipe, split, progress=False)
    summary["seconds"] = time.perf_counter() - start
    summary["detection_rate"] = float(test.usable.mean())
    return summary


def sweep_experiment(key: str, models: list[str], data_root: Path, workers: int, asl_per_class: int,
                     where: str) -> dict[str, dict]:
    """Every model x fold of a cross-validated experiment as one sweep (seed 0, as run_experiment)."""
    _, folder, split = EXPERIMENTS[key]
    recipes = [load_recipe(name) for name in models]
    if key.startswith("words") and any(r.features.shape != "sequence" for r in recipes):
        raise SystemExit(f"{key} needs sequence recipes")
    start = time.perf_counter()
    dataset = load_datasets([data_root / name for name in folder.split("+")])
    if "+" in folder:
        dataset = balanced_subset(dataset, asl_per_class)
    ray = None if where == "pool" else RayTarget.parse(where, workers)
    with tempfile.TemporaryDirectory() as out:
        result = run_sweep(recipes, dataset, [split], [0], Path(out), workers=workers, ray=ray, progress=False)
    seconds = time.perf_counter() - start
    summaries = {}
    for row in summarize_sweep(result):
        if "mean" not in row:
            raise SystemExit(f"{key} {row['recipe']}: every run failed: {row['failures'][0]['error']}")
        summaries[row["recipe"]] = {"n_folds": row["n_runs"] - row["n_failed"], "mean": row["mean"],
                                    "std": row["std"], "seconds": seconds, "failures": row["failures"]}
    return summaries


def cross_dataset(recipe, data_root: Path, test, per_class: int) -> dict:
    """Train on a class-balanced sample of the ASL landmark frames, test on every SIBI photo."""
    asl = load_dataset(data_root / "asl-alphabet-landmarks-graudt")
    rng = np.random.default_rng(0)
    keep = []
    for label in asl.labels:
        idx = [i for i, s in enumerate(asl) if s.label == label]
        keep += rng.choice(idx, min(per_class, len(idx)), replace=False).tolist()
    train = prepare(asl.subset(sorted(keep)), recipe, progress=False)
    model, _, seconds = train_fold(train, np.arange(len(train.dataset)), recipe, progress=False)
    test_on_asl_labels = prepare(test.dataset, recipe, labels=train.labels, progress=False)
    report = evaluate_indices(model, test_on_asl_labels, np.arange(len(test.dataset)), recipe)
    report["train_seconds"] = seconds
    return summarize_folds([report])


def speed(recipe_name: str, data_root: Path) -> dict:
    """Training time on ~1,000 ASL samples and single-sample CPU inference latency."""
    recipe = load_recipe(recipe_name)
    asl = load_dataset(data_root / "asl-alphabet-landmarks-graudt")
    picked = asl.subset(range(0, len(asl), max(1, len(asl) // 1000)))
    prep = prepare(picked, recipe, progress=False)
    model, history, seconds = train_fold(prep, np.arange(len(prep.dataset)), recipe, progress=False)
    x = torch_dataset(prep, np.arange(1), recipe, train=False)[0][0][None]
    times = []
    with torch.no_grad():
        for _ in range(300):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return {"samples": len(prep.dataset), "train_seconds": seconds, "epochs": len(history),
            "latency_ms_p50": 1000 * float(np.median(times))}


def fmt(summary: dict) -> str:
    mean, std = summary["mean"]["accuracy"], summary["std"]["accuracy"]
    return f"{mean:.3f} ± {std:.3f}" if summary["n_folds"] > 1 else f"{mean:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--only", nargs="*", choices=list(EXPERIMENTS), default=list(EXPERIMENTS))
    parser.add_argument("--models", nargs="*", help="recipe names (default: the papers' and isyarat's)")
    parser.add_argument("--asl-per-class", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2, help="MediaPipe extraction processes (and sweep runs)")
    parser.add_argument("--sweep", nargs="?", const="pool", metavar="RAY", default=None,
                        help="run the cross-validated experiments through the sweep runner: alone on --workers "
                             "processes, 'local' on a local Ray, HOST:PORT on a Ray cluster")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no-speed", action="store_true", help="skip the training-time / latency line "
                        "(run it alone, with --only and no experiment, on an idle machine)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "accuracy.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)

    results: dict[str, dict[str, dict]] = {}
    for key in args.only:
        models = args.models or (WORD_MODELS if key.startswith("words") else LETTER_MODELS)
        if args.sweep and EXPERIMENTS[key][2] != "cross":
            for name, summary in sweep_experiment(key, models, args.data, args.workers, args.asl_per_class,
                                                  args.sweep).items():
                results.setdefault(name, {})[key] = summary
                print(f"{key:12s} {name:18s} accuracy {fmt(summary)}  macro-F1 {summary['mean']['macro_f1']:.3f}  "
                      f"(sweep of {len(models)} models: {summary['seconds']:.0f} s)", flush=True)
            continue
        for name in models:
            summary = run_experiment(key, name, args.data, args.workers, args.asl_per_class)
            results.setdefault(name, {})[key] = summary
            print(f"{key:12s} {name:18s} accuracy {fmt(summary)}  macro-F1 {summary['mean']['macro_f1']:.3f}  "
                  f"({summary['seconds']:.0f} s)", flush=True)

    rows = []
    for name, by_exp in (results if args.only else {}).items():
        row = {"model": name + (" (paper)" if name in PAPERS else "")}
        for key, summary in by_exp.items():
            row[key] = fmt(summary)
        rows.append(row)
    if rows:
        print("\nAccuracy (mean ± std over folds; no-hand samples count as wrong):")
        print(comparison_table(rows, ["model", *args.only]))
    for key in args.only:
        scores = {n: r[key]["mean"]["accuracy"] for n, r in results.items() if key in r}
        ours = {n: s for n, s in scores.items() if n.startswith("isyarat")}
        papers = {n: s for n, s in scores.items() if n in PAPERS}
        if ours and papers:
            best_ours, best_paper = max(ours.items(), key=lambda kv: kv[1]), max(papers.items(), key=lambda kv: kv[1])
            print(f"{key}: {best_ours[0]} {best_ours[1]:.3f} vs best paper model {best_paper[0]} "
                  f"{best_paper[1]:.3f}: {100 * (best_ours[1] - best_paper[1]):+.1f} points")
    for name in [m for m in (args.models or LETTER_MODELS) if m.startswith("isyarat-letters") and not args.no_speed]:
        s = speed(name, args.data)
        print(f"\n{name}: trained on {s['samples']} ASL samples in {s['train_seconds']:.1f} s "
              f"({s['epochs']} epochs, {args.threads} CPU threads); inference {s['latency_ms_p50']:.3f} ms per sample (p50)")
        results.setdefault("_speed", {})[name] = s
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
