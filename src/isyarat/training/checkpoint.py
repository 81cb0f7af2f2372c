"""Run directories: weights as safetensors (no pickle) + run.json carrying everything to rebuild them."""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from isyarat.errors import IsyaratError
from isyarat.models.spec import build_model_for
from isyarat.training.openset import gated_like
from isyarat.training.run_info import RUN_FORMAT, RunInfo

WEIGHTS, INFO = "model.safetensors", "run.json"


def save_run(out_dir: Path, model: nn.Module, info: RunInfo) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS))
    (out_dir / INFO).write_text(json.dumps(info.to_dict(), indent=1, default=str))
    return out_dir


def read_info(run_dir: Path) -> RunInfo:
    path = Path(run_dir) / INFO
    if not path.is_file():
        raise IsyaratError(f"{run_dir}: not a training run (no {INFO}); train one with `isyarat train`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IsyaratError(f"{path}: corrupt run file ({err}); train the model again") from None
    if isinstance(data, dict) and data.get("format") != RUN_FORMAT:
        raise IsyaratError(f"{path}: format {data.get('format')!r}, this isyarat reads {RUN_FORMAT}")
    try:
        return RunInfo.from_dict(data)
    except IsyaratError as err:
        raise IsyaratError(f"{path}: corrupt run file ({err}); train the model again") from None


def load_run(run_dir: Path) -> tuple[nn.Module, RunInfo]:
    """Rebuild the model from run.json and load its weights; refuses weights that do not fit."""
    info = read_info(run_dir)
    outputs = len(info.labels) if info.open_set is None else info.open_set.network_outputs(len(info.labels))
    model = gated_like(build_model_for(info, outputs), info.open_set, len(info.labels))  # with its distance gate, if any
    state = _read_weights(run_dir)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise IsyaratError(f"{run_dir}: weights do not match model '{info.model.name}' with its "
                           f"settings ({first}); they come from another configuration") from err
    return model.eval(), info


def init_weights(model: nn.Module, run_dir: str | Path) -> dict:
    """A recipe's `init_from`: copy into `model` every tensor of `run_dir`'s weights whose name and
    shape match (transfer learning offline). The class head is skipped when the class count
    differs; any other shape that does not match is an error. Returns what was loaded and skipped."""
    run_dir = Path(run_dir).expanduser()
    info = read_info(run_dir)
    state = _read_weights(run_dir)
    if info.track == "landmarks" and info.features.zscore:  # its weights sit behind a Standardize layer
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
        raise IsyaratError(f"init_from {run_dir}: none of its weights fit model '{info.model.name}' "
                           "vs this recipe's model; start from a run of the same model")
    model.load_state_dict(loaded, strict=False)
    return {"from": str(run_dir), "loaded": len(loaded), "skipped": sorted(skipped),
            "new": sorted(set(own) - set(loaded))}


def _read_weights(run_dir: Path) -> dict:
    try:
        return load_file(str(Path(run_dir) / WEIGHTS))
    except (SafetensorError, OSError, FileNotFoundError) as err:
        raise IsyaratError(f"{Path(run_dir) / WEIGHTS}: unreadable weights ({err}); train the model again") from err

