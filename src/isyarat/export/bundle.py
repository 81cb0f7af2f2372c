"""Bundles: model.onnx + bundle.json + MODEL_CARD.md, as a folder or a .zip archive.

A bundle is everything the runtime needs and nothing it must import from training: the ONNX
model (input `x: (B, *input_shape)`, output logits), the labels, the feature settings the model
was trained with, and a model card saying what it was trained on and how well it did.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort
from torch import nn

from isyarat.errors import IsyaratError
from isyarat.export.model_input import ModelInput
from isyarat.export.motion import MOTION_FILE, MotionPart
from isyarat.export.openset import OpenSet

ort.disable_telemetry_events()  # and ORT_DISABLE_TELEMETRY (isyarat/__init__.py): nothing under ~/.cache
MODEL_FILE, META_FILE, CARD_FILE = "model.onnx", "bundle.json", "MODEL_CARD.md"
MAX_INPUT_VALUES = 10_000_000  # a sample's input: 3x1000x1000 images fit, a claim of 1e12 does not
REQUIRED_KEYS = ("name", "sign_system", "labels", "input_shape", "features", "model", "metrics", "created")


@dataclass
class Bundle:
    """A loaded bundle: its metadata, card and ready-to-run model."""

    path: Path
    name: str
    sign_system: str
    labels: list[str]
    input_shape: tuple[int, ...]
    features: dict
    model_info: dict
    metrics: dict
    created: str
    card: str = ""
    extract: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    model: "OnnxModel | None" = field(default=None, repr=False)
    input: ModelInput = field(default_factory=ModelInput)
    motion: MotionPart | None = None  # motion.onnx: reads a moving hand (letters that move)
    open_set: OpenSet | None = None  # how it says "unknown sign" (None: older bundles never do)

    @property
    def signs(self) -> list[str]:
        """The labels the model can answer: its outputs less the open-set unknown class."""
        unknown = self.open_set.unknown_class if self.open_set is not None else None
        return [label for label in self.labels if label != unknown]

    def summary(self) -> dict:
        """What a user or the web page needs to choose a model."""
        return {"name": self.name, "sign_system": self.sign_system, "labels": self.signs,
                "input_shape": list(self.input_shape), "model": self.model_info.get("name"),
                "metrics": self.metrics, "created": self.created, "input": self.input.kind,
                "open_set": self.open_set is not None}


class OnnxModel:
    """An ONNX classifier on the CPU, one thread per call, returning softmax probabilities."""

    def __init__(self, model: bytes | str | Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        source = str(model) if isinstance(model, Path) else model
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.asarray(x, dtype=np.float32)})[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (B, *input_shape) -> probabilities (B, num_classes)."""
        logits = self.logits(x).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def write_bundle(model: nn.Module, input_shape: tuple[int, ...], labels: list[str], features: dict,
                 sign_system: str, out_dir: str | Path, name: str, model_info: dict,
                 metrics: dict | None = None, card: str = "", extract: dict | None = None,
                 details: dict | None = None, model_input: ModelInput | None = None,
                 motion: tuple[nn.Module, MotionPart] | None = None, open_set: OpenSet | None = None) -> Path:
    """Export `model` to ONNX, check it against PyTorch and write the bundle to `out_dir`
    (a folder, or an archive when the path ends in .zip). `extract` holds the landmark extraction
    settings the training data was read with (border, detection confidence), for the runtime to
    use the same; `details` (cross-validation scores, held-out samples, data sources) is stored
    as it is; `model_input` says what the model reads (landmarks by default, or pixels). `motion`
    (a sequence model and its record) adds motion.onnx, the reader of a moving hand; `open_set`
    says how the model rejects signs outside its vocabulary. Returns the bundle's path."""
    from isyarat.export.onnx_export import check_onnx, export_onnx

    out = Path(out_dir)
    meta = {"name": name, "sign_system": sign_system, "labels": list(labels),
            "input_shape": [int(d) for d in input_shape], "features": features, "model": model_info,
            "metrics": metrics or {}, "extract": extract or {}, "details": details or {},
            "input": (model_input or ModelInput()).to_dict(),
            **({"open_set": open_set.to_dict()} if open_set is not None else {}),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export_onnx(model, tuple(input_shape), folder / MODEL_FILE)
        check_onnx(model, folder / MODEL_FILE, tuple(input_shape))
        if motion is not None:
            motion_model, part = motion
            export_onnx(motion_model, part.input_shape, folder / MOTION_FILE)
            check_onnx(motion_model, folder / MOTION_FILE, part.input_shape)
            meta["motion"] = part.to_dict()
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / CARD_FILE).write_text(card or f"# {name}\n", encoding="utf-8")
        _publish(folder, out)
    return out


def _publish(folder: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    names = [n for n in (MODEL_FILE, META_FILE, CARD_FILE, MOTION_FILE) if (folder / n).is_file()]
    if out.suffix.lower() == ".zip":
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in names:
                archive.write(folder / name, name)
        return
    out.mkdir(exist_ok=True)
    (out / MOTION_FILE).unlink(missing_ok=True)  # a re-export without motion must not keep an old one
    for name in names:
        shutil.copyfile(folder / name, out / name)


def load_bundle(path: str | Path) -> Bundle:
    """Read and check a bundle folder or .zip; a broken one raises IsyaratError naming the problem."""
    path = Path(path).expanduser()
    files = _read_files(path)
    meta = _parse_meta(path, files[META_FILE])
    try:
        model = OnnxModel(files[MODEL_FILE])
    except Exception as err:  # onnxruntime raises several unrelated types for a bad file
        raise _not_a_bundle(path, f"{MODEL_FILE} does not load ({str(err).splitlines()[0]})") from err
    _check_model(path, model, meta)
    motion = _load_motion(path, files, meta)
    return Bundle(path=path, name=meta["name"], sign_system=meta["sign_system"], labels=meta["labels"],
                  input_shape=tuple(meta["input_shape"]), features=meta["features"], model_info=meta["model"],
                  metrics=meta["metrics"], created=meta["created"],
                  card=files.get(CARD_FILE, b"").decode("utf-8", "replace"), extract=meta.get("extract") or {},
                  details=meta.get("details") or {},
                  model=model, input=_model_input(path, meta), motion=motion, open_set=_open_set(path, meta))


def _open_set(path: Path, meta: dict) -> OpenSet | None:
    """The bundle's `open_set` record (absent in older bundles: None), its unknown class one of the labels."""
    try:
        open_set = OpenSet.from_dict(meta.get("open_set"))
        if open_set is not None:
            open_set.check_labels(meta["labels"])
    except IsyaratError as err:
        raise _not_a_bundle(path, f"{META_FILE} 'open_set': {err}") from err
    return open_set


def _load_motion(path: Path, files: dict[str, bytes], meta: dict) -> MotionPart | None:
    """The motion part when bundle.json has one: its record, and motion.onnx checked like model.onnx."""
    if "motion" not in meta:
        return None
    try:
        part = MotionPart.from_dict(meta["motion"])
    except IsyaratError as err:
        raise _not_a_bundle(path, str(err)) from err
    if MOTION_FILE not in files:
        raise _not_a_bundle(path, f"{META_FILE} has a motion model but {MOTION_FILE} is missing")
    unknown = sorted(set(part.labels) - set(meta["labels"]))
    if unknown:
        raise _not_a_bundle(path, f"its motion model knows labels the letter model does not: {', '.join(unknown)}")
    try:
        part.model = OnnxModel(files[MOTION_FILE])
    except Exception as err:  # onnxruntime raises several unrelated types for a bad file
        raise _not_a_bundle(path, f"{MOTION_FILE} does not load ({str(err).splitlines()[0]})") from err
    _check_model(path, part.model, {"input_shape": list(part.input_shape), "labels": part.labels}, MOTION_FILE)
    return part


def _not_a_bundle(path: Path, why: str) -> IsyaratError:
    return IsyaratError(f"{path} is not an isyarat bundle: {why}; re-create it with `isyarat export`")


def _read_files(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        files = {n: (path / n).read_bytes() for n in (MODEL_FILE, META_FILE, CARD_FILE, MOTION_FILE)
                 if (path / n).is_file()}
    elif path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist()) & {MODEL_FILE, META_FILE, CARD_FILE, MOTION_FILE}
            files = {n: archive.read(n) for n in names}
    elif not path.exists():
        raise IsyaratError(f"{path}: no such bundle; give a bundle folder or .zip made by `isyarat export`")
    else:
        raise _not_a_bundle(path, "expected a folder or a .zip archive")
    missing = [n for n in (MODEL_FILE, META_FILE) if n not in files]
    if missing:
        raise _not_a_bundle(path, f"missing {', '.join(missing)}")
    return files


def _parse_meta(path: Path, raw: bytes) -> dict:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _not_a_bundle(path, f"{META_FILE} is not valid JSON ({err})") from err
    if not isinstance(meta, dict):
        raise _not_a_bundle(path, f"{META_FILE} must hold a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise _not_a_bundle(path, f"{META_FILE} lacks {', '.join(missing)}")
    labels, shape = meta["labels"], meta["input_shape"]
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise _not_a_bundle(path, f"{META_FILE} 'labels' must be a non-empty list of strings")
    if not (isinstance(shape, list) and shape and all(isinstance(d, int) and d > 0 for d in shape)):
        raise _not_a_bundle(path, f"{META_FILE} 'input_shape' must be a list of positive integers")
    if int(np.prod(shape, dtype=np.float64)) > MAX_INPUT_VALUES:
        raise _not_a_bundle(path, f"{META_FILE} 'input_shape' {shape} claims more than {MAX_INPUT_VALUES:,} "
                                  "input values per sample")
    if not isinstance(meta["features"], dict) or not isinstance(meta["model"], dict):
        raise _not_a_bundle(path, f"{META_FILE} 'features' and 'model' must be JSON objects")
    return meta


def _model_input(path: Path, meta: dict) -> ModelInput:
    """The bundle's `input` record (absent in older bundles: landmarks), checked against its input_shape."""
    try:
        model_input = ModelInput.from_dict(meta.get("input"))
    except IsyaratError as err:
        raise _not_a_bundle(path, f"{META_FILE} 'input': {err}") from err
    if model_input.pixels and tuple(model_input.image.input_shape) != tuple(meta["input_shape"]):
        raise _not_a_bundle(path, f"its image settings make {model_input.image.input_shape} but the model "
                                  f"takes {tuple(meta['input_shape'])}")
    return model_input


def _check_model(path: Path, model: OnnxModel, meta: dict, file: str = MODEL_FILE) -> None:
    """One forward pass on zeros: the model must take input_shape and give one logit per label."""
    x = np.zeros((1, *meta["input_shape"]), dtype=np.float32)
    try:
        out = model.logits(x)
    except Exception as err:
        raise _not_a_bundle(path, f"{file} does not take input {meta['input_shape']} "
                                  f"({str(err).splitlines()[0]})") from err
    if out.shape != (1, len(meta["labels"])):
        raise _not_a_bundle(path, f"{file} gives {out.shape[-1]} outputs for {len(meta['labels'])} labels")


def read_model_bytes(path: str | Path, file: str = MODEL_FILE) -> bytes | None:
    """An ONNX file of a bundle folder or .zip (model.onnx, or motion.onnx: None when the bundle
    has none), as bytes, for tools that edit the graph."""
    return _read_files(Path(path).expanduser()).get(file)


def write_onnx_bundle(model: bytes, meta: dict, card: str, out_dir: str | Path, motion: bytes | None = None) -> Path:
    """Write an already-built ONNX model (bytes) with its bundle.json fields `meta` and its card to
    `out_dir` (folder or .zip), with the motion model's bytes when `meta` has a motion record.
    The bundle is loaded back from a temporary folder first, so a model that does not fit its
    metadata raises IsyaratError and nothing is written."""
    out = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / MODEL_FILE).write_bytes(model)
        if motion is not None:
            (folder / MOTION_FILE).write_bytes(motion)
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / CARD_FILE).write_text(card, encoding="utf-8")
        load_bundle(folder)
        _publish(folder, out)
    return out
