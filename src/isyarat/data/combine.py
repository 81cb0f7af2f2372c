"""Several datasets as one training set, and a balanced subset of a large one.

Combining sources (ASL landmark frames with SIBI photos, say) tags every sample with a `source`
metadata column, so reports break results down by source and splits can keep sources apart.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from isyarat.data.layouts import load_dataset
from isyarat.data.samples import Dataset

SOURCE = "source"


def load_datasets(paths: list[str | Path]) -> Dataset:
    """One dataset, or several combined (each sample's `source` is its dataset's folder name)."""
    datasets = [load_dataset(p) for p in paths]
    if len(datasets) == 1:
        return datasets[0]
    samples = []
    for dataset in datasets:
        for sample in dataset:
            sample.metadata = {**sample.metadata, SOURCE: dataset.root.name}
            samples.append(sample)
    return Dataset(root=datasets[0].root, layout="combined", samples=samples)


def source_relative(path: Path, roots: list[Path]) -> str:
    """`<dataset folder>/<path inside it>` for a sample of one of `roots`: how model cards and
    shipped bundles name their held-out samples, whatever folder the data was read from."""
    path = Path(path).resolve()
    for root in roots:
        root = Path(root).resolve()
        base = root if root.is_dir() else root.parent
        if path.is_relative_to(base):
            return f"{base.name}/{path.relative_to(base).as_posix()}"
    return str(path)


def balanced_subset(dataset: Dataset, max_per_class: int) -> Dataset:
    """At most `max_per_class` samples of each label from each source, spread evenly over the
    source's files, so a large frame dump (thousands of near-identical webcam frames) does not
    drown a small photo set. Deterministic: every k-th sample, no randomness."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, sample in enumerate(dataset):
        groups[(sample.metadata.get(SOURCE, ""), sample.label)].append(i)
    keep: list[int] = []
    for indices in groups.values():
        if len(indices) <= max_per_class:
            keep += indices
        else:
            keep += [indices[int(j)] for j in np.linspace(0, len(indices) - 1, max_per_class).round()]
    return dataset.subset(sorted(set(keep)))
