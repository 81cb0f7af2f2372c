"""Run directories: weights as safetensors (no pickle) + run.json carrying everything to rebuild them."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from isyarat.errors import IsyaratError
from isyarat.features.config import FeatureConfig
from isyarat.models.standardize import standardized
from isyarat.models.registry import build_model, model_params

RUN_FORMAT = "isyarat-run/1"
WEIGHTS, INFO = "model.safetensors", "run.json"


@dataclass
class RunInfo:
    """What a checkpoint carries besides its weights."""

    data: dict

    @property
    def labels(self) -> list[str]:
        return self.data["labels"]

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.data["features"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.data["input_shape"])

    @property
    def kind(self) -> str:
        return self.data["kind"]


def save_run(out_dir: Path, model: nn.Module, info: dict) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS))
    (out_dir / INFO).write_text(json.dumps({"format": RUN_FORMAT, **info}, indent=1, default=str))
    return out_dir


def read_info(run_dir: Path) -> RunInfo:
    path = Path(run_dir) / INFO
    if not path.is_file():
        raise IsyaratError(f"{run_dir}: not a training run (no {INFO}); train one with `isyarat train`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IsyaratError(f"{path}: corrupt run file ({err}); train the model again") from None
    if not isinstance(data, dict):
        raise IsyaratError(f"{path}: corrupt run file (not a JSON object); train the model again")
    if data.get("format") != RUN_FORMAT:
        raise IsyaratError(f"{path}: format {data.get('format')!r}, this isyarat reads {RUN_FORMAT}")
    return RunInfo(data)


def load_run(run_dir: Path) -> tuple[nn.Module, RunInfo]:
    """Rebuild the model from run.json and load its weights; refuses weights that do not fit."""
    info = read_info(run_dir)
    d = info.data
    expected = info.features.output_shape if info.kind == "landmarks" else info.input_shape
    if info.kind == "landmarks" and tuple(expected) != info.input_shape:
        raise IsyaratError(f"{run_dir}: its feature settings give inputs {expected} but the model was "
                           f"trained on {info.input_shape}; the run was edited or is corrupt")
    model = build_model_for(info)
    state = _read_weights(run_dir)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise IsyaratError(f"{run_dir}: weights do not match model '{d['model']['name']}' with its "
                           f"settings ({first}); they come from another configuration") from err
    return model.eval(), info


def build_model_for(info: RunInfo) -> nn.Module:
    """The architecture a run describes, with its z-score layer when its features use one, so
    nothing that rebuilds a run can forget it; weights are not loaded (nor pretrained ones read)."""
    name = info.data["model"]["name"]
    params = _params_for_loading(name, info.data["model"].get("params", {}))
    model = build_model(name, info.input_shape, len(info.labels), **params)
    if info.kind == "landmarks" and info.features.zscore:
        model = standardized(model, info.input_shape)
    return model


def init_weights(model: nn.Module, run_dir: str | Path) -> dict:
    """A recipe's `init_from`: copy into `model` every tensor of `run_dir`'s weights whose name and
    shape match (transfer learning offline). The class head is skipped when the class count
    differs; any other shape that does not match is an error. Returns what was loaded and skipped."""
    run_dir = Path(run_dir).expanduser()
    info = read_info(run_dir)
    state = _read_weights(run_dir)
    if info.kind == "landmarks" and info.features.zscore:  # its weights sit behind a Standardize layer
        state = {k[2:]: v for k, v in state.items() if k.startswith("1.")}
    own = model.state_dict()
    n_old = len(info.labels)
    loaded, skipped, wrong = {}, [], []
    for name, tensor in state.items():
        mine = own.get(name)
        if mine is None:
            skipped.append(name)
        elif mine.shape == tensor.shape:
            loaded[name] = tensor
        elif tensor.shape[:1] == (n_old,) and mine.shape[1:] == tensor.shape[1:]:
            skipped.append(name)  # the class head of another label set: the new one starts fresh
        else:
            wrong.append(f"{name} {tuple(tensor.shape)} vs {tuple(mine.shape)}")
    if wrong:
        raise IsyaratError(f"init_from {run_dir}: its weights do not fit this model ({'; '.join(wrong[:3])}"
                           f"{' ...' if len(wrong) > 3 else ''}); start from a run of the same model and input size")
    if not loaded:
        raise IsyaratError(f"init_from {run_dir}: none of its weights fit model '{info.data['model']['name']}' "
                           "vs this recipe's model; start from a run of the same model")
    model.load_state_dict(loaded, strict=False)
    return {"from": str(run_dir), "loaded": len(loaded), "skipped": sorted(skipped),
            "new": sorted(set(own) - set(loaded))}


def _read_weights(run_dir: Path) -> dict:
    try:
        return load_file(str(Path(run_dir) / WEIGHTS))
    except (SafetensorError, OSError, FileNotFoundError) as err:
        raise IsyaratError(f"{Path(run_dir) / WEIGHTS}: unreadable weights ({err}); train the model again") from err


def _params_for_loading(name: str, params: dict) -> dict:
    """The saved weights replace any pretrained ones, so rebuilding reads (or downloads) none."""
    params = {k: v for k, v in params.items() if k != "weights_path"}
    if "pretrained" in model_params(name):
        params["pretrained"] = False
    return params
