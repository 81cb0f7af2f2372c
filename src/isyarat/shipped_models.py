"""The bundles shipped inside the package: listing them and finding one by name.

Its own module (not the runtime's) so that evaluation, the CLI and the server can look a model
up without importing each other.
"""
from __future__ import annotations

import json
from pathlib import Path

from isyarat.errors import IsyaratError

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
META_FILE = "bundle.json"


def list_shipped() -> list[dict]:
    """The bundles shipped inside the package: name, sign system, labels, metrics, path."""
    found = []
    for meta_path in sorted(SHIPPED_DIR.glob(f"*/{META_FILE}")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        found.append({"name": meta_path.parent.name, "sign_system": meta.get("sign_system"),
                      "kind": meta.get("features", {}).get("kind"),
                      "input": (meta.get("input") or {}).get("kind", "landmarks"),
                      "labels": meta.get("labels", []), "metrics": meta.get("metrics", {}),
                      "protocols": meta.get("details", {}).get("protocols", {}),
                      "by_source": meta.get("details", {}).get("held_out_by_source", {}),
                      "path": str(meta_path.parent)})
    return found


def resolve_bundle(name_or_path: str | Path) -> Path:
    """A bundle path as given, or the folder of a shipped model of that name."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    shipped = SHIPPED_DIR / str(name_or_path)
    if str(name_or_path) and "/" not in str(name_or_path) and (shipped / META_FILE).is_file():
        return shipped
    names = ", ".join(m["name"] for m in list_shipped()) or "none installed"
    raise IsyaratError(f"{name_or_path}: no bundle at this path and no shipped model of this name "
                       f"(shipped models: {names}); make one with `isyarat export`")
