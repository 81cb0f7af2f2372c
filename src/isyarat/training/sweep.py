"""`isyarat sweep`: every recipe x protocol x seed x fold as one training run, spread over local
worker processes or a Ray cluster, gathered into one table (sweep_table.py) plus every run folder.

The training and the splits are train_fold / evaluate_indices (training/run.py) and make_splits
(data/splits.py), as in `isyarat train`: a sweep only decides where each fold runs. Data is
prepared (landmarks extracted, cached) once per recipe on the machine that runs the command;
workers get it once (per process, or once per cluster through Ray's object store) and send back
the trained model and its report, so every file is written here. A run folder already complete
for the same recipe, split and test samples is read back instead of trained again: a killed
sweep resumes."""
from __future__ import annotations

import json
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from isyarat.data.combine import balanced_subset
from isyarat.data.samples import Dataset
from isyarat.data.splits import check_split_columns, parse_split
from isyarat.distributed.ray_cluster import RayTarget, ray_session
from isyarat.errors import IsyaratError
from isyarat.evaluation.report import write_report
from isyarat.training.checkpoint import read_info, save_run
from isyarat.training.curves import plot_curves
from isyarat.training.prepare import Prepared, make_splits, prepare
from isyarat.training.recipe import Recipe
from isyarat.training.run import HEADLINE, evaluate_indices, train_fold
from isyarat.training.run_info import planned_run

MAX_RETRIES = 2  # Ray retries of a run whose worker process died


@dataclass(frozen=True)
class SweepRun:
    """One training run of a sweep: a recipe (with the seed set) on one fold of one protocol."""

    recipe: Recipe
    protocol: str
    seed: int
    fold: int
    train_idx: np.ndarray = field(compare=False, repr=False)
    test_idx: np.ndarray = field(compare=False, repr=False)

    @property
    def folder(self) -> str:
        protocol = re.sub(r"[^\w.-]+", "-", self.protocol)
        return f"{self.recipe.name}/{protocol}/seed{self.seed}/fold{self.fold}"


@dataclass
class RunOutcome:
    """What a worker sends back: the model, its history and test report, or why it failed."""

    report: dict | None = None
    model: object = None
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


@dataclass
class SweepResult:
    """Every run's report (None when it failed) and error, by run, in plan order."""

    runs: list[SweepRun]
    reports: list[dict | None]
    errors: list[str | None]
    resumed: int = 0


def check_protocol(split: str) -> str:
    """kfold:K (K >= 2), holdout:F (0 < F < 1) or group:<column> (the one split parser); a one-line
    error otherwise."""
    parse_split(split, "--protocol")
    return split


def plan_runs(recipes: list[Recipe], preps: dict[str, Prepared], protocols: list[str],
              seeds: list[int]) -> list[SweepRun]:
    """Every recipe x protocol x seed x fold; the seed shuffles the folds and seeds the training,
    so every recipe sees the same folds for a given seed."""
    runs = []
    for recipe in recipes:
        for protocol in protocols:
            for seed in seeds:
                seeded = replace(recipe, train=replace(recipe.train, seed=seed))
                for fold, (train_idx, test_idx) in enumerate(make_splits(preps[recipe.name], protocol, seed)):
                    runs.append(SweepRun(seeded, protocol, seed, fold, train_idx, test_idx))
    return runs


def train_and_test(prep: Prepared, run: SweepRun, threads: int | None = None) -> RunOutcome:
    """One run, on whatever process executes it; never raises (the reason is sent back)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        model, history, seconds = train_fold(prep, run.train_idx, run.recipe, progress=False, split=run.protocol)
        report = evaluate_indices(model, prep, run.test_idx, run.recipe)
    except IsyaratError as err:
        return RunOutcome(error=str(err))
    except Exception as err:  # one odd run (a fold too small, a model bug) must not stop the sweep
        return RunOutcome(error=f"{type(err).__name__}: {err}")
    report["train_seconds"] = seconds
    return RunOutcome(report, model, history, seconds)


# ---- where the runs execute: this process, a local process pool, or Ray ---------------------
_preps: dict[str, Prepared] = {}  # in each pool worker


def _init_pool(preps: dict[str, Prepared]) -> None:
    _preps.update(preps)


def _pool_run(run: SweepRun) -> RunOutcome:
    return train_and_test(_preps[run.recipe.name], run, threads=1)


def _ray_run(prep: Prepared, run: SweepRun) -> RunOutcome:
    return train_and_test(prep, run, threads=1)


def _execute(runs: list[SweepRun], preps: dict[str, Prepared], workers: int,
             ray: RayTarget | None) -> Iterator[tuple[int, RunOutcome]]:
    """(index in `runs`, outcome) as runs finish."""
    if ray is not None:
        yield from _in_ray(runs, preps)
    elif workers > 1 and len(runs) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(runs)), mp_context=context, initializer=_init_pool,
                                 initargs=({name: preps[name] for name in {r.recipe.name for r in runs}},)) as pool:
            futures = {pool.submit(_pool_run, run): i for i, run in enumerate(runs)}
            for future in as_completed(futures):
                yield futures[future], future.result()
    else:
        for i, run in enumerate(runs):
            yield i, train_and_test(preps[run.recipe.name], run)


def _in_ray(runs: list[SweepRun], preps: dict[str, Prepared]) -> Iterator[tuple[int, RunOutcome]]:
    import ray

    remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_ray_run)
    refs = {name: ray.put(preps[name]) for name in {r.recipe.name for r in runs}}
    pending = {remote.remote(refs[run.recipe.name], run): i for i, run in enumerate(runs)}
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(ref)
        try:
            yield index, ray.get(ref)
        except ray.exceptions.RayError as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            yield index, RunOutcome(error=f"the Ray worker failed {MAX_RETRIES + 1} times: {first[:200]}")


# ---- run folders ------------------------------------------------------------------------------
def _signature(run: SweepRun, prep: Prepared) -> dict:
    return {"recipe": run.recipe.to_dict(), "protocol": run.protocol, "seed": run.seed, "fold": run.fold,
            "test_samples": [prep.dataset.samples[i].id for i in run.test_idx]}


def _resumed(folder: Path, signature: dict) -> dict | None:
    """The report of a complete run folder written for the same run, else None."""
    try:
        info = read_info(folder)
        report = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError, IsyaratError):
        return None
    return report if info.sweep == json.loads(json.dumps(signature, default=str)) else None


def _write_run(folder: Path, run: SweepRun, prep: Prepared, outcome: RunOutcome, data: list[str]) -> None:
    """The same files as `isyarat train` (run.json, weights, report, curves) for one fold; run.json
    last, so a folder with run.json is complete."""
    recipe = run.recipe
    write_report(outcome.report, folder, title=f"{recipe.name}: {run.protocol} fold {run.fold + 1}, seed {run.seed}")
    plot_curves(outcome.history, folder / "curves.png")
    info = planned_run(
        recipe, prep.labels, data=data, split=run.protocol, extraction=prep.extraction,
        n_train=int(len(run.train_idx)), test_samples=[prep.dataset.samples[i].id for i in run.test_idx],
        train_seconds=round(outcome.seconds, 2), epochs_run=len(outcome.history), history=outcome.history,
        n_params=sum(p.numel() for p in outcome.model.parameters()),
        metrics={k: outcome.report[k] for k in HEADLINE}, sweep=_signature(run, prep))
    save_run(folder, outcome.model, info)


def run_sweep(recipes: list[Recipe], dataset: Dataset, protocols: list[str], seeds: list[int], out_dir: Path,
              workers: int = 1, ray: RayTarget | None = None, cache_dir: Path | None = None,
              progress: bool = True, data: list[str] | None = None) -> SweepResult:
    """Train and test every run of the sweep, writing out_dir/runs/<recipe>/<protocol>/seed<S>/fold<K>/.
    With `ray`, landmark extraction and the runs go to Ray; else `workers` local processes."""
    names = [r.name for r in recipes]
    if len(set(names)) < len(names):
        raise IsyaratError(f"recipes named twice in the sweep: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    if not seeds or not protocols:
        raise IsyaratError("a sweep needs at least one protocol and one seed")
    for split in protocols:
        check_protocol(split)
    check_split_columns(dataset, protocols)  # before any extraction
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise IsyaratError(f"--out {out_dir} is a file: give a folder for sweep.md, sweep.json and runs/")
    data = data or [str(dataset.root)]
    if ray is None:
        return _sweep(recipes, dataset, protocols, seeds, out_dir, workers, None, cache_dir, progress, data)
    with ray_session(ray):  # one Ray for the extraction and the runs
        return _sweep(recipes, dataset, protocols, seeds, out_dir, workers, ray, cache_dir, progress, data)


def _sweep(recipes, dataset, protocols, seeds, out_dir, workers, ray, cache_dir, progress, data) -> SweepResult:
    preps = {}
    for recipe in recipes:
        subset = balanced_subset(dataset, recipe.max_per_class) if recipe.max_per_class else dataset
        preps[recipe.name] = prepare(subset, recipe, workers=workers, cache_dir=cache_dir, progress=progress, ray=ray)
    runs = plan_runs(recipes, preps, protocols, seeds)
    reports: list[dict | None] = [None] * len(runs)
    errors: list[str | None] = [None] * len(runs)
    todo = []
    for i, run in enumerate(runs):
        reports[i] = _resumed(out_dir / "runs" / run.folder, _signature(run, preps[run.recipe.name]))
        if reports[i] is None:
            todo.append(i)
    with tqdm(total=len(runs), initial=len(runs) - len(todo), desc="sweep", unit="run", disable=not progress) as bar:
        for j, outcome in _execute([runs[i] for i in todo], preps, workers, ray):
            i = todo[j]
            if outcome.error:
                errors[i] = outcome.error
            else:
                _write_run(out_dir / "runs" / runs[i].folder, runs[i], preps[runs[i].recipe.name], outcome, data)
                reports[i] = outcome.report
            bar.update(1)
    return SweepResult(runs, reports, errors, resumed=len(runs) - len(todo))
