"""A new classifier head from a few embeddings of one signer, kept close to the base head.

The base head's rows are where the base model's knowledge of each sign lives. The refit starts
from them (a new sign's row starts as its samples' mean embedding, scaled like the base rows),
minimizes cross-entropy on the user's samples and pays for every step away from the start. The
default (`shared`) also learns a scale and shift of the embedding common to every class: how this
signer differs, applied to the signs they did not record too, which keeps those recognized
(bench/adaptation.py measures it: the "unrecorded" rows).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from isyarat.errors import IsyaratError


METHODS = ("auto", "layers", "shared", "finetune", "prototype")


@dataclass(frozen=True)
class FitSettings:
    """method: shared (default: the head only, a per-dimension scale and shift of the embedding
    shared by all classes plus small per-class changes), auto (`layers` when the samples cover
    every sign the bundle knows, else `shared`), layers (the last `layers` weighted nodes of the
    graph fine-tuned, adaptation/layers.py: no more gain than shared in bench/adaptation.py, 5-10x
    slower, and it forgets signs not recorded), finetune (the head's rows only) or prototype (class means
    blended into the rows, no training); chosen in bench/adaptation.py. steps: full-batch Adam
    steps; lr/anchor: the head methods' learning rate and pull toward the base rows; copies:
    augmented copies of each sample added to the originals; align: rescale the refit rows to the
    base rows' norms; layers/layer_lr/distill/layer_anchor: the `layers` method's depth, learning
    rate, weight of keeping the base model's answers among the other signs, pull toward the base
    weights."""

    method: str = "shared"     # shared | auto | layers | finetune | prototype (see bench/adaptation.py)
    steps: int = 100
    lr: float = 0.01
    anchor: float = 1.0
    copies: int = 4
    align: bool = True         # rescale refit rows to the base rows' norms (no bias toward recorded signs)
    layers: int = 4            # resmlp: the head, the final LayerNorm, the last block's two linear layers
    layer_lr: float = 0.003
    distill: float = 1.0
    layer_anchor: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise IsyaratError(f"adaptation method '{self.method}' is unknown: use one of {', '.join(METHODS)}")
        if self.steps < 0 or self.lr <= 0 or self.anchor < 0 or self.copies < 0:
            raise IsyaratError("adaptation settings: steps, anchor and copies must be >= 0 and lr > 0")
        if self.layers < 1 or self.layer_lr <= 0 or self.distill < 0 or self.layer_anchor < 0:
            raise IsyaratError("adaptation settings: layers must be >= 1, layer_lr > 0, distill and layer_anchor >= 0")

    def resolved(self, known: list[str], recorded: set[str]) -> "FitSettings":
        """`auto` made concrete: fine-tuning shared layers moves every sign, so it is chosen only
        when the user recorded every sign the bundle knows; otherwise the head-only `shared`."""
        if self.method != "auto":
            return self
        return replace(self, method="layers" if set(known) <= recorded else "shared")

    def to_dict(self) -> dict:
        return asdict(self)


def imprint(weight: np.ndarray, bias: np.ndarray, embeddings: np.ndarray, targets: np.ndarray,
            n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The base rows, plus a row per new class pointing at its samples' mean embedding (centred on
    the mean of the base rows' directions), scaled to the base rows' mean norm, with the bias
    set so its logit on its own mean matches the base classes' logits on theirs."""
    base = len(weight)
    new_w = np.zeros((n_classes, weight.shape[1]), np.float32)
    new_b = np.zeros(n_classes, np.float32)
    new_w[:base], new_b[:base] = weight, bias
    norm = float(np.linalg.norm(weight, axis=1).mean())
    centre = embeddings.mean(0)
    own = _own_logit(weight, bias, embeddings, targets, base)
    for c in range(base, n_classes):
        new_w[c], new_b[c] = _prototype_row(embeddings, targets, c, centre, norm, own)
    return new_w, new_b


def prototypes(weight: np.ndarray, bias: np.ndarray, embeddings: np.ndarray, targets: np.ndarray,
               n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """imprint(), and each known sign the user recorded gets the mean of its base row and its
    imprinted row: nearest-class-mean in the embedding space, blended with the classifier."""
    new_w, new_b = imprint(weight, bias, embeddings, targets, n_classes)
    base, centre = len(weight), embeddings.mean(0)
    norm = float(np.linalg.norm(weight, axis=1).mean())
    own = _own_logit(weight, bias, embeddings, targets, base)
    for c in sorted(set(targets.tolist()) & set(range(base))):
        row, b = _prototype_row(embeddings, targets, c, centre, norm, own)
        new_w[c], new_b[c] = (weight[c] + row) / 2, (bias[c] + b) / 2
    return new_w, new_b


def _prototype_row(embeddings: np.ndarray, targets: np.ndarray, c: int, centre: np.ndarray, norm: float,
                   own: float) -> tuple[np.ndarray, float]:
    mean = embeddings[targets == c].mean(0)
    direction = mean - centre if len(np.unique(targets)) > 1 else mean - mean.mean()
    row = norm * direction / max(float(np.linalg.norm(direction)), 1e-6)
    return row, own - float(row @ mean)


def _own_logit(weight: np.ndarray, bias: np.ndarray, embeddings: np.ndarray, targets: np.ndarray,
               base: int) -> float:
    """The typical winning logit: on samples of known signs their own logit, else the top logit."""
    logits = embeddings @ weight.T + bias
    known = targets < base
    if known.any():
        return float(np.median(logits[known, targets[known]]))
    return float(np.median(logits.max(1)))


def fit_head(weight: np.ndarray, bias: np.ndarray, embeddings: np.ndarray, targets: np.ndarray,
             n_classes: int, settings: FitSettings = FitSettings()) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) for n_classes >= len(weight) classes from (embedding, target) pairs."""
    if settings.method == "prototype":
        return prototypes(weight, bias, embeddings, targets, n_classes)
    start_w, start_b = imprint(weight, bias, embeddings, targets, n_classes)
    if settings.steps == 0:
        return start_w, start_b
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit = _shared if settings.method == "shared" else _finetune
        new_w, new_b = fit(start_w, start_b, embeddings, targets, settings)
    finally:
        torch.set_num_threads(threads)
    return align_rows(new_w, new_b, weight, bias, targets) if settings.align else (new_w, new_b)


def align_rows(new_w: np.ndarray, new_b: np.ndarray, weight: np.ndarray, bias: np.ndarray,
               targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weight aligning: the rows trained on the user's samples grow longer than the rows of signs
    they did not record, which then lose to them; scale each trained row back to its base norm
    (a new sign's: the mean base norm) and its bias by the same factor."""
    trained = sorted(set(targets.tolist()))
    mean_norm = float(np.linalg.norm(weight, axis=1).mean())
    for c in trained:
        goal = float(np.linalg.norm(weight[c])) if c < len(weight) else mean_norm
        factor = goal / max(float(np.linalg.norm(new_w[c])), 1e-6)
        new_w[c] *= factor
        new_b[c] *= factor
    return new_w, new_b


def _finetune(start_w: np.ndarray, start_b: np.ndarray, embeddings: np.ndarray, targets: np.ndarray,
              settings: FitSettings) -> tuple[np.ndarray, np.ndarray]:
    w0, b0 = torch.from_numpy(start_w), torch.from_numpy(start_b)
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    x, y = torch.from_numpy(embeddings.astype(np.float32)), torch.from_numpy(targets.astype(np.int64))
    scale = float(torch.linalg.norm(w0, dim=1).mean() ** 2) or 1.0
    optimizer = torch.optim.Adam([w, b], lr=settings.lr)
    for _ in range(settings.steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w.T + b, y)
        drift = ((w - w0) ** 2).sum(1).mean() / scale + ((b - b0) ** 2).mean()
        (loss + settings.anchor * drift).backward()
        optimizer.step()
    return w.detach().numpy().copy(), b.detach().numpy().copy()


def _shared(start_w: np.ndarray, start_b: np.ndarray, embeddings: np.ndarray, targets: np.ndarray,
            settings: FitSettings) -> tuple[np.ndarray, np.ndarray]:
    """A transform of the embedding shared by every class (per-dimension scale and shift: the
    signer's "style"), so signs the user did not record move with the ones they did, plus small
    per-class changes. Still one linear layer: W' = (W + R) diag(a), b' = b + r - W' shift."""
    w0, b0 = torch.from_numpy(start_w), torch.from_numpy(start_b)
    residual, residual_b = torch.zeros_like(w0, requires_grad=True), torch.zeros_like(b0, requires_grad=True)
    scale_v = torch.ones(w0.shape[1], requires_grad=True)
    shift = torch.zeros(w0.shape[1], requires_grad=True)
    x, y = torch.from_numpy(embeddings.astype(np.float32)), torch.from_numpy(targets.astype(np.int64))
    norm2 = float(torch.linalg.norm(w0, dim=1).mean() ** 2) or 1.0
    spread = float(x.std(0).mean() ** 2) or 1.0
    optimizer = torch.optim.Adam([residual, residual_b, scale_v, shift], lr=settings.lr)

    def head():
        w = (w0 + residual) * scale_v
        return w, b0 + residual_b - w @ shift

    for _ in range(settings.steps):
        optimizer.zero_grad()
        w, b = head()
        loss = torch.nn.functional.cross_entropy(x @ w.T + b, y)
        own = (residual ** 2).sum(1).mean() / norm2 + (residual_b ** 2).mean()
        common = ((scale_v - 1) ** 2).mean() + (shift ** 2).mean() / spread
        (loss + settings.anchor * own + 0.1 * common).backward()
        optimizer.step()
    w, b = head()
    return w.detach().numpy().copy(), b.detach().numpy().copy()
