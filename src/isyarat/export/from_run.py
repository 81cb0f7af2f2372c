"""`isyarat export`: a training run -> an ONNX bundle with its model card."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from torch import nn

from isyarat.errors import IsyaratError
from isyarat.export.bundle import save_bundle
from isyarat.export.bundle_info import BundleInfo
from isyarat.export.card import describe_source, model_card
from isyarat.export.model_input import ModelInput
from isyarat.export.motion import MotionPart
from isyarat.export.openset import OpenSet
from isyarat.landmarks.settings import ExtractSettings
from isyarat.training.checkpoint import load_run
from isyarat.training.run_info import RunInfo


def export_run(run_dir: Path, out: Path, name: str | None = None, card_extra: str = "",
               motion_run: Path | None = None) -> Path:
    """`motion_run`: a sequence model trained on the same letters (e.g. on `isyarat synth`
    sequences) that reads a moving hand; it goes into the bundle as motion.onnx."""
    model, run = load_run(run_dir)
    motion_model, motion = None, None
    if motion_run is not None:
        motion_model, motion = motion_part(Path(motion_run), run.labels, run.sign_system or "")
        card_extra = card_extra + motion_card(motion, Path(motion_run))
    if run.open_set is not None:
        card_extra = card_extra + open_set_card(run.open_set)
    by_source = held_out_by_source(run_dir)
    name = name or run.name
    details = {"protocols": run.protocols, "held_out": run.held_out,
               "sources": [describe_source(p)["name"] for p in run.data],
               "held_out_by_source": {source: s["accuracy"] for source, s in by_source.items()}}
    info = BundleInfo(
        name=name, sign_system=run.sign_system or "", labels=run.labels, input_shape=run.input_shape,
        features=run.features, model=replace(run.model, recipe=run.recipe, n_params=run.n_params),
        metrics=dict(run.metrics), created="", extract=ExtractSettings(**run.recipe_config().extract),
        details=details, input=run_model_input(run), motion=motion, open_set=run.open_set)
    return save_bundle(model, info, out, card=model_card(name, run, by_source, extra=card_extra),
                       motion_model=motion_model)


def run_model_input(run: RunInfo) -> ModelInput:
    """Landmarks, or for an image run its pixels' evaluation transform and hand crop."""
    if run.track != "image":
        return ModelInput()
    from isyarat.training.image_data import model_input

    return model_input(run.recipe_config())


def motion_part(run_dir: Path, letters: list[str], sign_system: str) -> tuple[nn.Module, MotionPart]:
    """(model, MotionPart) of a trained sequence run, checked against the letter model's labels;
    the moving letters' start handshapes come from the sign system's vocabulary (the letter
    model's, else the motion model's)."""
    from isyarat.vocab import load_vocabulary

    model, info = load_run(run_dir)
    if info.features.shape != "sequence":
        raise IsyaratError(f"{run_dir}: a motion model must be a sequence model (features.shape: sequence); "
                           "train one on `isyarat synth` sequences, e.g. with the sibi-motion recipe")
    unknown = sorted(set(info.labels) - set(letters))
    if unknown:
        raise IsyaratError(f"{run_dir}: its labels {', '.join(unknown)} are not letters of the letter model")
    starts, setoff = {}, {}
    sign_system = sign_system or info.sign_system or ""
    if sign_system:
        moving = {k: m for k, m in load_vocabulary(sign_system).moving.items() if k in info.labels}
        starts = {label: m.start for label, m in moving.items()}
        setoff = {label: m.setoff_s for label, m in moving.items()}
    part = MotionPart(labels=info.labels, input_shape=info.input_shape, features=info.features,
                      model_info=replace(info.model, recipe=info.recipe),
                      metrics=dict(info.metrics), starts=starts, setoff_s=setoff)
    return model, part


def motion_card(part: MotionPart, run_dir: Path) -> str:
    m = part.metrics
    moving = ", ".join(sorted(part.starts)) or "none"
    return ("\n## Moving letters\n\n"
            f"Letters that move ({moving}) are read by a second model, `motion.onnx` "
            f"({part.model_info.name if part.model_info else '?'}, {part.input_shape[0]} frames with the wrist's path), whenever the "
            f"wrist travels more than {part.gate.start} hand sizes over {part.gate.window} frames. It was trained "
            "on synthetic sequences (`isyarat synth`: real still handshapes of the photos moved along each "
            "letter's path as the vocabulary describes it, and every letter held with drift, tremor and "
            "entry/exit movement), because no openly licensed recordings of these letters exist. "
            f"Held-out synthetic test split: accuracy {m.get('accuracy', float('nan')):.3f}. Real recordings of "
            "signers writing these letters are welcome: they would measure it, and train a better one.\n")


def open_set_card(open_set: OpenSet) -> str:
    """The model card's section on unknown signs (isyarat tidak dikenal)."""
    how = []
    if open_set.distance is not None:
        gate = open_set.distance
        how.append(f"a distance gate in the model: a clip whose last hidden layer is further ({gate.kind}) from "
                   f"every sign's training mean than {gate.margin:g} times the largest distance of its "
                   f"{gate.calibrated_on} training and validation samples is unknown")
    if open_set.unknown_class and open_set.negatives:
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
