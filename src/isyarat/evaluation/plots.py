"""The confusion matrix as a PNG, rows normalized so every true class reads as shares of 100%.

Colours follow the square root of the share so that rare confusions (a few %) stay visible.
"""

from pathlib import Path

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

MAX_ANNOTATED = 30


def plot_confusion(
    matrix: list[list[int]], labels: list[str], columns: list[str], path: Path, title: str = ""
) -> Path:
    """Rows: true labels; columns: predicted labels (``columns`` may add ``(none)``)."""
    shares = _row_normalized(np.array(matrix, dtype=float))
    side = max(5.0, 0.32 * len(columns) + 1.5)
    figure = Figure(figsize=(side + 1.5, side), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", norm=PowerNorm(0.5, vmin=0.0, vmax=1.0), aspect="equal")
    figure.colorbar(image, ax=axes, shrink=0.6, label="share of the true class")
    _ticks(axes, labels, columns)
    if len(labels) <= MAX_ANNOTATED:
        _annotate(axes, shares)
    axes.set_title("\n".join(filter(None, [title, "confusion matrix, % of each true class"])))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def _row_normalized(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def _ticks(axes, labels: list[str], columns: list[str]) -> None:
    axes.set_xticks(range(len(columns)), columns, rotation=90, fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_xticks(np.arange(len(columns) + 1) - 0.5, minor=True)
    axes.set_yticks(np.arange(len(labels) + 1) - 0.5, minor=True)
    axes.grid(which="minor", color="0.9", linewidth=0.5)
    axes.tick_params(which="minor", length=0)


def _annotate(axes, shares: np.ndarray) -> None:
    """Percent in every non-empty cell; white on dark cells."""
    for (row, column), share in np.ndenumerate(shares):
        if share > 0:
            color = "white" if share > 0.4 else "black"
            axes.text(column, row, f"{100 * share:.0f}", ha="center", va="center", fontsize=7, color=color)
