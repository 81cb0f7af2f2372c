"""run.json as a typed record: what a training run saves beside its weights.

`RunInfo` is read (`from_dict`) and written (`to_dict`) in one place, so export, init_from,
sweeps and the CLI read its fields, not string keys. Runs saved before the record existed load:
their `kind` is the model's `track`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace

from isyarat.errors import IsyaratError
from isyarat.export.openset import OpenSet
from isyarat.features.config import FeatureConfig
from isyarat.models.registry import model_track
from isyarat.models.spec import ModelSpec
from isyarat.schema import build
from isyarat.training.prepare import input_shape
from isyarat.training.recipe import Recipe, recipe_from_dict

RUN_FORMAT = "isyarat-run/1"


@dataclass
class RunInfo:
    """A run: its recipe (as a dict), model, labels, features and input shape (enough to rebuild
    the model), the data and split it was trained and tested on, and what training measured."""

    name: str
    model: ModelSpec
    labels: list[str]
    features: FeatureConfig
    input_shape: tuple[int, ...]
    recipe: dict
    sign_system: str | None = None
    data: list[str] = field(default_factory=list)
    split: str = ""
    extraction: dict | None = None      # landmark detection rates per label (prepare.extraction_summary)
    n_train: int = 0
    test_samples: list[str] = field(default_factory=list)
    held_out: list[dict] = field(default_factory=list)  # test samples relative to their source: path, label
    train_seconds: float = 0.0
    epochs_run: int = 0
    history: list[dict] = field(default_factory=list)
    n_params: int | None = None
    init_from: dict | None = None       # what a recipe's init_from loaded (checkpoint.init_weights)
    metrics: dict = field(default_factory=dict)
    protocols: dict = field(default_factory=dict)  # split -> n_folds, mean, std over folds
    open_set: OpenSet | None = None     # "unknown sign": the calibrated threshold, the unknown class
    sweep: dict | None = None           # a sweep run's signature (what makes a fold folder resumable)
    created: str = ""

    def __post_init__(self) -> None:
        self.input_shape = tuple(self.input_shape)
        if not self.labels or not all(isinstance(x, str) for x in self.labels):
            raise IsyaratError("'labels' must be a non-empty list of strings")
        if not self.input_shape or not all(isinstance(d, int) and d > 0 for d in self.input_shape):
            raise IsyaratError(f"'input_shape' {list(self.input_shape)} must be positive whole numbers")
        if self.model.track == "landmarks" and tuple(self.features.output_shape) != self.input_shape:
            raise IsyaratError(f"its feature settings give inputs {self.features.output_shape} but the model "
                               f"was trained on {self.input_shape}; the run was edited or is corrupt")

    @property
    def track(self) -> str:
        return self.model.track

    def recipe_config(self) -> Recipe:
        """The training recipe as a checked Recipe."""
        return recipe_from_dict(self.recipe, source=self.name)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(model=self.model.to_dict(), features=self.features.to_dict(),
                    input_shape=list(self.input_shape),
                    open_set=None if self.open_set is None else self.open_set.to_dict())
        return {"format": RUN_FORMAT, **data}

    @classmethod
    def from_dict(cls, data: object) -> "RunInfo":
        """A run.json object; older runs (model track saved as top-level `kind`) load too."""
        if not isinstance(data, dict):
            raise IsyaratError("not a JSON object")
        data = dict(data)
        if data.pop("format", None) != RUN_FORMAT:
            raise IsyaratError(f"not an {RUN_FORMAT} file")
        model = dict(data.get("model") or {}) if isinstance(data.get("model"), dict) else data.get("model")
        track = data.pop("track", data.pop("kind", None))
        if isinstance(model, dict) and track is not None:
            model.setdefault("track", track)
        data["model"] = ModelSpec.from_dict(model)
        data["features"] = FeatureConfig.from_dict(data.get("features") or {})
        if isinstance(data.get("input_shape"), list):
            data["input_shape"] = tuple(data["input_shape"])
        data["open_set"] = OpenSet.from_dict(data.get("open_set"))
        return build(cls, data, "run.json", skip=("model", "features", "input_shape", "open_set"))


def planned_run(recipe: Recipe, labels: list[str], **measured) -> RunInfo:
    """The record of a run of `recipe` on `labels`, before (or, with `measured` fields, after)
    training: what train, a sweep fold and the benchmarks build their model from."""
    spec = ModelSpec(name=recipe.model, params=dict(recipe.model_params), track=model_track(recipe.model))
    info = RunInfo(name=recipe.name, model=spec, labels=list(labels), features=recipe.features,
                   input_shape=input_shape(recipe), recipe=recipe.to_dict(), sign_system=recipe.sign_system,
                   split=recipe.split, created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    return replace(info, **measured)
