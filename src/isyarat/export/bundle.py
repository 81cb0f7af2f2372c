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
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort
from torch import nn

from isyarat.errors import IsyaratError
from isyarat.export.bundle_info import BundleInfo
from isyarat.export.model_input import ModelInput
from isyarat.export.motion import MOTION_FILE, MotionPart
from isyarat.export.openset import OpenSet

ort.disable_telemetry_events()  # and ORT_DISABLE_TELEMETRY (isyarat/__init__.py): nothing under ~/.cache
MODEL_FILE, META_FILE, CARD_FILE = "model.onnx", "bundle.json", "MODEL_CARD.md"


@dataclass
class Bundle:
    """A loaded bundle: its record (bundle.json), card and ready-to-run model."""

    path: Path
    info: BundleInfo
    card: str = ""
    model: "OnnxModel | None" = field(default=None, repr=False)

    name = property(lambda self: self.info.name)
    sign_system = property(lambda self: self.info.sign_system)
    labels = property(lambda self: self.info.labels)
    input_shape = property(lambda self: self.info.input_shape)
    features = property(lambda self: self.info.features)
    metrics = property(lambda self: self.info.metrics)
    created = property(lambda self: self.info.created)
    extract = property(lambda self: self.info.extract)
    details = property(lambda self: self.info.details)
    input = property(lambda self: self.info.input)
    motion = property(lambda self: self.info.motion)  # motion.onnx: reads a moving hand (letters that move)
    open_set = property(lambda self: self.info.open_set)  # how it says "unknown sign" (None: older bundles never do)

    @property
    def signs(self) -> list[str]:
        """The labels the model can answer: its outputs less the open-set unknown class."""
        unknown = self.open_set.unknown_class if self.open_set is not None else None
        return [label for label in self.labels if label != unknown]

    def summary(self) -> dict:
        """What a user or the web page needs to choose a model."""
        return {"name": self.name, "sign_system": self.sign_system, "labels": self.signs,
                "input_shape": list(self.input_shape), "model": self.info.model.name,
                "metrics": self.metrics, "created": self.created, "input": self.input.reads,
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
    """`save_bundle` with the record given field by field as bundle.json spells them (`features`,
    `model_info` and `extract` as dicts), checked the same way."""
    info = BundleInfo.from_dict({
        "name": name, "sign_system": sign_system, "labels": list(labels), "input_shape": [int(d) for d in input_shape],
        "features": features, "model": model_info, "metrics": metrics or {}, "extract": extract or {},
        "details": details or {}, "input": (model_input or ModelInput()).to_dict(), "created": "",
        "motion": None if motion is None else motion[1].to_dict(),
        "open_set": None if open_set is None else open_set.to_dict()})
    return save_bundle(model, info, out_dir, card, None if motion is None else motion[0])


def save_bundle(model: nn.Module, info: BundleInfo, out_dir: str | Path, card: str = "",
                motion_model: nn.Module | None = None) -> Path:
    """Export `model` to ONNX, check it against PyTorch and write the bundle with its record
    `info` (`created` is set now) to `out_dir` (a folder, or an archive when the path ends in
    .zip). `motion_model`, the sequence model `info.motion` describes, becomes motion.onnx, the
    reader of a moving hand. Returns the bundle's path."""
    from isyarat.export.onnx_export import check_onnx, export_onnx

    out = Path(out_dir)
    info = replace(info, created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if (motion_model is None) != (info.motion is None):
        raise IsyaratError("a motion model needs its record (BundleInfo.motion) and the other way round")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export_onnx(model, info.input_shape, folder / MODEL_FILE)
        check_onnx(model, folder / MODEL_FILE, info.input_shape)
        if motion_model is not None:
            export_onnx(motion_model, info.motion.input_shape, folder / MOTION_FILE)
            check_onnx(motion_model, folder / MOTION_FILE, info.motion.input_shape)
        _write_record(folder, info, card or f"# {info.name}\n")
        _publish(folder, out)
    return out


def _write_record(folder: Path, info: BundleInfo, card: str) -> None:
    (folder / META_FILE).write_text(json.dumps(info.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / CARD_FILE).write_text(card, encoding="utf-8")


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
    info = _parse_meta(path, files[META_FILE])
    try:
        model = OnnxModel(files[MODEL_FILE])
    except Exception as err:  # onnxruntime raises several unrelated types for a bad file
        raise _not_a_bundle(path, f"{MODEL_FILE} does not load ({str(err).splitlines()[0]})") from err
    _check_model(path, model, info.input_shape, info.labels)
    if info.motion is not None:
        info.motion.model = _load_motion(path, files, info.motion)
    return Bundle(path=path, info=info, card=files.get(CARD_FILE, b"").decode("utf-8", "replace"), model=model)


def _load_motion(path: Path, files: dict[str, bytes], part: MotionPart) -> OnnxModel:
    """motion.onnx, checked like model.onnx against its record."""
    if MOTION_FILE not in files:
        raise _not_a_bundle(path, f"{META_FILE} has a motion model but {MOTION_FILE} is missing")
    try:
        model = OnnxModel(files[MOTION_FILE])
    except Exception as err:  # onnxruntime raises several unrelated types for a bad file
        raise _not_a_bundle(path, f"{MOTION_FILE} does not load ({str(err).splitlines()[0]})") from err
    _check_model(path, model, part.input_shape, part.labels, MOTION_FILE)
    return model


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


def _parse_meta(path: Path, raw: bytes) -> BundleInfo:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _not_a_bundle(path, f"{META_FILE} is not valid JSON ({err})") from err
    try:
        return BundleInfo.from_dict(meta)
    except IsyaratError as err:
        raise _not_a_bundle(path, f"{META_FILE}: {err}") from err


def _check_model(path: Path, model: OnnxModel, input_shape: tuple[int, ...], labels: list[str],
                 file: str = MODEL_FILE) -> None:
    """One forward pass on zeros: the model must take input_shape and give one logit per label."""
    x = np.zeros((1, *input_shape), dtype=np.float32)
    try:
        out = model.logits(x)
    except Exception as err:
        raise _not_a_bundle(path, f"{file} does not take input {list(input_shape)} "
                                  f"({str(err).splitlines()[0]})") from err
    if out.shape != (1, len(labels)):
        raise _not_a_bundle(path, f"{file} gives {out.shape[-1]} outputs for {len(labels)} labels")


def read_model_bytes(path: str | Path, file: str = MODEL_FILE) -> bytes | None:
    """An ONNX file of a bundle folder or .zip (model.onnx, or motion.onnx: None when the bundle
    has none), as bytes, for tools that edit the graph."""
    return _read_files(Path(path).expanduser()).get(file)


def write_onnx_bundle(model: bytes, info: BundleInfo, card: str, out_dir: str | Path,
                      motion: bytes | None = None) -> Path:
    """Write an already-built ONNX model (bytes) with its record `info` and its card to `out_dir`
    (folder or .zip), with the motion model's bytes when `info` has a motion record. The bundle
    is loaded back from a temporary folder first, so a model that does not fit its record raises
    IsyaratError and nothing is written."""
    out = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / MODEL_FILE).write_bytes(model)
        if motion is not None:
            (folder / MOTION_FILE).write_bytes(motion)
        _write_record(folder, info, card)
        load_bundle(folder)
        _publish(folder, out)
    return out
