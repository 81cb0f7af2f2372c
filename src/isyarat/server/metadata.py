"""The recorder's metadata.csv: who recorded each sample and how (signer, distance, light ...).

data_dir/<vocabulary>/metadata.csv has the columns path,label,signer,<conditions>, the format
isyarat.data.layouts reads for every dataset: `path` relative to the vocabulary folder, one row
per sample, an empty cell where a sample has no value. The file is rewritten whole (temporary
file, fsync, rename) under a lock, so a crash leaves the old or the new file, never half of one.
"""
from __future__ import annotations

import csv
import fcntl
import io
import os
import re
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from fastapi import HTTPException

FILE = "metadata.csv"
TAG_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
TAG_VALUE = re.compile(r"[\w .,'\-]{0,64}")
FIXED = ("path", "label")
MAX_TAGS = 8
_lock = threading.Lock()  # one writer per process; flock below covers `serve --workers N`


def check_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tag names are short lower-case column names (signer, distance ...); values short text."""
    if len(tags) > MAX_TAGS:
        raise HTTPException(400, f"{len(tags)} tags: give at most {MAX_TAGS} (signer and a few conditions)")
    clean = {}
    for name, value in tags.items():
        if not TAG_NAME.fullmatch(str(name)) or name in FIXED:
            raise HTTPException(400, f"tag name {name!r} must be a lower-case word (a-z, 0-9, _), like signer or "
                                     "distance, and not path or label")
        if not isinstance(value, str) or not TAG_VALUE.fullmatch(value):
            raise HTTPException(400, f"tag {name}={value!r}: use up to 64 letters, digits, spaces and . , ' - _")
        clean[name] = value.strip()
    return clean


@contextmanager
def locked(folder: Path):
    with _lock, open(folder / ".metadata.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_rows(folder: Path) -> tuple[list[str], list[dict[str, str]]]:
    path = folder / FILE
    if not path.is_file():
        return ["path", "label", "signer"], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or ["path", "label", "signer"]), list(reader)


def add_row(folder: Path, sample: str, label: str, tags: dict[str, str]) -> None:
    """Add (or replace) the row of `sample` (its path in the vocabulary folder)."""
    with locked(folder):
        columns, rows = read_rows(folder)
        columns += [name for name in tags if name not in columns]
        rows = [r for r in rows if r.get("path") != sample]
        rows.append({"path": sample, "label": label, **tags})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        replace_durably(folder / FILE, text.getvalue().encode("utf-8"))


def replace_durably(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
