"""The canonical landmark table: one row per frame, documented in README and docs/ARCHITECTURE.md.

A table is one .parquet or .csv file, or, for large datasets, a folder of .parquet shards
(part-00000.parquet, ...) read back as one table; a sample's frames never span two shards."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from isyarat.errors import IsyaratError
from isyarat.landmarks.arrays import Landmarks, empty_hands

HAND_COLUMNS = [f"{side}_{axis}{i}" for side in ("left", "right") for i in range(21) for axis in "xyz"]
POSE_COLUMNS = [f"pose_{axis}{i}" for i in range(33) for axis in "xyzv"]
ID_COLUMNS = ["label", "sample_id", "frame"]
SHARD_ROWS = 250_000  # frames per shard of a sharded table (~130 MB of hand columns in memory)
SHARD_GLOB = "*.parquet"


def landmark_rows(lm: Landmarks) -> np.ndarray:
    """(T, 126) or (T, 258): hands flattened left then right, then pose if present."""
    hands = lm.hands.reshape(lm.n_frames, 126)
    if lm.pose is None:
        return hands
    return np.concatenate([hands, lm.pose.reshape(lm.n_frames, 132)], axis=1)


def _layout(samples) -> tuple[list[str], bool]:
    """The metadata columns and whether pose columns are present, for all samples at once."""
    meta_cols = sorted({k for s in samples for k in s.metadata} - set(ID_COLUMNS))
    with_pose = any(s.landmarks is not None and s.landmarks.pose is not None for s in samples)
    return meta_cols, with_pose


def samples_to_table(samples, layout: tuple[list[str], bool] | None = None) -> pd.DataFrame:
    """Samples with landmarks -> the canonical table (metadata columns between ids and landmarks).
    `layout` (metadata columns, with pose) keeps the shards of one table alike."""
    meta_cols, with_pose = layout or _layout(samples)
    columns = HAND_COLUMNS + (POSE_COLUMNS if with_pose else [])
    blocks, ids = [], []
    for s in samples:
        if s.landmarks is None:
            continue
        rows = landmark_rows(s.landmarks)
        if with_pose and rows.shape[1] == 126:
            rows = np.concatenate([rows, np.full((len(rows), 132), np.nan, np.float32)], axis=1)
        blocks.append(rows)
        for t in range(len(rows)):
            ids.append({"label": s.label, "sample_id": s.id, "frame": t, **{c: s.metadata.get(c, "") for c in meta_cols}})
    values = np.concatenate(blocks) if blocks else np.zeros((0, len(columns)), np.float32)
    return pd.concat([pd.DataFrame(ids, columns=ID_COLUMNS + meta_cols),
                      pd.DataFrame(values, columns=columns)], axis=1)


def is_sharded(path: Path) -> bool:
    """A folder, or a path without a suffix, names a folder of Parquet shards."""
    return Path(path).is_dir() or Path(path).suffix == ""


def write_samples(samples, path: Path, shard_rows: int = SHARD_ROWS) -> Path:
    """The table of `samples` at `path`: one file (.parquet, .csv), or a folder of Parquet shards of
    about `shard_rows` frames each (built shard by shard, so memory stays at one shard)."""
    path = Path(path)
    if not is_sharded(path):
        return write_table(samples_to_table(samples), path)
    if path.is_file():
        raise IsyaratError(f"{path} is a file: a sharded table is a folder; give a new folder or a .parquet path")
    path.mkdir(parents=True, exist_ok=True)
    foreign = [p.name for p in path.glob(SHARD_GLOB) if not p.name.startswith("part-")]
    if foreign:
        raise IsyaratError(f"{path} holds other Parquet files ({foreign[0]}): give an empty or new folder")
    for old in path.glob("part-*.parquet"):  # a shorter rewrite must not leave stale shards behind
        old.unlink()
    layout = _layout(samples)
    kept = [s for s in samples if s.landmarks is not None]
    shard, rows, number = [], 0, 0
    for i, sample in enumerate(kept):
        shard.append(sample)
        rows += sample.landmarks.n_frames
        if rows >= shard_rows or i == len(kept) - 1:
            samples_to_table(shard, layout).to_parquet(path / f"part-{number:05d}.parquet", index=False)
            shard, rows, number = [], 0, number + 1
    if not kept:
        samples_to_table([], layout).to_parquet(path / "part-00000.parquet", index=False)
    return path


def write_table(table: pd.DataFrame, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        table.to_csv(path, index=False, float_format="%.6f")
    else:
        raise IsyaratError(f"{path}: a landmark table ends in .csv or .parquet (or is a folder name without "
                           "a suffix, for Parquet shards)")
    return path


def shard_files(folder: Path) -> list[Path]:
    """The Parquet shards of a sharded table folder, in order (empty when it is not one)."""
    folder = Path(folder)
    return sorted(p for p in folder.glob(SHARD_GLOB) if p.is_file()) if folder.is_dir() else []


def _read(path: Path) -> pd.DataFrame:
    if path.is_dir():
        shards = shard_files(path)
        if not shards:
            raise IsyaratError(f"{path}: no .parquet shards in the folder")
        return pd.concat([pd.read_parquet(p) for p in shards], ignore_index=True)
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, low_memory=False)


def read_table(path: Path) -> pd.DataFrame:
    """A .parquet/.csv table, or a folder of .parquet shards read as one table."""
    path = Path(path)
    try:
        table = _read(path)
    except IsyaratError:
        raise
    except Exception as err:  # pandas/pyarrow raise many types for unreadable files
        raise IsyaratError(f"{path}: cannot read the landmark table ({err})") from err
    missing = [c for c in ["label"] + HAND_COLUMNS if c not in table.columns]
    if missing:
        raise IsyaratError(f"{path}: not a landmark table, missing columns {missing[:4]}...; expected "
                           "label, [sample, frame, metadata...], left_x0..left_z20, right_x0..right_z20")
    return check_table(table, path)


def row_name(table: pd.DataFrame, position: int, path: Path) -> str:
    """How a person finds a row: its data row number, and its line in a CSV file (after the header)."""
    line = f" (line {position + 2})" if path.suffix == ".csv" else ""
    return f"row {position + 1}{line}"


def check_table(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Refuse what would train a broken model: a missing label, text in a landmark column, an
    infinite coordinate. Empty cells (NaN) in landmark columns are kept: they mean "no hand"."""
    labels = table["label"]
    blank = labels.isna() | labels.astype(str).str.strip().isin(["", "nan", "NaN", "None"])
    if blank.any():
        at = int(np.flatnonzero(blank.to_numpy())[0])
        raise IsyaratError(f"{path}: {row_name(table, at, path)} has no label ({labels.iloc[at]!r}); every row "
                           f"needs one: fill it in or remove the row ({int(blank.sum())} such rows)")
    columns = [c for c in HAND_COLUMNS + POSE_COLUMNS if c in table.columns]
    numeric = table[columns].apply(pd.to_numeric, errors="coerce")
    text = numeric.isna().to_numpy() & table[columns].notna().to_numpy()
    if text.any():
        at, col = (int(i[0]) for i in np.nonzero(text))
        raise IsyaratError(f"{path}: {row_name(table, at, path)}, column {columns[col]} holds "
                           f"{table[columns[col]].iloc[at]!r}, not a number; fix or remove that row")
    values = numeric.to_numpy(np.float64)
    infinite = np.isinf(values) | (np.abs(np.nan_to_num(values)) > np.finfo(np.float32).max)
    if infinite.any():
        at, col = (int(i[0]) for i in np.nonzero(infinite))
        raise IsyaratError(f"{path}: {row_name(table, at, path)}, column {columns[col]} is {values[at, col]}, not a "
                           "finite coordinate; fix or remove that row (leave a cell empty for a missing hand)")
    table = table.copy()
    table[columns] = numeric
    table["label"] = labels.astype(str)
    return table


def table_landmarks(rows: pd.DataFrame) -> Landmarks:
    """The frames of one sample (rows of the table, in frame order) as Landmarks."""
    hands = rows[HAND_COLUMNS].to_numpy(np.float32).reshape(len(rows), 2, 21, 3)
    pose = None
    if POSE_COLUMNS[0] in rows.columns:
        pose = rows[POSE_COLUMNS].to_numpy(np.float32).reshape(len(rows), 33, 4)
        if np.isnan(pose).all():
            pose = None
    return Landmarks(hands=hands if len(rows) else empty_hands(), pose=pose)


def metadata_columns(table: pd.DataFrame) -> list[str]:
    landmark = set(HAND_COLUMNS) | set(POSE_COLUMNS) | set(ID_COLUMNS)
    return [c for c in table.columns if c not in landmark]
