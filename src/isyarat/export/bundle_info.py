"""bundle.json as a typed record: everything beside model.onnx that the runtime needs.

`BundleInfo` is read (`from_dict`) and written (`to_dict`) in one place; the Recognizer, the
server, evaluation and adaptation read its fields. Bundles written before it (the shipped ones
among them) load: their model record's `kind` is its `track`, a missing `input` reads landmarks.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields

import numpy as np

from isyarat.errors import IsyaratError
from isyarat.export.model_input import ModelInput
from isyarat.export.motion import MotionPart
from isyarat.export.openset import OpenSet
from isyarat.features.config import FeatureConfig
from isyarat.landmarks.settings import ExtractSettings
from isyarat.models.spec import ModelSpec
from isyarat.schema import build

MAX_INPUT_VALUES = 10_000_000  # a sample's input: 3x1000x1000 images fit, a claim of 1e12 does not
NESTED = ("features", "model", "extract", "input", "motion", "open_set", "input_shape")


@dataclass
class BundleInfo:
    """A bundle's record: labels and input shape of model.onnx, the feature settings and
    extraction settings its training data was read with, what the model reads (`input`), the
    model (registry name, params, recipe), its held-out scores and details, and, for a letter
    bundle that reads moving letters, the `motion` part."""

    name: str
    sign_system: str
    labels: list[str]
    input_shape: tuple[int, ...]
    features: FeatureConfig
    model: ModelSpec
    metrics: dict
    created: str
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    details: dict = field(default_factory=dict)  # protocols, held_out, sources, adaptation: shown as stored
    input: ModelInput = field(default_factory=ModelInput)
    motion: MotionPart | None = None
    open_set: OpenSet | None = None  # how it says "unknown sign" (None: older bundles never do)

    def __post_init__(self) -> None:
        self.input_shape = tuple(self.input_shape)
        if not self.labels or not all(isinstance(x, str) for x in self.labels):
            raise IsyaratError("'labels' must be a non-empty list of strings")
        if not self.input_shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                                           for d in self.input_shape):
            raise IsyaratError("'input_shape' must be a list of positive integers")
        if int(np.prod(self.input_shape, dtype=np.float64)) > MAX_INPUT_VALUES:
            raise IsyaratError(f"'input_shape' {list(self.input_shape)} claims more than {MAX_INPUT_VALUES:,} "
                               "input values per sample")
        if self.input.pixels and tuple(self.input.image.input_shape) != self.input_shape:
            raise IsyaratError(f"its image settings make {self.input.image.input_shape} but the model "
                               f"takes {self.input_shape}")
        if self.motion is not None:
            unknown = sorted(set(self.motion.labels) - set(self.labels))
            if unknown:
                raise IsyaratError(f"its motion model knows labels the letter model does not: {', '.join(unknown)}")
        if self.open_set is not None:
            self.open_set.check_labels(self.labels)

    @property
    def track(self) -> str:
        return self.model.track

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(input_shape=list(self.input_shape), features=self.features.to_dict(),
                    model=self.model.to_dict(), extract=self.extract.to_dict(), input=self.input.to_dict())
        if self.motion is None:
            del data["motion"]
        else:
            data["motion"] = self.motion.to_dict()
        if self.open_set is None:
            del data["open_set"]
        else:
            data["open_set"] = self.open_set.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: object) -> "BundleInfo":
        """A bundle.json object; older bundles (model `kind`, no `input`, partial `extract`) load too."""
        if not isinstance(data, dict):
            raise IsyaratError("must hold a JSON object")
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
                   and f.name not in data]
        if missing:
            raise IsyaratError(f"lacks {', '.join(missing)}")
        for key in ("features", "model"):
            if not isinstance(data.get(key), dict):
                raise IsyaratError(f"'{key}' must be a JSON object")
        model_input = ModelInput.from_dict(data.get("input"))
        model = dict(data["model"])
        model.setdefault("track", "image" if model_input.pixels else "landmarks")
        shape = data.get("input_shape")
        try:
            extract = ExtractSettings(**(data.get("extract") or {}))
        except TypeError as err:
            raise IsyaratError(f"bad 'extract' settings ({err})") from None
        values = {**data, "features": FeatureConfig.from_dict(data["features"]), "model": ModelSpec.from_dict(model),
                  "extract": extract, "input": model_input,
                  "input_shape": tuple(shape) if isinstance(shape, list) else shape,
                  "motion": None if data.get("motion") is None else MotionPart.from_dict(data["motion"]),
                  "open_set": OpenSet.from_dict(data.get("open_set"))}
        if not isinstance(values["input_shape"], tuple):
            raise IsyaratError("'input_shape' must be a list of positive integers")
        return build(cls, values, "bundle.json", skip=NESTED)
