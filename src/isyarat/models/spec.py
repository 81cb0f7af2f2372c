"""Which registry model a run or a bundle holds, and the one way to rebuild it from that record.

`ModelSpec` is the `model` record of run.json and bundle.json. `build_model_for(info)` builds the
architecture a record describes together with its z-score layer, so training's reload, init_from,
the benchmarks and export cannot rebuild a model without the layer its weights expect.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from torch import nn

from isyarat.errors import IsyaratError
from isyarat.features.config import FeatureConfig
from isyarat.models.registry import TRACKS, build_model, model_params
from isyarat.models.standardize import standardized
from isyarat.schema import build


@dataclass
class ModelSpec:
    """A registry model: `name` and its builder's `params`; `track` is what it reads ("landmarks"
    or "image"). A bundle's spec also carries the training `recipe` (as a dict), the parameter
    count and, for an adapted bundle, the bundle it was adapted from."""

    name: str
    params: dict = field(default_factory=dict)
    track: str = "landmarks"
    recipe: dict | None = None
    n_params: int | None = None
    adapted_from: str | None = None

    def __post_init__(self) -> None:
        if self.track not in TRACKS:
            raise IsyaratError(f"model track {self.track!r} is unknown; use one of {', '.join(TRACKS)}")

    @property
    def excluded_labels(self) -> list[str]:
        """Labels the training recipe left out (`exclude_labels`), which evaluation leaves out too."""
        return list((self.recipe or {}).get("exclude_labels") or [])

    def to_dict(self) -> dict:
        data = {"name": self.name, "params": dict(self.params), "track": self.track}
        for key in ("recipe", "n_params", "adapted_from"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_dict(cls, data: object, key: str = "model") -> "ModelSpec":
        """Also reads the records written before `track` had its name (`kind`)."""
        if isinstance(data, dict) and "kind" in data:
            data = {("track" if k == "kind" else k): v for k, v in data.items()}
        return build(cls, data, key)


class DescribesModel(Protocol):
    """A run's or a bundle's record: enough to rebuild its model."""

    model: ModelSpec
    input_shape: tuple[int, ...]
    labels: list[str]
    features: FeatureConfig


def build_model_for(info: DescribesModel, outputs: int | None = None) -> nn.Module:
    """The architecture `info` describes, with its z-score layer when its features use one; its
    weights are not loaded, nor pretrained weights read (saved weights replace them). `outputs`:
    the network's output count when it differs from its labels (an open-set gate adds one)."""
    params = {k: v for k, v in info.model.params.items() if k != "weights_path"}
    if "pretrained" in model_params(info.model.name):
        params["pretrained"] = False
    model = build_model(info.model.name, info.input_shape, outputs or len(info.labels), **params)
    if info.model.track == "landmarks" and info.features.zscore:
        model = standardized(model, info.input_shape)
    return model
