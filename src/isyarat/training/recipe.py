"""Training recipes: YAML files (shipped in isyarat/training/recipes/) validated into dataclasses."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import yaml

from isyarat.data.splits import parse_split
from isyarat.errors import IsyaratError
from isyarat.features.augment import AugmentConfig
from isyarat.features.config import FeatureConfig
from isyarat.schema import build, shown
from isyarat.training.openset import OpenSetConfig

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
    threads: int = 0                # CPU threads for torch while training; 0 = torch's default (all cores)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise IsyaratError(f"train.optimizer '{self.optimizer}' is not one of {', '.join(OPTIMIZERS)}")
        for name, ok, rule in (
                ("lr", 0 < self.lr < 1, "between 0 and 1, e.g. 0.001"),
                ("lr_decay", 0 < self.lr_decay <= 1, "in (0, 1]; 1 keeps the rate constant"),
                ("weight_decay", self.weight_decay >= 0, "0 or more"),
                ("batch_size", self.batch_size >= 1, "at least 1, e.g. 32"),
                ("epochs", self.epochs >= 1, "at least 1, e.g. 100"),
                ("patience", self.patience >= 1, "at least 1 epoch, e.g. 15"),
                ("val_fraction", 0 < self.val_fraction <= 0.5, "a fraction in (0, 0.5], e.g. 0.15"),
                ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1), e.g. 0.1"),
                ("seed", self.seed >= 0, "0 or more"),
                ("threads", self.threads >= 0, "0 (torch's default) or a number of threads, e.g. 1")):
            if not ok:
                raise IsyaratError(f"train.{name} is {getattr(self, name)}; it must be {rule}")


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
    hand_classes: bool = False  # each sign signed with the left and the right hand as its own class (A~kiri, A~kanan)
    init_from: str | None = None                     # a run folder whose matching weights start training
    open_set: OpenSetConfig | None = None            # "unknown sign": negatives and a calibrated threshold

    def __post_init__(self) -> None:
        if self.init_from is not None and not isinstance(self.init_from, (str, Path)):
            raise IsyaratError(f"recipe {self.name}: init_from must be the path of a run folder, got {self.init_from!r}")
        if self.init_from is not None:
            self.init_from = str(self.init_from)
        if isinstance(self.compare, str):
            self.compare = [self.compare]
        parse_split(self.split)
        for split in self.compare:
            parse_split(split, "compare split")
        if self.max_per_class is not None and self.max_per_class < 1:
            raise IsyaratError(f"max_per_class is {self.max_per_class}; it must be at least 1 (or left out)")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["features"] = self.features.to_dict()
        return data


def with_compare(recipe: Recipe, splits: list[str]) -> Recipe:
    """The recipe with more `compare` splits (`train --compare`), checked as the recipe's own are."""
    return replace(recipe, compare=[*recipe.compare, *splits])


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


def read_yaml(path: Path) -> object:
    """A YAML file's content; IsyaratError when it is not readable text or not YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise IsyaratError(f"{path}: not a text file (binary content); a recipe is a YAML text file") from None
    except yaml.YAMLError as err:
        raise IsyaratError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    except OSError as err:
        raise IsyaratError(f"{path}: cannot read it ({err.strerror})") from None


def read_raw(name_or_path: str | Path, seen: tuple[Path, ...] = ()) -> dict:
    """A recipe file as a dict; `extends: <recipe>` starts from that recipe, whose sections the
    file overrides key by key (so the shipped models reuse the benchmark's best recipe)."""
    path = recipe_path(name_or_path)
    if path in seen:
        raise IsyaratError(f"{path}: 'extends' loops back to itself")
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise IsyaratError(f"{path}: a recipe is a YAML mapping (model: ..., train: {{...}}), not a "
                           f"{type(raw).__name__}")
    raw.setdefault("name", path.stem)
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise IsyaratError(f"{path}: extends is {shown(base)}; it must be a recipe name or YAML path")
    merged = read_raw(base, (*seen, path))
    merged.pop("name", None)
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def load_recipe(name_or_path: str | Path, overrides: dict | None = None) -> Recipe:
    """A recipe by name or path, with `overrides` ({"train.lr": 0.01, "split": "kfold:5"}) applied,
    checked in full (types, ranges, splits, extraction settings) before any work starts."""
    path = recipe_path(name_or_path)
    raw = read_raw(path)
    for key, value in (overrides or {}).items():
        section, _, name = key.partition(".")
        if name:
            if not isinstance(raw.get(section, {}), dict):
                raise IsyaratError(f"--set {key}: '{section}' is not a section of settings in {path.name}")
            raw.setdefault(section, {})[name] = value
        else:
            raw[key] = value
    try:
        return recipe_from_dict(raw, source=str(path))
    except IsyaratError as err:
        raise IsyaratError(f"{path.name}: {err}") from None


def recipe_from_dict(raw: dict, source: str = "recipe") -> Recipe:
    """A Recipe from a parsed YAML mapping: every section built through its typed dataclass."""
    from isyarat.landmarks.settings import ExtractSettings

    if not isinstance(raw, dict):
        raise IsyaratError(f"{source}: a recipe is a mapping of settings, not {shown(raw)}")
    data = dict(raw)
    if "params" in data:
        data["model_params"] = data.pop("params")
    data.setdefault("name", Path(source).stem)
    if "model" not in data:
        raise IsyaratError("a recipe needs 'model' (a registry name, see `isyarat models --registry`)")
    data["features"] = build(FeatureConfig, FeatureConfig.renamed(data.get("features")), "features")
    data["augment"] = build(AugmentConfig, data["augment"], "augment") if data.get("augment") else None
    data["train"] = build(TrainConfig, data.get("train"), "train")
    data["open_set"] = build(OpenSetConfig, data["open_set"], "open_set") if data.get("open_set") else None
    recipe = build(Recipe, data, "recipe", skip=("features", "augment", "train", "open_set"))
    settings = build(ExtractSettings, recipe.extract, "extract")  # refused now, not after the extraction started
    if "mode" in recipe.extract and settings.mode != ("holistic" if recipe.features.pose else "hands"):
        raise IsyaratError(f"extract.mode {settings.mode} does not fit features.pose {recipe.features.pose}: the "
                           "detector follows the features (Holistic when they read the pose); remove extract.mode")
    check_model(recipe.model, recipe.model_params)
    return recipe


def check_model(name: str, params: dict) -> None:
    """The model is in the registry and its params are ones its builder takes, of the type of
    their defaults."""
    import inspect

    from isyarat.models.registry import _BUILDERS, model_names
    from isyarat.schema import check_value

    if name not in model_names():
        raise IsyaratError(f"model '{name}' is not in the registry; use one of {', '.join(model_names())}")
    signature = inspect.signature(_BUILDERS[name]).parameters
    takes = {k: p for k, p in signature.items() if k not in ("input_shape", "num_classes")}
    unknown = sorted(str(k) for k in params if k not in takes)
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in takes.values()):
        raise IsyaratError(f"model_params: {name} takes no {', '.join(unknown)}; it takes {', '.join(takes) or 'none'}")
    for key, value in params.items():
        default = takes[key].default if key in takes else None
        if type(default) in (bool, int, float, str) and not (type(default) is float and isinstance(value, int)
                                                            and not isinstance(value, bool)):
            check_value(value, type(default), f"model_params.{key}")
