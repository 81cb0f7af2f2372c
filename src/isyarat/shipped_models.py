"""The bundles shipped inside the package: listing them and finding one by name.

Its own module (not the runtime's) so that evaluation, the CLI and the server can look a model
up without importing each other.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from isyarat.errors import IsyaratError
from isyarat.export.bundle_info import BundleInfo

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
META_FILE = "bundle.json"


@dataclass
class ShippedModel:
    """A bundle shipped inside the package: its name (the folder's), folder and record."""

    name: str
    path: Path
    info: BundleInfo


def list_shipped() -> list[ShippedModel]:
    """The bundles shipped inside the package, by name."""
    found = []
    for meta_path in sorted(SHIPPED_DIR.glob(f"*/{META_FILE}")):
        info = BundleInfo.from_dict(json.loads(meta_path.read_text(encoding="utf-8")))
        found.append(ShippedModel(meta_path.parent.name, meta_path.parent, info))
    return found


def resolve_bundle(name_or_path: str | Path) -> Path:
    """A bundle path as given, or the folder of a shipped model of that name."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    shipped = SHIPPED_DIR / str(name_or_path)
    if str(name_or_path) and "/" not in str(name_or_path) and (shipped / META_FILE).is_file():
        return shipped
    names = ", ".join(m.name for m in list_shipped()) or "none installed"
    raise IsyaratError(f"{name_or_path}: no bundle at this path and no shipped model of this name "
                       f"(shipped models: {names}); make one with `isyarat export`")
