"""Recording your own signs from the browser: landmark sequences saved as an .npy folder dataset.

Each recording is saved as data_dir/<vocabulary>/<label>/<n>.npy, a float32 (T, 126) array (left
hand 63 values, right hand 63 values, NaN where a hand is absent), which `isyarat train` reads as
the ".npy folder" layout with data_dir/<vocabulary> as the dataset.
"""
from __future__ import annotations

import os
import re
import shlex
import tempfile
from pathlib import Path

import numpy as np
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from isyarat.server.live import BadMessage, parse_frame

NAME = re.compile(r"[A-Za-z0-9_\- ]{1,64}")
SAMPLE_ID = re.compile(r"[A-Za-z0-9_\-]{8,64}")
MAX_FRAMES = 600


class Recording(BaseModel):
    vocabulary: str
    label: str
    frames: list
    sample_id: str | None = None  # the client's id for this take: a retried request saves it once


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


def write_durably(path: Path, array: np.ndarray) -> Path:
    """Save `array` as `path` all at once: written to a temporary file beside it, flushed to disk,
    then linked into place, which fails (FileExistsError) rather than overwrite a sample. A crash
    at any moment leaves either no file or the whole one, never a truncated .npy."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            np.save(out, array)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    sync_folder(path.parent)
    return path


def sync_folder(folder: Path) -> None:
    """Flush the folder entry of a new file, so the file survives a power cut too."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_sample(folder: Path, array: np.ndarray, sample_id: str | None = None) -> tuple[Path, bool]:
    """Write the sample as <sample_id>.npy, or the next free <n>.npy without an id, never
    overwriting one. Returns the path and whether it was new (False: a retry of a saved id)."""
    folder.mkdir(parents=True, exist_ok=True)
    if sample_id is not None:
        path = folder / f"{sample_id}.npy"
        if path.exists():
            return path, False
        try:
            return write_durably(path, array), True
        except FileExistsError:  # the same retry, racing itself
            return path, False
    n = len(list(folder.glob("*.npy")))
    while True:
        try:
            return write_durably(folder / f"{n}.npy", array), True
        except FileExistsError:
            n += 1


def check_sample_id(value: str | None) -> str | None:
    if value is not None and not SAMPLE_ID.fullmatch(value):
        raise HTTPException(400, f"sample_id {value!r} must be 8 to 64 letters, digits, '-' or '_' "
                                 "(a random id the page makes for each take)")
    return value


def label_counts(folder: Path) -> dict[str, int]:
    if not folder.is_dir():
        return {}
    return {d.name: len(list(d.glob("*.npy"))) for d in sorted(folder.iterdir()) if d.is_dir()}


def train_command(folder: Path) -> str:
    """The command that trains a word model on the recorded signs (a shipped recipe, a run folder)."""
    return shlex.join(["isyarat", "train", "isyarat-words", "--data", str(folder), "--out", f"runs/{folder.name}"])


def recorder_router(data_dir: Path) -> APIRouter:
    router = APIRouter()

    @router.post("/api/recordings")
    def add_recording(recording: Recording) -> dict:
        vocabulary = check_name(recording.vocabulary, "vocabulary")
        label = check_name(recording.label, "label")
        sample_id = check_sample_id(recording.sample_id)
        array = frames_array(recording.frames)
        folder = safe_folder(data_dir, vocabulary, label)
        path, new = save_sample(folder, array, sample_id)
        return {"saved": str(path.relative_to(data_dir.resolve())), "frames": len(array), "duplicate": not new,
                **vocabulary_summary(data_dir, vocabulary)}

    @router.get("/api/recordings")
    def list_vocabularies() -> dict:
        root = data_dir.resolve()
        names = [d.name for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")] \
            if root.is_dir() else []  # .adapted/ holds bundles adapted to a vocabulary (server/adapt.py)
        return {"data_dir": shown_root(data_dir), "vocabularies": [vocabulary_summary(data_dir, n) for n in names]}

    @router.get("/api/recordings/{vocabulary}")
    def show_vocabulary(vocabulary: str) -> dict:
        return vocabulary_summary(data_dir, check_name(vocabulary, "vocabulary"))

    return router


def shown_root(data_dir: Path) -> str:
    """The recordings folder as a page may see it, without the absolute path: under the home
    folder as ~/... (the default user data folder; isyarat expands ~ in --data), under the
    server's working folder relative to it, elsewhere its name only."""
    root = data_dir.resolve()
    for base, prefix in ((Path.home().resolve(), "~"), (Path.cwd().resolve(), "")):
        if root.is_relative_to(base) and root != base:
            relative = root.relative_to(base).as_posix()
            return f"{prefix}/{relative}" if prefix else relative
    return root.name


def vocabulary_summary(data_dir: Path, vocabulary: str) -> dict:
    folder = safe_folder(data_dir, vocabulary)
    shown = Path(shown_root(data_dir)) / folder.name
    return {"vocabulary": vocabulary, "path": str(shown), "counts": label_counts(folder),
            "train_command": train_command(shown)}
