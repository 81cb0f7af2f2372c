"""`isyarat adapt`: a bundle + a handful of samples of one new signer -> an adapted bundle.

The samples go through the bundle's own extraction settings and feature code (the Recognizer's),
the bundle's ONNX model turns them into embeddings (the input of its last layer), and a new last
layer is fitted on them (adaptation/fit.py) and written into a copy of the graph
(adaptation/head.py). Samples of a sign the bundle does not know add it as a class; a label
such as `C~2` (a variant of C) is just another new class. The result is an ordinary bundle.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from isyarat.adaptation.fit import FitSettings, fit_head
from isyarat.adaptation.head import read_head, with_embedding_output, with_head
from isyarat.adaptation.layers import finetune_layers
from isyarat.data.layouts import load_dataset
from isyarat.data.samples import Dataset
from isyarat.errors import IsyaratError
from isyarat.export.bundle import Bundle, load_bundle, read_model_bytes, write_onnx_bundle
from isyarat.export.motion import MOTION_FILE
from isyarat.export.openset import OpenSet
from isyarat.features.augment import AugmentConfig, augment
from isyarat.landmarks.arrays import Landmarks
from isyarat.runtime.recognizer import Recognizer, resolve_bundle

FRAMES_PER_RECORDING = 5
LABEL = re.compile(r"\w[\w \-~']{0,63}")
# Milder than training's augmentation: the copies must still look like this one signer.
AUGMENT = AugmentConfig(rotate_deg=8, scale=0.08, shift=0.0, jitter=0.003, finger_dropout=0.0, time_stretch=0.1)


@dataclass
class AdaptationRecord:
    """What an adapted bundle carries in bundle.json `details.adaptation`."""

    base: str
    base_created: str
    base_metrics: dict
    settings: dict
    samples: dict[str, int]
    new_labels: list[str]
    left_out: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AdaptationRecord":
        """Read back from bundle.json, checking the fields and the fit settings."""
        try:
            record = cls(**data)
            FitSettings(**record.settings)
        except TypeError as err:
            raise IsyaratError(f"bad adaptation record in bundle.json ({err}); adapt the bundle again") from err
        return record

    @property
    def fit(self) -> FitSettings:
        return FitSettings(**self.settings)


@dataclass
class Adapted:
    """An adapted model in memory: the ONNX bytes, its labels, and what went into it."""

    model: bytes
    labels: list[str]
    new_labels: list[str]
    samples: dict[str, int]
    seconds: float
    settings: FitSettings = FitSettings()  # as applied: `auto` resolved to the method that ran


def check_label(label: str) -> str:
    """A label the bundle can take: 1-64 letters, digits, spaces, '-', '_', '~' (variants: C~2)."""
    if not isinstance(label, str) or not LABEL.fullmatch(label) or label != label.strip():
        raise IsyaratError(f"label {label!r} cannot be a class: use 1-64 letters, digits, spaces, '-', '_' "
                           "or '~' (a variant such as C~2), starting with a letter or digit; rename its folder")
    return label


def embed(model: onnx.ModelProto, inputs: np.ndarray) -> np.ndarray:
    """The embedding (input of the last layer) of model inputs (N, *input_shape), from the ONNX graph."""
    head = read_head(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(with_embedding_output(model, head), options, providers=["CPUExecutionProvider"])
    (out,) = session.run([head.embedding], {session.get_inputs()[0].name: inputs.astype(np.float32)})
    return out.reshape(len(inputs), -1)


def check_adaptable(bundle: Bundle) -> None:
    """A bundle whose distance gate (open set) is in its graph: the gate knows the old signs only."""
    if bundle.open_set is not None and bundle.open_set.distance is not None:
        raise IsyaratError(f"{bundle.name} says \"unknown sign\" through a distance gate in its model, which "
                           "adaptation cannot extend: retrain its recipe with your samples added to --data "
                           "(isyarat train), or with --set open_set=null for a bundle that can be adapted")


def adapt_model(bundle: Bundle, landmarks: list[Landmarks], labels: list[str],
                settings: FitSettings = FitSettings(), seed: int = 0) -> Adapted:
    """The core, in memory: samples (landmarks with a hand) and their labels -> adapted ONNX model."""
    start = time.perf_counter()
    check_adaptable(bundle)
    for label in sorted(set(labels)):
        check_label(label)
    if not landmarks or len(landmarks) != len(labels):
        raise IsyaratError("adaptation needs at least one sample with a hand for each label")
    recognizer = Recognizer(bundle)
    new_labels = sorted(set(labels) - set(bundle.labels))
    all_labels = [*bundle.labels, *new_labels]
    index = {label: i for i, label in enumerate(all_labels)}
    rng = np.random.default_rng(seed)
    versions = [landmarks] + [[augment(lm, AUGMENT, rng) for lm in landmarks] for _ in range(settings.copies)]
    inputs = np.stack([_features(recognizer, lm) for version in versions for lm in version])
    targets = np.tile([index[label] for label in labels], len(versions))
    model = onnx.load_from_string(read_model_bytes(bundle.path))
    head = read_head(model)
    embeddings = embed(model, inputs)
    settings = settings.resolved(bundle.labels, set(labels))
    if settings.method == "layers":
        adapted = finetune_layers(model, inputs, embeddings, targets, len(all_labels), settings)
    else:
        weight, bias = fit_head(head.weight, head.bias, embeddings, targets, len(all_labels), settings)
        adapted = with_head(model, weight, bias)
    counts = {label: labels.count(label) for label in sorted(set(labels))}
    return Adapted(adapted, all_labels, new_labels, counts, time.perf_counter() - start, settings)


def _features(recognizer: Recognizer, lm: Landmarks) -> np.ndarray:
    x = recognizer.features(lm)
    if x is None:  # an augmented copy cannot lose its hand, but a caller may pass one without
        raise IsyaratError("a sample without a hand reached the adaptation; leave it out")
    return x


def user_samples(recognizer: Recognizer, data: str | Path | Dataset, workers: int = 1,
                 cache_dir: Path | None = None, progress: bool = False) -> tuple[list[Landmarks], list[str], list[str]]:
    """The samples of DATA with a hand, in the bundle's extraction settings and features:
    (landmarks, labels, paths left out because no hand was found or they could not be read)."""
    from isyarat.landmarks.extract import extract_dataset

    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    for label in dataset.labels:
        check_label(label)
    result = extract_dataset(dataset, recognizer.extract_settings, workers=workers, cache_dir=cache_dir,
                             progress=progress)
    kept, left_out = [], [path for path, _reason in result.summary.failures]
    for sample in result.dataset:
        if sample.landmarks is not None and recognizer.features(sample.landmarks) is not None:
            kept += [replace(sample, landmarks=lm) for lm in as_frames(sample.landmarks, recognizer)]
        else:
            left_out.append(str(sample.path))
    missing = [label for label in dataset.labels if not any(s.label == label for s in kept)]
    if missing:
        counts = {label: sum(s.label == label for s in dataset) for label in missing}
        detail = ", ".join(f"'{label}' ({n} sample{'s' * (n != 1)})" for label, n in counts.items())
        raise IsyaratError(f"{dataset.root}: no hand was found in any sample of {detail}; record or photograph "
                           "those signs again with the whole hand in view")
    return [s.landmarks for s in kept], [s.label for s in kept], left_out


def as_frames(lm: Landmarks, recognizer: Recognizer) -> list[Landmarks]:
    """A recording given to a frame model: up to FRAMES_PER_RECORDING of its frames with a hand,
    evenly spaced, each one sample (a frame model reads one frame; a recorded letter holds many)."""
    if recognizer.config.shape != "frame" or lm.n_frames == 1:
        return [lm]
    frames = [t for t in range(lm.n_frames) if recognizer.features(_frame(lm, t)) is not None]
    picked = np.linspace(0, len(frames) - 1, min(FRAMES_PER_RECORDING, len(frames))).round().astype(int)
    return [_frame(lm, frames[i]) for i in picked]


def _frame(lm: Landmarks, t: int) -> Landmarks:
    return Landmarks(lm.hands[t:t + 1], None if lm.pose is None else lm.pose[t:t + 1])


def adapt_bundle(bundle: str | Path, data: str | Path | Dataset, out: str | Path, name: str | None = None,
                 settings: FitSettings = FitSettings(), workers: int = 1, cache_dir: Path | None = None,
                 progress: bool = False) -> tuple[Path, AdaptationRecord]:
    """Adapt BUNDLE (a path or shipped name) to the signer of DATA and write the adapted bundle
    to OUT (a folder, or a .zip). Checks everything before writing: on an error nothing is written."""
    base_path = resolve_bundle(bundle)
    out = Path(out).expanduser()
    _check_out(out, base_path)
    base = load_bundle(base_path)
    check_adaptable(base)  # before any extraction
    recognizer = _recognizer(base)
    landmarks, labels, left_out = user_samples(recognizer, data, workers, cache_dir, progress)
    adapted = adapt_model(base, landmarks, labels, settings)
    record = AdaptationRecord(base=base.name, base_created=base.created, base_metrics=base.metrics,
                              settings=adapted.settings.to_dict(), samples=adapted.samples, new_labels=adapted.new_labels,
                              left_out=left_out, seconds=round(adapted.seconds, 3))
    name = name or f"{base.name}-adapted"
    info = replace(base.info, name=name, labels=adapted.labels, metrics={},
                   model=replace(base.info.model, adapted_from=base.name),
                   details={**base.details, "adaptation": record.to_dict()},
                   created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   # its unknown class stays "unknown", never a sign; the threshold was set for the old head
                   open_set=OpenSet(unknown_class=base.open_set.unknown_class)
                   if base.open_set is not None and base.open_set.unknown_class else None)
    # moving letters stay read by the base's motion model (info.motion is the base's)
    write_onnx_bundle(adapted.model, info, adapted_card(base, name, record), out,
                      motion=read_model_bytes(base_path, MOTION_FILE) if base.motion is not None else None)
    return out, record


def _recognizer(bundle: Bundle) -> Recognizer:
    try:
        return Recognizer(bundle)
    except (IsyaratError, TypeError) as err:
        raise IsyaratError(f"{bundle.path}: only landmark bundles can be adapted ({err})") from err


def _check_out(out: Path, base: Path) -> None:
    if out.resolve() == base.resolve():
        raise IsyaratError(f"--out {out} is the bundle being adapted; write the adapted bundle elsewhere")
    if out.is_dir() and any(out.iterdir()) and not (out / "bundle.json").is_file():
        raise IsyaratError(f"--out {out} is a folder holding other files; give a new folder (or .zip) name")
    if out.exists() and not out.is_dir() and out.suffix.lower() != ".zip":
        raise IsyaratError(f"--out {out} is a file; give a folder or a path ending in .zip")


def adapted_card(base: Bundle, name: str, record: AdaptationRecord) -> str:
    """The base model's card, renamed, with a section saying how it was adapted."""
    card = base.card or f"# {base.name}\n"
    lines = card.splitlines()
    if lines and lines[0].startswith("# "):
        lines[0] = f"# {name}"
    samples = ", ".join(f"{label} {n}" for label, n in record.samples.items())
    section = [
        "", "## Adapted to one signer", "",
        f"Adapted from `{record.base}` (created {record.base_created}) with `isyarat adapt` on "
        f"{sum(record.samples.values())} samples of one signer ({samples}).",
        f"New classes: {', '.join(record.new_labels) or 'none'}. {_what_changed(record.fit)} Its features and "
        "extraction settings are the base model's.",
        "The scores above are the base model's, measured before adaptation; the adapted model has no held-out "
        "score of its own (every sample went into the adaptation). `bench/adaptation.py` measures what "
        "adaptation gains on signers never seen in training.", "",
    ]
    return "\n".join(lines + section)


def _what_changed(fit: FitSettings) -> str:
    if fit.method == "layers":
        return (f"The last {fit.layers} weighted layers were fine-tuned (method layers: every sign was recorded); "
                "the layers before them are the base model's.")
    return (f"Only the last layer was refit ({fit.method}); the rest of the model is the base model's, so signs "
            "that were not recorded keep the base model's knowledge.")
