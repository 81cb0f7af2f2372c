"""Learning curves of a training run as one PNG: loss and accuracy per epoch, best epoch marked."""

import math
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from isyarat.errors import IsyaratError

PANELS = (("loss", "train_loss", "val_loss"), ("accuracy", "train_acc", "val_acc"))


def plot_curves(history: list[dict], path: Path) -> Path:
    """History rows look like ``{epoch, train_loss, val_loss, train_acc, val_acc, lr}``."""
    if not history:
        raise IsyaratError(f"no training history to plot into {path}: train for at least one epoch")
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    best = best_epoch(history)
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, (name, train_key, val_key) in zip(figure.subplots(1, 2), PANELS):
        for key in (train_key, val_key):
            values = _series(history, key)
            if any(not math.isnan(v) for v in values):
                axes.plot(epochs, values, marker=".", label=key.split("_")[0])
        if best is not None:
            axes.axvline(epochs[best], color="0.5", linestyle="--", label=f"best epoch {epochs[best]}")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def best_epoch(history: list[dict]) -> int | None:
    """Index of the row with the lowest validation loss (None when there is none)."""
    losses = [(v, i) for i, v in enumerate(_series(history, "val_loss")) if not math.isnan(v)]
    return min(losses)[1] if losses else None


def _series(history: list[dict], key: str) -> list[float]:
    """The key's values, NaN where a row lacks it (e.g. epochs without validation)."""
    return [math.nan if row.get(key) is None else float(row[key]) for row in history]
