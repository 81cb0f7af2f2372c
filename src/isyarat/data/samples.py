"""Samples and datasets: what every reader returns, whatever the layout on disk."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from isyarat.landmarks.arrays import Landmarks

# kind of a sample's source
IMAGE, VIDEO, LANDMARKS = "image", "video", "landmarks"


@dataclass
class Sample:
    """One labelled example. `path` is the file (or sequence folder) it came from; media samples
    (image, video) get their landmarks from extraction, landmark samples carry them already."""

    label: str
    path: Path
    kind: str
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
    def kind(self) -> str:
        """image, video or landmarks; "mixed" for combined datasets of several kinds."""
        kinds = {s.kind for s in self.samples}
        return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else LANDMARKS)

    def metadata_frame(self) -> pd.DataFrame:
        """One row per sample: id, label and every metadata column."""
        rows = [{"sample": s.id, "label": s.label, **s.metadata} for s in self.samples]
        return pd.DataFrame(rows)

    def subset(self, indices) -> "Dataset":
        return Dataset(self.root, self.layout, [self.samples[i] for i in indices])

    def summary(self) -> str:
        counts = pd.Series([s.label for s in self.samples]).value_counts().sort_index()
        cols = sorted({k for s in self.samples for k in s.metadata})
        return (f"{self.root}: layout={self.layout}, {len(self)} {self.kind} samples, "
                f"{len(counts)} labels ({', '.join(counts.index[:30])}{'...' if len(counts) > 30 else ''}), "
                f"metadata columns: {', '.join(cols) or 'none'}")
