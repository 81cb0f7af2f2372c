"""Recording your own signs from the browser: landmark sequences saved as an .npy folder dataset.

Each recording is saved as data_dir/<vocabulary>/<label>/<n>.npy, a float32 (T, 126) array (left
hand 63 values, right hand 63 values, NaN where a hand is absent), which `isyarat train` reads as
the ".npy folder" layout with data_dir/<vocabulary> as the dataset.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from isyarat.server.live import BadMessage, parse_frame

NAME = re.compile(r"[A-Za-z0-9_\- ]{1,64}")
MAX_FRAMES = 600


class Recording(BaseModel):
    vocabulary: str
    label: str
    frames: list


def check_name(value: str, what: str) -> str:
    """Letters, digits, space, dash and underscore only: a name that is safe as one folder name."""
    if not NAME.fullmatch(value) or not value.strip():
        raise HTTPException(400, f"{what} {value!r} may hold only letters, digits, spaces, '-' and '_' (1-64 characters)")
    return value.strip()


def safe_folder(data_dir: Path, *names: str) -> Path:
    """data_dir/names..., refusing any path that resolves outside data_dir."""
    root = data_dir.resolve()
    folder = root.joinpath(*names).resolve()
    if not folder.is_relative_to(root) or folder == root:
        raise HTTPException(400, f"{'/'.join(names)!r} is outside the recordings folder")
    return folder


def frames_array(frames: list) -> np.ndarray:
    """[[left|null, right|null], ...] -> (T, 126) float32, NaN where a hand is absent."""
    if not 1 <= len(frames) <= MAX_FRAMES:
        raise HTTPException(400, f"a recording needs 1 to {MAX_FRAMES} frames, got {len(frames)}")
    try:
        hands = np.stack([parse_frame({"hands": f})[0] for f in frames])
    except BadMessage as err:
        raise HTTPException(400, f"bad frame: {err}") from None
    if np.isnan(hands).all():
        raise HTTPException(400, "no hand in any frame: show your hand to the camera and record again")
    return hands.reshape(len(frames), 126)


def save_sample(folder: Path, array: np.ndarray) -> Path:
    """Write the next free <n>.npy, never overwriting a sample (exclusive create)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(list(folder.glob("*.npy")))
    while True:
        path = folder / f"{n}.npy"
        try:
            with open(path, "xb") as out:
                np.save(out, array)
            return path
        except FileExistsError:
            n += 1


def label_counts(folder: Path) -> dict[str, int]:
    if not folder.is_dir():
        return {}
    return {d.name: len(list(d.glob("*.npy"))) for d in sorted(folder.iterdir()) if d.is_dir()}


def train_command(folder: Path) -> str:
    return f'isyarat train word_lstm --data "{folder}"'


def recorder_router(data_dir: Path) -> APIRouter:
    router = APIRouter()

    @router.post("/api/recordings")
    def add_recording(recording: Recording) -> dict:
        vocabulary = check_name(recording.vocabulary, "vocabulary")
        label = check_name(recording.label, "label")
        array = frames_array(recording.frames)
        folder = safe_folder(data_dir, vocabulary, label)
        path = save_sample(folder, array)
        return {"saved": str(path.relative_to(data_dir.resolve())), "frames": len(array),
                **vocabulary_summary(data_dir, vocabulary)}

    @router.get("/api/recordings")
    def list_vocabularies() -> dict:
        root = data_dir.resolve()
        names = [d.name for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")] \
            if root.is_dir() else []  # .adapted/ holds bundles adapted to a vocabulary (server/adapt.py)
        return {"data_dir": str(root), "vocabularies": [vocabulary_summary(data_dir, n) for n in names]}

    @router.get("/api/recordings/{vocabulary}")
    def show_vocabulary(vocabulary: str) -> dict:
        return vocabulary_summary(data_dir, check_name(vocabulary, "vocabulary"))

    return router


def vocabulary_summary(data_dir: Path, vocabulary: str) -> dict:
    folder = safe_folder(data_dir, vocabulary)
    return {"vocabulary": vocabulary, "path": str(folder), "counts": label_counts(folder),
            "train_command": train_command(folder)}
