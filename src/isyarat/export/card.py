"""Model cards: what a model recognizes, from which data (with licenses and attribution), how
well under which splits, where it falls short, and the command that rebuilds it."""
from __future__ import annotations

import json
from pathlib import Path

from isyarat.data.sources import dataset_options
from isyarat.training.run_info import RunInfo


def describe_source(data: str) -> dict:
    """Title, author, license, content and caveats of a dataset path (known sources by folder
    name, else the first line of its LICENSE file)."""
    root = Path(data)
    folder = root if root.is_dir() or not root.suffix else root.parent
    info = dataset_options(folder)
    if "license" not in info:
        license_file = folder / "LICENSE"
        info["license"] = (license_file.read_text(errors="replace").splitlines()[0].strip()
                           if license_file.is_file() else "unknown: see the dataset's own documentation")
    return {"name": folder.name, **info}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _sources_section(sources: list[dict]) -> list[str]:
    lines = ["## Training data", ""]
    for s in sources:
        title = f"{s.get('title', s['name'])}" + (f" by {s['author']}" if s.get("author") else "")
        lines.append(f"- `{s['name']}`: {title}; license: {s['license']}.")
        if s.get("content"):
            lines.append(f"  {s['content'].strip()}.")
        if s.get("citation"):
            lines.append(f"  Cite: {s['citation'].strip()}.")
    return lines + [""]


def _scores_section(run: RunInfo, by_source: dict) -> list[str]:
    metrics = run.metrics
    lines = [f"## Scores", "",
             f"Held-out test split (`{run.split}`, {metrics.get('n_samples', '?')} samples never "
             "trained on; samples where no hand was found count as wrong in `accuracy`):", "",
             "| metric | value |", "|---|---|", *[f"| {k} | {_fmt(v)} |" for k, v in metrics.items()], ""]
    if by_source:
        lines += ["The same held-out split, per source (the combined score is weighted by each source's size):", "",
                  "| source | samples | without a hand | accuracy |", "|---|---|---|---|"]
        lines += [f"| `{name}` | {s['n_samples']} | {s['n_without_hand']} | {_fmt(s['accuracy'])} |"
                  for name, s in by_source.items()]
        lines.append("")
    protocols = run.protocols
    if protocols:
        lines += ["Cross-validation (mean ± std over folds). Random splits keep near-duplicate frames of one "
                  "session on both sides; group splits test on capture groups, signers or sources never "
                  "seen in training, the number a new user should expect (samples without a value for the "
                  "group column, such as another source's, stay in every training fold and are never tested):", "",
                  "| split | folds | accuracy | macro F1 |", "|---|---|---|---|"]
        for split, s in protocols.items():
            lines.append(f"| `{split}` | {s['n_folds']} | {_fmt(s['mean']['accuracy'])} ± {_fmt(s['std']['accuracy'])} "
                         f"| {_fmt(s['mean']['macro_f1'])} ± {_fmt(s['std']['macro_f1'])} |")
        lines.append("")
    return lines


def model_card(name: str, run: RunInfo, by_source: dict | None = None, extra: str = "") -> str:
    """Markdown card from a run's record; `by_source`: its held-out scores per source dataset."""
    recipe = run.recipe_config()
    sources = [describe_source(d) for d in run.data]
    data_args = " ".join(f"--data <datasets>/{s['name']}" for s in sources)
    unknown = run.open_set.unknown_class if run.open_set is not None else None
    signs = [label for label in run.labels if label != unknown]  # what it can answer, as Bundle.signs
    lines = [
        f"# {name}", "", recipe.description.strip(), "",
        "## What it recognizes", "",
        f"- sign system: {run.sign_system or 'unspecified'}",
        f"- classes ({len(signs)}): {', '.join(signs)}",
        "- below the confidence threshold, or with no hand in view, the answer is \"no sign\"",
        *(["- a sign outside these classes is answered \"isyarat tidak dikenal\" (unknown sign): see below"]
          if run.open_set is not None else []), "",
        "## Model", "",
        f"- architecture: `{run.model.name}` {json.dumps(run.model.params)}, "
        f"{run.n_params or '?'} parameters",
        f"- recipe: `{recipe.name}` (reference: {recipe.reference or 'isyarat'})",
        f"- features: {json.dumps(run.features.to_dict())}",
        f"- landmark extraction: {json.dumps(recipe.extract)}",
        f"- trained on {run.n_train} samples in {run.train_seconds} s ({run.epochs_run} epochs, CPU)", "",
        *_sources_section(sources),
        *_scores_section(run, by_source or {}),
        "## Caveats", "",
        *[f"- `{s['name']}`: {s['caveats'].strip()}" for s in sources if s.get("caveats")],
        "- MediaPipe must find the hand first: very tight crops, dark rooms or hands leaving the frame give "
        "\"no sign\".", "",
        "## Rebuild it", "",
        f"    isyarat train {recipe.name} {data_args} --out runs/{name}",
        f"    isyarat export runs/{name} --out {name}", "",
    ]
    if extra:
        lines += [extra.strip(), ""]
    return "\n".join(lines)
