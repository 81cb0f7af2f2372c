"""What isyarat knows about a dataset beyond its files: attribution for model cards, and how its
landmarks were recorded.

Public datasets are described by folder name in sources.yaml; any dataset can carry its own
`dataset.yaml` at its root with the same keys (it wins over sources.yaml). `mirrored: true` says
the landmarks were taken from a mirrored (selfie-view) camera image: they are flipped back when
read, so that a right hand looks like a right hand, as in every other source.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from isyarat.errors import IsyaratError

SOURCES_FILE = Path(__file__).with_name("sources.yaml")
OPTIONS_FILE = "dataset.yaml"


@lru_cache(maxsize=1)
def known_sources() -> dict[str, dict]:
    return yaml.safe_load(SOURCES_FILE.read_text(encoding="utf-8")) or {}


def dataset_options(root: Path) -> dict:
    """sources.yaml's entry for the folder's name, overridden by the folder's own dataset.yaml."""
    root = Path(root)
    folder = root if root.is_dir() else root.parent
    options = dict(known_sources().get(folder.name, {}))
    own = folder / OPTIONS_FILE
    if own.is_file():
        try:
            options.update(yaml.safe_load(own.read_text(encoding="utf-8")) or {})
        except (yaml.YAMLError, TypeError, ValueError) as err:
            raise IsyaratError(f"{own}: not a YAML mapping ({err}); write keys such as 'mirrored: true'") from err
    return options
