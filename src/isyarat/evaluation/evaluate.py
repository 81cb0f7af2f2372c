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
    clip: Callable | None = None  # a bundle's Recognizer.clip_probabilities, for recorded sequences


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
                       lambda ds: _onnx_proba(bundle.model, ds), _clip_reader(bundle))


def _clip_reader(bundle) -> Callable:
    """Recognizer.clip_probabilities of the bundle, the Recognizer made on first use."""
    from isyarat.runtime.recognizer import Recognizer

    made: list[Recognizer] = []

    def clip(lm):
        if not made:
            made.append(Recognizer(bundle))
        return made[0].clip_probabilities(lm)
    return clip


def _recorded_sequences(dataset) -> bool:
    """Landmark clips of several frames (a sequence folder, a table of clips): each is one sample,
    read the way `isyarat recognize` reads a clip (a letter bundle with a motion model reads a
    moving hand with it; a frame model averages the clip's frames)."""
    return any(s.landmarks is not None and s.landmarks.n_frames > 1 for s in dataset)


def _onnx_proba(model, ds) -> np.ndarray:
    out = [model.predict(x.numpy()) for x, _ in DataLoader(ds, batch_size=64)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate_model(ref: str | Path, data: str | Path, out_dir: Path | None = None, workers: int = 1,
                   cache_dir: Path | None = None, progress: bool = True) -> dict:
    loaded = load_for_evaluation(ref)
    prep = prepare(load_dataset(data), loaded.recipe, labels=loaded.labels, workers=workers,
                   cache_dir=cache_dir, progress=progress)
    idx = np.flatnonzero(prep.usable)
    if loaded.clip is not None and _recorded_sequences(prep.dataset):
        probs = np.stack([loaded.clip(prep.dataset.samples[i].landmarks) for i in idx]) if len(idx) else None
    else:
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

