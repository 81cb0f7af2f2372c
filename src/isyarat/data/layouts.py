"""Read the dataset layouts people actually have, detected automatically.

1. image folder     <label>/*.jpg|jpeg|png|bmp|webp  (data.samples.IMAGE_SUFFIXES)
2. video folder     <label>/*.mp4|avi|mov|mkv|webm   (data.samples.VIDEO_SUFFIXES)
3. landmark table   a .csv or .parquet file in the canonical schema, or a folder of
                    .parquet shards of one (written by `isyarat extract --out FOLDER`)
4. .npy folder      <label>/*.npy (63 or 126 values, or a (T, F) array)
5. sequence folder  <label>/<sequence>/<frame>.npy
The label folders may sit directly in the dataset root or in one sub-folder of it
(images/, videos/, raw_gestures/ ...). An optional metadata.csv (path,label,<columns>) at the
root attaches conditions (signer, background, group ...) and may override folder labels.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from isyarat.data.samples import IMAGE, IMAGE_SUFFIXES, LANDMARKS, VIDEO, VIDEO_SUFFIXES, Dataset, Sample
from isyarat.data.sources import dataset_options
from isyarat.data.table import metadata_columns, read_table, shard_files, table_landmarks
from isyarat.errors import IsyaratError
from isyarat.landmarks.arrays import Landmarks, from_flat
from isyarat.landmarks.mirror import mirror_x

TABLE_EXT = {".csv", ".parquet"}
LAYOUTS_HELP = (f"expected one of: <label>/*{'|'.join(sorted(s[1:] for s in IMAGE_SUFFIXES))} (images), "
                f"<label>/*{'|'.join(sorted(s[1:] for s in VIDEO_SUFFIXES))} (videos), "
                "<label>/*.npy (landmarks), <label>/<sequence>/<frame>.npy (sequences), "
                "or a .csv/.parquet landmark table (or a folder of .parquet shards)")


def natural_key(path: Path) -> list:
    """Sort frame_2 before frame_10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def load_dataset(path: str | Path) -> Dataset:
    """Detect the layout of `path` and read it into a Dataset."""
    root = Path(path).expanduser()
    if not root.exists():
        raise IsyaratError(f"{root}: no such file or folder; give a dataset folder or landmark table")
    if root.is_file():
        if root.suffix.lower() not in TABLE_EXT:
            raise IsyaratError(f"{root}: unknown dataset file; {LAYOUTS_HELP}")
        return _read_table_dataset(root)
    if shard_files(root) and not _subdirs(root):
        return _read_table_dataset(root)
    label_dirs = _find_label_dirs(root)
    layout = _detect_layout(root, label_dirs)
    samples, skipped = _read_folder(label_dirs, layout)
    if skipped and not samples:
        raise IsyaratError(f"{root}: no readable sample; {skipped[0]}"
                           f"{f' (and {len(skipped) - 1} more)' if len(skipped) > 1 else ''}")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable sample(s): {'; '.join(skipped[:3])}"
                      f"{'; ...' if len(skipped) > 3 else ''}")
    dataset = Dataset(root=root, layout=layout, samples=samples)
    _attach_metadata(dataset)
    if not dataset.samples:
        raise IsyaratError(f"{root}: the dataset is empty; {LAYOUTS_HELP}")
    if dataset_options(root).get("mirrored"):
        _unmirror(dataset)
    return dataset


def _unmirror(dataset: Dataset) -> None:
    """Flip x of landmarks recorded from a mirrored (selfie-view) image back to the un-mirrored
    image's coordinates (hand slots are kept: they name the signer's own hands)."""
    if dataset.layout in ("images", "videos"):
        raise IsyaratError(f"{dataset.root}: 'mirrored' applies to landmark datasets; for photos and videos "
                           "set the extraction setting mirrored: true in the recipe instead")
    for sample in dataset:
        lm = sample.landmarks
        sample.landmarks = Landmarks(hands=mirror_x(lm.hands), pose=None if lm.pose is None else mirror_x(lm.pose))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _find_label_dirs(root: Path) -> list[Path]:
    dirs = _subdirs(root)
    if not dirs:
        raise IsyaratError(f"{root}: no label folders found; {LAYOUTS_HELP}")
    # One container folder (images/, videos/, raw_gestures/) holding the label folders.
    if len(dirs) == 1 and _subdirs(dirs[0]) and not _has_files(dirs[0]):
        inner = _subdirs(dirs[0])
        if any(_has_files(d) or _subdirs(d) for d in inner):
            return inner
    return dirs


def _has_files(folder: Path) -> bool:
    return any(p.is_file() and not p.name.startswith(".") for p in folder.iterdir())


def _detect_layout(root: Path, label_dirs: list[Path]) -> str:
    exts: set[str] = set()
    nested = False
    for d in label_dirs:
        for p in d.iterdir():
            if p.name.startswith("."):
                continue
            if p.is_dir():
                nested = True
            else:
                exts.add(p.suffix.lower())
    if nested and not exts:
        return "sequences"
    known = {"images": IMAGE_SUFFIXES, "videos": VIDEO_SUFFIXES, "npy": {".npy"}}
    found = [name for name, group in known.items() if exts & group]
    if len(found) == 1:
        return found[0]
    if not found:
        raise IsyaratError(f"{root}: no images, videos or .npy files in its label folders; {LAYOUTS_HELP}")
    raise IsyaratError(f"{root}: mixes {' and '.join(found)} in its label folders; keep one media type per dataset")


def _read_folder(label_dirs: list[Path], layout: str) -> tuple[list[Sample], list[str]]:
    """The samples of every label folder, and why each unreadable .npy (zero bytes after a crash,
    damaged, frames of mixed sizes) was skipped: one bad file does not refuse the vocabulary."""
    samples: list[Sample] = []
    skipped: list[str] = []
    for d in label_dirs:
        if layout == "sequences":
            for seq in sorted(_subdirs(d), key=natural_key):
                frames = sorted((f for f in seq.glob("*.npy") if not f.name.startswith(".")), key=natural_key)
                if frames:
                    try:
                        lm = _sequence_landmarks(seq, frames)
                    except IsyaratError as err:
                        skipped.append(str(err))
                        continue
                    samples.append(Sample(d.name, seq, LANDMARKS, landmarks=lm))
            continue
        ext = {"images": IMAGE_SUFFIXES, "videos": VIDEO_SUFFIXES, "npy": {".npy"}}[layout]
        media = {"images": IMAGE, "videos": VIDEO, "npy": LANDMARKS}[layout]
        for f in sorted((p for p in d.iterdir() if p.suffix.lower() in ext and not p.name.startswith(".")),
                        key=natural_key):
            try:
                lm = _npy_landmarks(f) if media == LANDMARKS else None
            except IsyaratError as err:
                skipped.append(str(err))
                continue
            samples.append(Sample(d.name, f, media, landmarks=lm))
    return samples, skipped


def _sequence_landmarks(seq: Path, frames: list[Path]) -> Landmarks:
    arrays = [_load_npy(f).reshape(-1) for f in frames]
    sizes = sorted({a.size for a in arrays})
    if len(sizes) > 1:
        raise IsyaratError(f"{seq}: its frames hold different numbers of values ({', '.join(map(str, sizes))}); "
                           "every frame of a sequence needs the same size")
    try:
        return from_flat(np.stack(arrays))
    except ValueError as err:
        raise IsyaratError(f"{seq}: {err}") from None


def _load_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        why = "empty file" if path.stat().st_size == 0 else str(err).splitlines()[0][:80]
        raise IsyaratError(f"{path}: unreadable .npy file ({why}); remove or re-save it") from None
    if not np.issubdtype(array.dtype, np.number):
        raise IsyaratError(f"{path}: holds {array.dtype} values, not numbers; remove or re-save it")
    with np.errstate(invalid="ignore"):
        if np.isinf(array).any():
            raise IsyaratError(f"{path}: holds infinite values; remove or re-save it (NaN marks a missing hand)")
    return array


def _npy_landmarks(path: Path):
    try:
        return from_flat(_load_npy(path))
    except (ValueError, TypeError) as err:
        raise IsyaratError(f"{path}: {err}") from None


def _attach_metadata(dataset: Dataset) -> None:
    meta_path = dataset.root / "metadata.csv"
    if not meta_path.is_file():
        return
    try:
        meta = pd.read_csv(meta_path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise IsyaratError(f"{meta_path}: not a readable CSV text file ({str(err).splitlines()[0][:80]}); "
                           "fix it (columns path,label,...) or remove it") from None
    if not {"path", "label"} <= set(meta.columns):
        raise IsyaratError(f"{meta_path}: needs the columns path,label (then any condition columns)")
    blank = [i for i, label in enumerate(meta["label"]) if not str(label).strip() or str(label) in ("nan", "NaN")]
    if blank:
        raise IsyaratError(f"{meta_path}: line {blank[0] + 2} has no label; fill it in or remove the row")
    rows = {str(Path(p)): r for p, r in zip(meta["path"], meta.to_dict("records"))}
    if len(rows) < len(meta):
        warnings.warn(f"{meta_path}: {len(meta) - len(rows)} paths are listed twice; the last row of each is used")
    matched = 0
    for s in dataset.samples:
        row = rows.get(str(s.path.relative_to(dataset.root)))
        if row is None:
            continue
        matched += 1
        s.label = row["label"]
        s.metadata = {k: v for k, v in row.items() if k not in ("path", "label")}
    if matched < len(dataset.samples):
        warnings.warn(f"{meta_path}: {len(dataset.samples) - matched} samples have no metadata row")
    if matched < len(rows):
        warnings.warn(f"{meta_path}: {len(rows) - matched} rows name files that are not in the dataset")


def _read_table_dataset(path: Path) -> Dataset:
    table = read_table(path)
    if "sample_id" not in table.columns:
        table = table.assign(sample_id=[f"{path.name}#{i}" for i in range(len(table))])
    if "frame" not in table.columns:
        table = table.assign(frame=0)
    meta_cols = metadata_columns(table)
    samples = []
    for sample_id, rows in table.groupby("sample_id", sort=False):
        rows = rows.sort_values("frame")
        first = rows.iloc[0]
        meta = {c: "" if pd.isna(first[c]) else str(first[c]) for c in meta_cols}
        samples.append(Sample(str(first["label"]), Path(str(sample_id)), LANDMARKS, meta, table_landmarks(rows)))
    if not samples:
        raise IsyaratError(f"{path}: the landmark table has no rows")
    return Dataset(root=path, layout="table", samples=samples)
