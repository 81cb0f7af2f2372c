"""`isyarat export`: a training run -> an ONNX bundle with its model card."""
from __future__ import annotations

import json
from pathlib import Path

from isyarat.errors import IsyaratError
from isyarat.export.bundle import write_bundle
from isyarat.export.card import data_paths, describe_source, model_card
from isyarat.export.model_input import ModelInput
from isyarat.export.motion import MotionPart
from isyarat.export.openset import OpenSet
from isyarat.training.checkpoint import load_run
from isyarat.training.recipe import recipe_from_dict


def export_run(run_dir: Path, out: Path, name: str | None = None, card_extra: str = "",
               motion_run: Path | None = None) -> Path:
    """`motion_run`: a sequence model trained on the same letters (e.g. on `isyarat synth`
    sequences) that reads a moving hand; it goes into the bundle as motion.onnx."""
    model, info = load_run(run_dir)
    motion = None
    if motion_run is not None:
        motion = motion_part(Path(motion_run), info.labels, info.data.get("sign_system") or "")
        card_extra = card_extra + motion_card(motion[1], Path(motion_run))
    d = dict(info.data)
    open_set = OpenSet.from_dict(d.get("open_set"))
    if open_set is not None:
        card_extra = card_extra + open_set_card(open_set)
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
                        details=details, model_input=run_model_input(d), motion=motion,
                        open_set=open_set)


def run_model_input(run: dict) -> ModelInput:
    """Landmarks, or for an image run its pixels' evaluation transform and hand crop."""
    if run.get("kind") != "image":
        return ModelInput()
    from isyarat.training.image_data import model_input

    return model_input(recipe_from_dict(run["recipe"]))


def motion_part(run_dir: Path, letters: list[str], sign_system: str):
    """(model, MotionPart) of a trained sequence run, checked against the letter model's labels;
    the moving letters' start handshapes come from the sign system's vocabulary (the letter
    model's, else the motion model's)."""
    from isyarat.vocab import load_vocabulary

    model, info = load_run(run_dir)
    if info.features.kind != "sequence":
        raise IsyaratError(f"{run_dir}: a motion model must be a sequence model (features.kind: sequence); "
                           "train one on `isyarat synth` sequences, e.g. with the sibi-motion recipe")
    unknown = sorted(set(info.labels) - set(letters))
    if unknown:
        raise IsyaratError(f"{run_dir}: its labels {', '.join(unknown)} are not letters of the letter model")
    starts = {}
    sign_system = sign_system or info.data.get("sign_system") or ""
    if sign_system:
        moving = load_vocabulary(sign_system).moving
        starts = {label: m.start for label, m in moving.items() if label in info.labels}
    part = MotionPart(labels=info.labels, input_shape=info.input_shape, features=info.features,
                      model_info={**info.data["model"], "recipe": info.data["recipe"]},
                      metrics=dict(info.data.get("metrics", {})), starts=starts)
    return model, part


def motion_card(part: MotionPart, run_dir: Path) -> str:
    m = part.metrics
    moving = ", ".join(sorted(part.starts)) or "none"
    return ("\n## Moving letters\n\n"
            f"Letters that move ({moving}) are read by a second model, `motion.onnx` "
            f"({part.model_info.get('name')}, {part.input_shape[0]} frames with the wrist's path), whenever the "
            f"wrist travels more than {part.gate.start} hand sizes over {part.gate.window} frames. It was trained "
            "on synthetic sequences (`isyarat synth`: real still handshapes of the photos moved along each "
            "letter's path as the vocabulary describes it, and every letter held with drift, tremor and "
            "entry/exit movement), because no openly licensed recordings of these letters exist. "
            f"Held-out synthetic test split: accuracy {m.get('accuracy', float('nan')):.3f}. Real recordings of "
            "signers writing these letters are welcome: they would measure it, and train a better one.\n")


def open_set_card(open_set: OpenSet) -> str:
    """The model card's section on unknown signs (isyarat tidak dikenal)."""
    how = []
    if open_set.unknown_class:
        how.append("an extra output trained on signs outside the vocabulary (" + "; ".join(open_set.negatives) + ")")
    if open_set.threshold > 0:
        how.append(f"a threshold of {open_set.threshold:.3f} on the best sign's probability, set on "
                   f"{open_set.calibrated_on} validation samples to keep {open_set.keep:.0%} of them")
    return ("\n## Unknown signs (isyarat tidak dikenal)\n\n"
            "A sign outside the vocabulary is answered \"unknown sign\" instead of the closest known sign, "
            f"through {' and '.join(how) or 'no rejection'}. bench/openset.py measures how often signs it "
            "does not know are still given a sign.\n")


def held_out_by_source(run_dir: Path) -> dict:
    """Held-out scores per source dataset, from the run's report (empty for one source): a combined
    test split is weighted by each source's size, so the card shows each source alone too."""
    report_path = Path(run_dir) / "report.json"
    if not report_path.is_file():
        return {}
    by_source = json.loads(report_path.read_text()).get("by", {}).get("source", {})
    return by_source if len(by_source) > 1 else {}
