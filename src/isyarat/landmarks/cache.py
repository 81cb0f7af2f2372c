"""On-disk landmark cache: one small .npz per (file contents, extraction settings)."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from isyarat.errors import IsyaratError
from isyarat.landmarks.arrays import Landmarks
from isyarat.landmarks.settings import ExtractSettings

# Bump when the stored arrays change meaning, so old entries are no longer found.
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """`$ISYARAT_CACHE`, else ~/.cache/isyarat/landmarks."""
    env = os.environ.get("ISYARAT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "isyarat" / "landmarks"


def file_digest(path: str | Path) -> str:
    """sha256 of the file's bytes, so a renamed or copied file still hits the cache."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise IsyaratError(f"{path}: cannot read the file ({e.strerror}): check the path and permissions") from e
    return digest.hexdigest()


class LandmarkCache:
    """Entries are written to a temporary file and renamed into place, so parallel workers
    (or two runs at once) never see half-written files."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def key(self, path: str | Path, settings: ExtractSettings) -> str:
        content = {"file": file_digest(path), "settings": settings.to_dict(), "version": FORMAT_VERSION}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> Landmarks | None:
        """The cached landmarks, or None when absent or unreadable (then re-extracted)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                return Landmarks(hands=data["hands"], pose=data["pose"] if "pose" in data else None)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None

    def put(self, key: str, landmarks: Landmarks) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"hands": landmarks.hands}
        if landmarks.pose is not None:
            arrays["pose"] = landmarks.pose
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
