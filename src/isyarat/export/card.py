"""Model cards: what a model recognizes, from which data, how well, and where it falls short."""
from __future__ import annotations

import json
from pathlib import Path


def _license(data: str) -> str:
    root = Path(data)
    root = root if root.is_dir() else root.parent
    lic = root / "LICENSE"
    return lic.read_text(errors="replace").splitlines()[0].strip() if lic.is_file() else "see the dataset's README"


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def model_card(name: str, run: dict, extra: str = "") -> str:
    """Markdown card from a run's run.json (and its report.json when it has folds)."""
    recipe = run["recipe"]
    m = run.get("metrics", {})
    lines = [
        f"# {name}", "",
        f"{recipe.get('description', '').strip()}", "",
        f"- sign system: {run.get('sign_system') or 'unspecified'}",
        f"- classes ({len(run['labels'])}): {', '.join(run['labels'])}",
        f"- model: `{run['model']['name']}` {json.dumps(run['model'].get('params', {}))}, "
        f"{run.get('n_params', '?')} parameters",
        f"- recipe: `{recipe['name']}` (reference: {recipe.get('reference') or 'isyarat'})",
        f"- features: {json.dumps({k: v for k, v in run['features'].items() if k not in ('mean', 'std')})}",
        f"- training data: `{Path(run['data']).name}` ({_license(run['data'])}), split `{run['split']}`",
        f"- training time: {run.get('train_seconds', '?')} s, {run.get('epochs_run', '?')} epochs", "",
        "## Scores on the held-out test split", "",
        "| metric | value |", "|---|---|",
        *[f"| {k} | {_fmt(v)} |" for k, v in m.items()], "",
    ]
    if extra:
        lines += [extra.strip(), ""]
    return "\n".join(lines)
