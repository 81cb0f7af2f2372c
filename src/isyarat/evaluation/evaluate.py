"""`isyarat evaluate`: any model (bundle, shipped name or run dir) on any readable dataset,
through the Recognizer, so the scores are those of what `recognize` and `serve` run: the same
detector settings, the same input preparation, the same confidence threshold.

A run directory is exported to a temporary bundle first (the ONNX model is checked against
PyTorch on the way), so there is one prediction path. Photos and videos are read by the one
cached landmark extraction (`extract_dataset`) with the bundle's own settings, which is what
the Recognizer's detector does photo by photo.
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from isyarat.data.layouts import load_dataset
from isyarat.data.samples import LANDMARKS, VIDEO, Dataset
from isyarat.errors import IsyaratError
from isyarat.evaluation.metrics import evaluate_predictions
from isyarat.evaluation.report import write_report

DEFAULT_THRESHOLD = 0.5  # the Recognizer's and `isyarat recognize`'s default


@contextlib.contextmanager
def as_bundle(ref: str | Path) -> Iterator[Path]:
    """The bundle of `ref`: a bundle folder or .zip, a shipped model's name, or a run directory
    (exported to a temporary bundle for the time of the block)."""
    path = Path(ref)
    if (path / "run.json").is_file():
        from isyarat.export.from_run import export_run

        with tempfile.TemporaryDirectory(prefix="isyarat-eval-") as tmp:
            yield export_run(path, Path(tmp) / "bundle")
        return
    from isyarat.shipped_models import resolve_bundle

    yield resolve_bundle(ref)


def evaluate_model(ref: str | Path, data: str | Path | Dataset, out_dir: Path | None = None, workers: int = 1,
                   cache_dir: Path | None = None, progress: bool = True,
                   threshold: float = DEFAULT_THRESHOLD, ray=None) -> dict:
    """Score model `ref` on `data` (a dataset folder, landmark table or loaded Dataset) as the
    Recognizer answers with `threshold`; writes report.json/.md and the confusion matrix to
    `out_dir` when given. Returns the report."""
    from isyarat.runtime.recognizer import Recognizer

    with as_bundle(ref) as bundle_path:  # a broken model is reported before any data is read
        recognizer = Recognizer.load(bundle_path, threshold=threshold)
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    try:
        report = evaluate_recognizer(recognizer, dataset, workers=workers, cache_dir=cache_dir, progress=progress,
                                     ray=ray)
    finally:
        recognizer.close()
    report["model"], report["data"] = str(ref), str(getattr(dataset, "root", data))
    if out_dir is not None:
        write_report(report, Path(out_dir), title=f"{recognizer.name} on {Path(str(report['data'])).name}")
    return report


def evaluate_recognizer(recognizer, dataset: Dataset, workers: int = 1, cache_dir: Path | None = None,
                        progress: bool = True, ray=None) -> dict:
    """The report of `recognizer` on every sample of `dataset`; a sample with no hand found
    (landmark models) counts as wrong, a file that cannot be read is left out and listed in
    the report's `extraction` summary."""
    excluded = set(recognizer.bundle.info.model.excluded_labels)
    if excluded & set(dataset.labels):  # the recipe left these labels out of training
        dataset = dataset.subset([i for i, s in enumerate(dataset.samples) if s.label not in excluded])
    unknown = sorted(set(dataset.labels) - set(recognizer.labels))
    if unknown and recognizer.open_set is None:
        raise IsyaratError(f"{dataset.root} has labels the model does not know: {', '.join(unknown[:10])}; "
                           f"the model knows {', '.join(recognizer.labels)}")
    if recognizer.takes_pixels and dataset.media == LANDMARKS:
        raise IsyaratError(f"model '{recognizer.name}' reads photos (pixels) but {dataset.root} holds landmarks; "
                           "give it a folder of images")
    summary = None
    needs_hands = dataset.media != LANDMARKS and (not recognizer.takes_pixels or recognizer.input.crops_hands)
    if needs_hands:
        from isyarat.landmarks.extract import extract_dataset

        result = extract_dataset(dataset, recognizer.extract_settings, workers=workers, cache_dir=cache_dir,
                                 progress=progress, ray=ray)
        dataset, summary = result.dataset, result.summary.to_dict()
    probabilities = [_probabilities(recognizer, s) for s in dataset.samples]
    if not probabilities:
        raise IsyaratError(f"{dataset.root}: no sample could be read; see the extraction summary")
    known = [i for i, s in enumerate(dataset.samples) if s.label in recognizer.labels]
    if not known:
        raise IsyaratError(f"{dataset.root} holds none of the model's signs ({', '.join(recognizer.labels[:10])}); "
                           "give it samples of its vocabulary too")
    in_vocabulary = dataset.subset(known)
    predictions = [None if p is None else recognizer.decide(p) for p in probabilities]
    report = evaluate_predictions([s.label for s in in_vocabulary.samples], [_answer(predictions[i]) for i in known],
                                  recognizer.labels, metadata=in_vocabulary.metadata_frame(),
                                  has_hand=[probabilities[i] is not None for i in known])
    report["threshold"] = float(recognizer.threshold)
    if recognizer.open_set is not None:
        report["open_set"] = rejection_report(dataset, predictions, recognizer)
    if summary:
        report["extraction"] = summary
    return report


def _probabilities(recognizer, sample) -> np.ndarray | None:
    """Class probabilities of one sample as the Recognizer computes them; None: no hand. A clip
    (a recorded sequence, a video's landmarks) is one sample, read as `recognize` reads a clip: a
    motion-aware letter bundle gives a moving hand to its motion model."""
    if not recognizer.takes_pixels:
        lm = sample.landmarks
        return recognizer.clip_probabilities(lm) if lm is not None and lm.n_frames > 1 else recognizer.probabilities(lm)
    if sample.media == VIDEO:
        clip = recognizer.predict_video(sample.path)
        return np.array([clip.probabilities[k] for k in recognizer.labels]) if clip.probabilities else None
    from isyarat.landmarks.media import read_pil_image

    hands = sample.landmarks.hands[0] if sample.landmarks is not None else None
    return recognizer.pixel_probabilities(read_pil_image(sample.path), hands)


def _answer(prediction) -> str | None:
    """The label a prediction gives for scoring: its variant (scored as its sign), its sign, or
    None for no sign and unknown sign."""
    if prediction is None:
        return None
    return prediction.variant or prediction.label


def rejection_report(dataset: Dataset, predictions: list, recognizer) -> dict:
    """How an open-set model treats its own signs and signs outside its vocabulary: the fraction
    of each called "unknown sign" and, for the outside ones, the fraction given a sign anyway
    (a sample without a hand is given no sign)."""
    inside = [p for s, p in zip(dataset.samples, predictions) if s.label in recognizer.labels]
    outside = {}
    for s, p in zip(dataset.samples, predictions):
        if s.label not in recognizer.labels:
            outside.setdefault(s.label, []).append(p)

    def given(items: list) -> float:
        return float(np.mean([p is not None and p.label is not None for p in items])) if items else float("nan")

    def rejected(items: list) -> float:
        return float(np.mean([p is not None and p.unknown for p in items])) if items else float("nan")

    all_outside = [p for items in outside.values() for p in items]
    open_set = recognizer.open_set
    return {"threshold": open_set.threshold, "unknown_class": open_set.unknown_class,
            "in_vocabulary": {"n": len(inside), "rejected": rejected(inside)},
            "out_of_vocabulary": {"n": len(all_outside), "given_a_sign": given(all_outside),
                                  "rejected": rejected(all_outside),
                                  "by_label": {label: {"n": len(items), "given_a_sign": given(items)}
                                               for label, items in sorted(outside.items())}}}
