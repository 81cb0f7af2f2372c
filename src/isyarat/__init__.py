"""isyarat: Indonesian sign language recognition.

The Python API (the CLI's verbs, same names and arguments): `isyarat.train`, `isyarat.evaluate`,
`isyarat.export`, `isyarat.Recognizer` (`Recognizer.load(name_or_bundle).predict(path)`) and
`isyarat.load_recipe`. They are imported on first use, so `import isyarat` stays cheap.
"""
from __future__ import annotations

import os as _os

from typing import Any

# ONNX Runtime writes a device id and a telemetry database under ~/.cache when it is imported
# (before any of our code runs); isyarat writes only in the folders it is given.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
__all__ = ["Recognizer", "evaluate", "export", "load_recipe", "train"]

_LAZY = {
    "train": ("isyarat.api", "train"),
    "evaluate": ("isyarat.api", "evaluate"),
    "export": ("isyarat.export", None),  # the export package, callable as the API's export()
    "Recognizer": ("isyarat.runtime.recognizer", "Recognizer"),
    "load_recipe": ("isyarat.training.recipe", "load_recipe"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'isyarat' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    value = importlib.import_module(module)
    value = value if attribute is None else getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
