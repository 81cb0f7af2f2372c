"""`isyarat export`: a training run -> an ONNX bundle with its model card."""
from __future__ import annotations

import json
from pathlib import Path

from isyarat.export.bundle import write_bundle
from isyarat.export.card import data_paths, describe_source, model_card
from isyarat.export.model_input import ModelInput
from isyarat.training.checkpoint import load_run
from isyarat.training.recipe import recipe_from_dict


def export_run(run_dir: Path, out: Path, name: str | None = None, card_extra: str = "") -> Path:
    model, info = load_run(run_dir)
    d = dict(info.data)
    d["by_source"] = held_out_by_source(run_dir)
    name = name or d["name"]
    model_info = {**d["model"], "recipe": d["recipe"], "kind": d["kind"], "n_params": d.get("n_params")}
    metrics = dict(d.get("metrics", {}))
    details = {"protocols": d.get("protocols", {}), "held_out": d.get("held_out", []),
               "sources": [describe_source(p)["name"] for p in data_paths(d)],
               "held_out_by_source": {name: s["accuracy"] for name, s in d["by_source"].items()}}
    return write_bundle(model, info.input_shape, info.labels, d["features"], d.get("sign_system") or "",
                        out, name=name, model_info=model_info, metrics=metrics,
                        card=model_card(name, d, extra=card_extra), extract=d["recipe"].get("extract"),
                        details=details, model_input=run_model_input(d))


def run_model_input(run: dict) -> ModelInput:
    """Landmarks, or for an image run its pixels' evaluation transform and hand crop."""
    if run.get("kind") != "image":
        return ModelInput()
    from isyarat.training.image_data import model_input

    return model_input(recipe_from_dict(run["recipe"]))


def held_out_by_source(run_dir: Path) -> dict:
    """Held-out scores per source dataset, from the run's report (empty for one source): a combined
    test split is weighted by each source's size, so the card shows each source alone too."""
    report_path = Path(run_dir) / "report.json"
    if not report_path.is_file():
        return {}
    by_source = json.loads(report_path.read_text()).get("by", {}).get("source", {})
    return by_source if len(by_source) > 1 else {}
