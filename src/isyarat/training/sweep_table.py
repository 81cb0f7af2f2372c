"""A sweep's results as one table: mean ± std over folds and seeds, per recipe and protocol."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from isyarat.evaluation.markdown import comparison_table
from isyarat.evaluation.metrics import summarize_folds
from isyarat.training.sweep import SweepResult

COLUMNS = ["recipe", "protocol", "runs", "accuracy", "macro F1", "accuracy (hand found)", "train s/run"]


def summarize_sweep(result: SweepResult) -> list[dict]:
    """One row per (recipe, protocol): summarize_folds over all its folds x seeds (population std),
    the spread of the per-seed means, and the failed runs with their reasons."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, run in enumerate(result.runs):
        groups.setdefault((run.recipe.name, run.protocol), []).append(i)
    rows = []
    for (recipe, protocol), indices in groups.items():
        done = [i for i in indices if result.reports[i] is not None]
        row = {"recipe": recipe, "protocol": protocol, "n_runs": len(indices), "n_failed": len(indices) - len(done),
               "seeds": sorted({result.runs[i].seed for i in indices}),
               "failures": [{"run": result.runs[i].folder, "error": result.errors[i]}
                            for i in indices if result.reports[i] is None]}
        if done:
            summary = summarize_folds([result.reports[i] for i in done])
            row.update(mean=summary["mean"], std=summary["std"], std_ddof=summary["std_ddof"],
                       seed_means=_seed_means(result, done),
                       train_seconds=float(np.mean([result.reports[i].get("train_seconds", 0.0) for i in done])))
        rows.append(row)
    return rows


def _seed_means(result: SweepResult, indices: list[int]) -> dict[str, float]:
    """Accuracy averaged over the folds of each seed: how much the seed alone moves the score."""
    by_seed: dict[int, list[float]] = {}
    for i in indices:
        by_seed.setdefault(result.runs[i].seed, []).append(result.reports[i]["accuracy"])
    return {str(seed): float(np.mean(scores)) for seed, scores in sorted(by_seed.items())}


def _mean_std(row: dict, metric: str) -> str:
    if "mean" not in row or row["mean"][metric] is None:
        return "n/a"
    return f"{row['mean'][metric]:.3f} ± {row['std'][metric]:.3f}"


def format_sweep(rows: list[dict]) -> str:
    """The Markdown table printed and written to sweep.md, then the failed runs."""
    table = [{"recipe": r["recipe"], "protocol": r["protocol"],
              "runs": f"{r['n_runs'] - r['n_failed']}/{r['n_runs']}",
              "accuracy": _mean_std(r, "accuracy"), "macro F1": _mean_std(r, "macro_f1"),
              "accuracy (hand found)": _mean_std(r, "accuracy_detected"),
              "train s/run": f"{r['train_seconds']:.1f}" if "train_seconds" in r else "n/a"} for r in rows]
    lines = [comparison_table(table, COLUMNS)]
    failures = [f for r in rows for f in r["failures"]]
    if failures:
        lines += ["", f"{len(failures)} run(s) failed:"] + [f"- {f['run']}: {f['error']}" for f in failures]
    return "\n".join(lines)


def write_sweep(result: SweepResult, rows: list[dict], out_dir: Path, about: dict) -> tuple[Path, Path]:
    """sweep.md (the table, with what was swept) and sweep.json (rows, per-run scores, settings)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    note = ("Mean ± population std (ddof=0) over every fold of every seed; samples without a hand count "
            "as wrong in accuracy. Each run's folder is runs/<recipe>/<protocol>/seed<S>/fold<K>/.")
    header = "\n".join(f"- {key}: {value}" for key, value in about.items())
    md = out_dir / "sweep.md"
    md.write_text(f"# Sweep\n\n{header}\n\n{note}\n\n{format_sweep(rows)}\n", encoding="utf-8")
    runs = [{"run": run.folder, "recipe": run.recipe.name, "protocol": run.protocol, "seed": run.seed,
             "fold": run.fold, "error": error,
             **({k: report[k] for k in ("accuracy", "accuracy_detected", "macro_f1", "n_samples")} if report else {})}
            for run, report, error in zip(result.runs, result.reports, result.errors)]
    js = out_dir / "sweep.json"
    js.write_text(json.dumps({**about, "resumed_runs": result.resumed, "rows": rows, "runs": runs}, indent=1,
                             default=str), encoding="utf-8")
    return md, js
