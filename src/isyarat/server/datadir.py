"""Where the recorder saves samples by default: a per-user data folder, never the folder the
server happens to be started in (which may be a source checkout)."""
from __future__ import annotations

import os
from pathlib import Path


def default_recordings_dir() -> Path:
    """$XDG_DATA_HOME/isyarat/recordings, or ~/.local/share/isyarat/recordings."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "isyarat" / "recordings"
