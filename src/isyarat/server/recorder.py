"""Recording your own signs from the browser: landmark sequences saved as an .npy folder dataset.

Each recording is saved as data_dir/<vocabulary>/<label>/<sample_id or n>.npy, a float32 (T, 126)
array (left hand 63 values, right hand 63 values, NaN where a hand is absent), or (T, 258) with
the body pose first (33 x 4 values, as MediaPipe Holistic gives them; the Kata Kolok study's
layout) for a vocabulary recorded with pose. `isyarat train` reads data_dir/<vocabulary> as the
".npy folder" layout; its metadata.csv (path,label,signer,<conditions>) tags every sample with
who recorded it and how, so a split can hold a signer out.
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

from isyarat.server import metadata
from isyarat.server.frames import BadMessage, parse_frame, parse_points

NAME = re.compile(r"[A-Za-z0-9_\- ]{1,64}")
SAMPLE_ID = re.compile(r"[A-Za-z0-9_\-]{8,64}")
MAX_FRAMES = 600
HANDS_VALUES, POSE_VALUES = 126, 258  # values per frame: two hands; pose + two hands


class Recording(BaseModel):
    vocabulary: str
    label: str
    frames: list
    pose: list | None = None  # per frame 33 [x, y, z, visibility] or null: the vocabulary reads the body too
    sample_id: str | None = None  # the client's id for this take: a retried request saves it once
    tags: dict[str, str] = {}  # who recorded it and how: {"signer": "ani", "distance": "1 m"}


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


def frames_array(frames: list, pose: list | None = None) -> np.ndarray:
    """[[left|null, right|null], ...] -> (T, 126) float32, NaN where a hand is absent; with `pose`
    (one entry per frame, null where the body was not found) -> (T, 258), the pose first."""
    if not 1 <= len(frames) <= MAX_FRAMES:
        raise HTTPException(400, f"a recording needs 1 to {MAX_FRAMES} frames, got {len(frames)}")
    try:
        hands = np.stack([parse_frame({"hands": f})[0] for f in frames]).reshape(len(frames), HANDS_VALUES)
    except BadMessage as err:
        raise HTTPException(400, f"bad frame: {err}") from None
    if np.isnan(hands).all():
        raise HTTPException(400, "no hand in any frame: show your hand to the camera and record again")
    if pose is None:
        return hands
    if len(pose) != len(frames):
        raise HTTPException(400, f"pose needs one entry per frame ({len(frames)}), got {len(pose)}")
    try:
        body = np.stack([np.full((33, 4), np.nan, np.float32) if p is None else parse_points(p, 33, 4, "pose")
                         for p in pose]).reshape(len(frames), POSE_VALUES - HANDS_VALUES)
    except BadMessage as err:
        raise HTTPException(400, f"bad pose: {err}") from None
    if np.isnan(body).all():
        raise HTTPException(400, "no body pose in any frame: step back until your shoulders are in view and record again")
    return np.concatenate([body, hands], axis=1)


def recorded_values(folder: Path) -> int | None:
    """Values per frame of the vocabulary's samples (126 hands, 258 pose + hands), None before the first."""
    for sample in sorted(folder.glob("*/*.npy")):
        try:
            shape = np.load(sample, mmap_mode="r", allow_pickle=False).shape
        except (ValueError, OSError, EOFError):
            continue  # an unreadable file says nothing (the data layer skips it too)
        if len(shape) == 2:
            return int(shape[1])
    return None


def check_same_kind(folder: Path, array: np.ndarray) -> None:
    """A vocabulary is recorded all with pose or all without: training needs one size per frame."""
    values = recorded_values(folder)
    if values is not None and values != array.shape[1]:
        had, got = ("with", "without") if values == POSE_VALUES else ("without", "with")
        raise HTTPException(400, f"vocabulary {folder.name!r} was recorded {had} the body pose and this sample "
                                 f"{got}: record it {had} pose (the page's pose switch), or use a new vocabulary name")


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


def train_command(folder: Path, pose: bool) -> str:
    """The command line that trains a word model on the recorded signs and exports it: the same
    steps the page's train button runs (server/training.py)."""
    from isyarat.server.training import train_steps

    name = folder.name
    steps = train_steps(folder, Path("runs") / name, Path("models") / name, pose, model_name(name))
    return " && ".join(shlex.join(["isyarat", *step]) for step in steps)


def model_name(vocabulary: str) -> str:
    """The name a model trained on a vocabulary is served under (a safe folder name too)."""
    return "recorded-" + re.sub(r"[^A-Za-z0-9_\-]", "_", vocabulary)


def recorder_router(data_dir: Path) -> APIRouter:
    router = APIRouter()

    @router.post("/api/recordings")
    def add_recording(recording: Recording) -> dict:
        vocabulary = check_name(recording.vocabulary, "vocabulary")
        label = check_name(recording.label, "label")
        sample_id = check_sample_id(recording.sample_id)
        tags = metadata.check_tags(recording.tags)
        array = frames_array(recording.frames, recording.pose)
        root = safe_folder(data_dir, vocabulary)
        folder = safe_folder(data_dir, vocabulary, label)
        check_same_kind(root, array)
        path, new = save_sample(folder, array, sample_id)
        metadata.add_row(root, path.relative_to(root).as_posix(), label, tags)  # also on a retry: the row is sure
        return {"saved": str(path.relative_to(data_dir.resolve())), "frames": len(array), "duplicate": not new,
                "values": int(array.shape[1]), **vocabulary_summary(data_dir, vocabulary)}

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


def needs_pose(folder: Path) -> bool | None:
    """Whether the vocabulary is recorded with the body pose: as its samples were, else as the
    built-in vocabulary of that name says (Kata Kolok: yes), else None (the page's choice)."""
    values = recorded_values(folder)
    if values is not None:
        return values == POSE_VALUES
    from isyarat.vocab import list_vocabularies, load_vocabulary

    return load_vocabulary(folder.name).pose if folder.name in list_vocabularies() else None


def vocabulary_summary(data_dir: Path, vocabulary: str) -> dict:
    folder = safe_folder(data_dir, vocabulary)
    shown = Path(shown_root(data_dir)) / folder.name
    pose = needs_pose(folder)
    return {"vocabulary": vocabulary, "path": str(shown), "counts": label_counts(folder), "pose": pose,
            "model": model_name(folder.name), "train_command": train_command(shown, bool(pose))}
