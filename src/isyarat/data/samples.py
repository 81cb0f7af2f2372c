"""Samples and datasets: what every reader returns, whatever the layout on disk."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from isyarat.landmarks.arrays import Landmarks

# a sample's media: what its source file holds
IMAGE, VIDEO, LANDMARKS = "image", "video", "landmarks"
# the files every command reads as photos and videos (datasets, `recognize`, `evaluate`, uploads):
# the image formats media.decode_image reads, the containers media.check_video accepts (.mkv is WebM's)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})


def media_of(path: str | Path) -> str | None:
    """IMAGE, VIDEO or None, by the file's extension."""
    suffix = Path(path).suffix.lower()
    return IMAGE if suffix in IMAGE_SUFFIXES else VIDEO if suffix in VIDEO_SUFFIXES else None


@dataclass
class Sample:
    """One labelled example. `path` is the file (or sequence folder) it came from; media samples
    (image, video) get their landmarks from extraction, landmark samples carry them already."""

    label: str
    path: Path
    media: str
    metadata: dict[str, str] = field(default_factory=dict)
    landmarks: Landmarks | None = None

    @property
    def id(self) -> str:
        return str(self.path)


@dataclass
class Dataset:
    root: Path
    layout: str
    samples: list[Sample]

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    @property
    def labels(self) -> list[str]:
        return sorted({s.label for s in self.samples})

    @property
    def media(self) -> str:
        """image, video or landmarks; "mixed" for combined datasets of several media."""
        media = {s.media for s in self.samples}
        return media.pop() if len(media) == 1 else ("mixed" if media else LANDMARKS)

    def metadata_frame(self) -> pd.DataFrame:
        """One row per sample: id, label and every metadata column."""
        rows = [{"sample": s.id, "label": s.label, **s.metadata} for s in self.samples]
        return pd.DataFrame(rows)

    def subset(self, indices) -> "Dataset":
        return Dataset(self.root, self.layout, [self.samples[i] for i in indices])

    def summary(self) -> str:
        counts = pd.Series([s.label for s in self.samples]).value_counts().sort_index()
        cols = sorted({k for s in self.samples for k in s.metadata})
        return (f"{self.root}: layout={self.layout}, {len(self)} {self.media} samples, "
                f"{len(counts)} labels ({', '.join(counts.index[:30])}{'...' if len(counts) > 30 else ''}), "
                f"metadata columns: {', '.join(cols) or 'none'}")
