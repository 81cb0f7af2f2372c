"""Training recipes: YAML files (shipped in isyarat/training/recipes/) validated into dataclasses."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from isyarat.errors import IsyaratError
from isyarat.features.augment import AugmentConfig
from isyarat.features.config import FeatureConfig

RECIPES_DIR = Path(__file__).parent / "recipes"
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


@dataclass
class TrainConfig:
    optimizer: str = "adam"
    lr: float = 0.001
    lr_decay: float = 0.98          # exponential decay of the learning rate per epoch (1 = none)
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 100
    patience: int = 15              # early stopping on validation loss
    val_fraction: float = 0.15      # carved out of the training split, never the test split
    label_smoothing: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise IsyaratError(f"train.optimizer '{self.optimizer}' is not one of {', '.join(OPTIMIZERS)}")
        if not 0 < self.lr < 1 or self.batch_size < 1 or self.epochs < 1:
            raise IsyaratError("train: lr must be in (0, 1), batch_size and epochs at least 1")


@dataclass
class Recipe:
    name: str
    model: str
    description: str = ""
    reference: str = ""
    sign_system: str = ""
    model_params: dict = field(default_factory=dict)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig | None = None
    image: dict = field(default_factory=dict)       # image-track transform settings
    extract: dict = field(default_factory=dict)     # landmark extraction settings
    train: TrainConfig = field(default_factory=TrainConfig)
    split: str = "holdout:0.2"                       # holdout:F | kfold:K | group:COLUMN
    compare: list[str] = field(default_factory=list)  # more splits to cross-validate and report beside it
    max_per_class: int | None = None                  # training data: at most N per label and source
    exclude_labels: list[str] = field(default_factory=list)
    init_from: str | None = None                     # a run folder whose matching weights start training

    def __post_init__(self) -> None:
        if self.init_from is not None and not isinstance(self.init_from, (str, Path)):
            raise IsyaratError(f"recipe {self.name}: init_from must be the path of a run folder, got {self.init_from!r}")
        if self.init_from is not None:
            self.init_from = str(self.init_from)
        if isinstance(self.compare, str):
            self.compare = [self.compare]
        for split in [self.split, *self.compare]:
            kind, _, arg = split.partition(":")
            if kind not in ("holdout", "kfold", "group") or (kind == "group" and not arg):
                raise IsyaratError(f"recipe {self.name}: bad split '{split}'; use holdout:0.2, kfold:5 or "
                                   "group:<metadata column>")
        if self.max_per_class is not None and self.max_per_class < 1:
            raise IsyaratError(f"recipe {self.name}: max_per_class must be at least 1")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["features"] = self.features.to_dict()
        return data


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    shipped = RECIPES_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise IsyaratError(f"no recipe '{name_or_path}': give a YAML file or one of: {', '.join(list_recipes())}")


def read_raw(name_or_path: str | Path, seen: tuple[Path, ...] = ()) -> dict:
    """A recipe file as a dict; `extends: <recipe>` starts from that recipe, whose sections the
    file overrides key by key (so the shipped models reuse the benchmark's best recipe)."""
    path = recipe_path(name_or_path)
    if path in seen:
        raise IsyaratError(f"{path}: 'extends' loops back to itself")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise IsyaratError(f"{path}: not valid YAML ({err})") from err
    base = raw.pop("extends", None)
    if base is None:
        return raw
    merged = read_raw(base, (*seen, path))
    merged.pop("name", None)
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def load_recipe(name_or_path: str | Path, overrides: dict | None = None) -> Recipe:
    path = recipe_path(name_or_path)
    raw = read_raw(path)
    for key, value in (overrides or {}).items():
        section, _, name = key.partition(".")
        if name:
            raw.setdefault(section, {})[name] = value
        else:
            raw[key] = value
    return recipe_from_dict(raw, source=str(path))


def recipe_from_dict(raw: dict, source: str = "recipe") -> Recipe:
    known = {f.name for f in fields(Recipe)}
    unknown = set(raw) - known - {"params"}
    if unknown:
        raise IsyaratError(f"{source}: unknown keys {sorted(unknown)}; a recipe has {sorted(known)}")
    if "model" not in raw:
        raise IsyaratError(f"{source}: a recipe needs 'model' (a registry name, see `isyarat models --registry`)")
    data = dict(raw)
    try:
        data["features"] = FeatureConfig.from_dict(raw.get("features") or {})
        data["augment"] = AugmentConfig(**raw["augment"]) if raw.get("augment") else None
        data["train"] = TrainConfig(**(raw.get("train") or {}))
    except TypeError as err:
        raise IsyaratError(f"{source}: {err}") from err
    if "params" in data:
        data["model_params"] = data.pop("params")
    return Recipe(**data)
