"""The Python API: the `isyarat` verbs as functions, with the CLI's names and arguments.

    import isyarat
    run = isyarat.train("isyarat-letters", data="datasets/my-letters", out="runs/letters", epochs=20)
    report = isyarat.evaluate(run, data="datasets/other-signers", out="runs/letters/eval")
    bundle = isyarat.export(run, out="bundles/letters")
    print(isyarat.Recognizer.load(bundle).predict("photo.jpg"))

Each function imports its stage when called, so `import isyarat` stays cheap.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping


def train(recipe, data: str | Path | Iterable[str | Path], out: str | Path, *, split: str | None = None,
          compare: Iterable[str] = (), epochs: int | None = None, max_per_class: int | None = None,
          overrides: Mapping[str, Any] | None = None, workers: int = 1, cache: str | Path | None = None,
          quiet: bool = False) -> Path:
    """`isyarat train RECIPE --data DATA --out OUT`: train a recipe (a shipped name, a YAML path or
    a loaded Recipe) on one dataset or several (a list: combined, each sample tagged with its
    source). `overrides` is `--set` as a dict ({"train.lr": 0.0005}). Returns the run folder."""
    from isyarat.training.recipe import Recipe, load_recipe, with_compare
    from isyarat.training.run import train_recipe

    values = dict(overrides or {})
    for key, value in (("split", split), ("train.epochs", epochs), ("max_per_class", max_per_class)):
        if value is not None:
            values[key] = value
    if isinstance(recipe, Recipe):
        from dataclasses import replace

        if values:
            from isyarat.training.recipe import recipe_from_dict

            raw = recipe.to_dict()
            for key, value in values.items():
                section, _, name = key.partition(".")
                if name:
                    raw.setdefault(section, {})[name] = value
                else:
                    raw[key] = value
            recipe = recipe_from_dict(raw, source=recipe.name)
        else:
            recipe = replace(recipe)
    else:
        recipe = load_recipe(recipe, values)
    recipe = with_compare(recipe, list(compare))
    paths = [Path(data)] if isinstance(data, (str, Path)) else [Path(d) for d in data]
    return train_recipe(recipe, paths, Path(out), workers=workers, cache_dir=_path(cache), progress=not quiet)


def evaluate(model: str | Path, data: str | Path, out: str | Path | None = None, *, threshold: float = 0.5,
             workers: int = 1, cache: str | Path | None = None, quiet: bool = False) -> dict:
    """`isyarat evaluate --model MODEL --data DATA --out OUT`: score a bundle, shipped model or run
    folder on a dataset through the Recognizer (its detector settings, `threshold`). Returns the
    report (and writes report.json/.md and the confusion matrix to `out` when given)."""
    from isyarat.evaluation.evaluate import evaluate_model

    return evaluate_model(model, data, _path(out), workers=workers, cache_dir=_path(cache), progress=not quiet,
                          threshold=threshold)


def export(run: str | Path, out: str | Path, *, name: str | None = None) -> Path:
    """`isyarat export RUN --out OUT`: a run folder -> an ONNX bundle (folder, or .zip by the
    name of `out`), checked against PyTorch. Returns the bundle's path."""
    from isyarat.export.from_run import export_run

    return export_run(Path(run), Path(out), name=name)


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)
