"""`isyarat evaluate`: any model (run dir, bundle, shipped name) on any readable dataset."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from torch.utils.data import DataLoader

from isyarat.data.layouts import load_dataset
from isyarat.errors import IsyaratError
from isyarat.evaluation.metrics import evaluate_predictions
from isyarat.evaluation.report import write_report
from isyarat.training.loop import predict_proba
from isyarat.training.prepare import prepare, torch_dataset
from isyarat.training.recipe import Recipe, recipe_from_dict


@dataclass
class LoadedModel:
    """A model to evaluate: its recipe (features, extraction, image settings), labels and a
    function from a torch dataset to class probabilities."""

    name: str
    recipe: Recipe
    labels: list[str]
    predict: Callable


def load_for_evaluation(ref: str | Path) -> LoadedModel:
    """A run directory (run.json), a bundle (folder or .zip) or a shipped model's name."""
    path = Path(ref)
    if (path / "run.json").is_file():
        from isyarat.training.checkpoint import load_run

        model, info = load_run(path)
        return LoadedModel(info.data["name"], recipe_from_dict(info.data["recipe"]), info.labels,
                           lambda ds: predict_proba(model, ds))
    from isyarat.export.bundle import load_bundle
    from isyarat.runtime.recognizer import resolve_bundle

    bundle = load_bundle(resolve_bundle(ref))
    recipe_dict = bundle.model_info.get("recipe")
    if not recipe_dict:
        raise IsyaratError(f"{ref}: the bundle does not carry its recipe; export it again with `isyarat export`")
    return LoadedModel(bundle.name, recipe_from_dict(recipe_dict), bundle.labels,
                       lambda ds: _onnx_proba(bundle.model, ds))


def _onnx_proba(model, ds) -> np.ndarray:
    out = [model.predict(x.numpy()) for x, _ in DataLoader(ds, batch_size=64)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate_model(ref: str | Path, data: str | Path, out_dir: Path | None = None, workers: int = 1,
                   cache_dir: Path | None = None, progress: bool = True, ray=None) -> dict:
    loaded = load_for_evaluation(ref)
    prep = prepare(load_dataset(data), loaded.recipe, labels=loaded.labels, workers=workers,
                   cache_dir=cache_dir, progress=progress, ray=ray)
    idx = np.flatnonzero(prep.usable)
    probs = loaded.predict(torch_dataset(prep, idx, loaded.recipe, train=False)) if len(idx) else None
    predicted = dict(zip(idx.tolist(), probs.argmax(1).tolist())) if probs is not None else {}
    y_true = [prep.labels[t] for t in prep.targets]
    y_pred = [prep.labels[predicted[i]] if i in predicted else None for i in range(len(y_true))]
    report = evaluate_predictions(y_true, y_pred, prep.labels, metadata=prep.dataset.metadata_frame(),
                                  has_hand=prep.usable.tolist())
    report["model"], report["data"] = str(ref), str(data)
    if prep.extraction:
        report["extraction"] = prep.extraction
    if out_dir is not None:
        write_report(report, Path(out_dir), title=f"{loaded.name} on {Path(data).name}")
    return report

