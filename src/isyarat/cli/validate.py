"""Checks of command-line values made before any work starts, so a wrong path or number is one
line naming it and the fix, not a traceback after minutes of extraction."""
from __future__ import annotations

from pathlib import Path

from isyarat.errors import IsyaratError


def out_folder(path: Path, flag: str = "--out") -> Path:
    """A folder to write into: it may exist as a folder, never as a file (nor inside one)."""
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise IsyaratError(f"{flag} {path}: {part} is a file, not a folder; give a new folder path")
    return path


def out_file(path: Path, suffixes: tuple[str, ...], flag: str = "--out") -> Path:
    """A file to write: with one of `suffixes`, not an existing folder, its parent not a file."""
    if path.is_dir():
        raise IsyaratError(f"{flag} {path}: is a folder; give a file path ending in {' or '.join(suffixes)}")
    if path.suffix.lower() not in suffixes:
        raise IsyaratError(f"{flag} {path}: the file name must end in {' or '.join(suffixes)}")
    out_folder(path.parent, flag)
    return path


def shard_folder(path: Path, flag: str = "--out") -> Path:
    """A new folder for a table written as Parquet shards (part-NNNNN.parquet): never one that
    holds other files, which a re-run would mix with the table."""
    out_folder(path, flag)
    if path.is_dir() and any(not p.name.startswith("part-") for p in path.iterdir()):
        raise IsyaratError(f"{flag} {path}: is a folder that holds other files; give a new folder for the "
                           "table's Parquet shards, or a file path ending in .parquet or .csv")
    return path


def cache_folder(path: Path | None) -> Path | None:
    if path is not None:
        out_folder(path, "--cache")
    return path


def at_least(value: int | None, minimum: int, flag: str) -> int | None:
    if value is not None and value < minimum:
        raise IsyaratError(f"{flag} {value}: it must be at least {minimum}")
    return value
