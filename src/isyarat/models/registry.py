"""One registry of model builders, chosen by name in a recipe."""
from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from isyarat.errors import IsyaratError

Builder = Callable[..., nn.Module]
_BUILDERS: dict[str, Builder] = {}
_TRACKS: dict[str, str] = {}
TRACKS = ("landmarks", "image")  # which track feeds a model: landmark features or pixels


def register(name: str, track: str = "landmarks") -> Callable[[Builder], Builder]:
    """Register `build(input_shape, num_classes, **params) -> nn.Module` under `name`.
    `track` is "landmarks" or "image": which track feeds the model."""

    def wrap(fn: Builder) -> Builder:
        _BUILDERS[name] = fn
        _TRACKS[name] = track
        return fn

    return wrap


def _load_all() -> None:
    # Importing the modules runs their @register decorators.
    from isyarat.models import landmark_models, image_models  # noqa: F401


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **params) -> nn.Module:
    _load_all()
    if name not in _BUILDERS:
        raise IsyaratError(f"unknown model '{name}'; known models: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](tuple(input_shape), num_classes, **params)


def model_track(name: str) -> str:
    """"landmarks" or "image": what the model named `name` reads."""
    _load_all()
    if name not in _TRACKS:
        raise IsyaratError(f"unknown model '{name}'; known models: {', '.join(sorted(_BUILDERS))}")
    return _TRACKS[name]


def model_params(name: str) -> set[str]:
    """The parameter names that model `name`'s builder takes besides input_shape and num_classes."""
    model_track(name)
    return set(inspect.signature(_BUILDERS[name]).parameters) - {"input_shape", "num_classes"}


def model_names() -> list[str]:
    _load_all()
    return sorted(_BUILDERS)
