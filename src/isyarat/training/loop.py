"""The training loop shared by every model: optimizer, exponential LR decay, early stopping."""
from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from isyarat.errors import IsyaratError
from isyarat.training.landmark_data import LandmarkFeatureDataset
from isyarat.training.recipe import TrainConfig


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_device() -> torch.device:
    """The GPU when one is there (full image runs), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def fit(model: nn.Module, train_ds: Dataset, val_ds: Dataset | None, cfg: TrainConfig,
        progress: bool = True, device: torch.device | None = None) -> tuple[nn.Module, list[dict], float]:
    """Train with early stopping on validation loss; returns the best model, history and seconds."""
    with torch_threads(cfg.threads):
        return _fit(model, train_ds, val_ds, cfg, progress, device)


@contextmanager
def torch_threads(threads: int):
    """torch's CPU threads set to `threads` (0: left as they are) for the block. A small model's
    operations are too short to split across cores: on a busy 2-core machine two threads waiting
    on each other made each training step 10-40x slower than one thread (bench/wordloop.py)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit(model: nn.Module, train_ds: Dataset, val_ds: Dataset | None, cfg: TrainConfig, progress: bool,
         device: torch.device | None) -> tuple[nn.Module, list[dict], float]:
    seed_everything(cfg.seed)
    device = device or default_device()
    model.to(device)
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = batches(train_ds, cfg.batch_size, generator)
    val_loader = batches(val_ds, 256) if val_ds is not None and len(val_ds) else None
    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history: list[dict] = []
    best_loss, best_state, stale = float("inf"), None, 0
    start = time.perf_counter()
    bar = tqdm(range(cfg.epochs), desc="train", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        train_loss, train_acc = _run_epoch(model, loader, loss_fn, device, optimizer)
        row = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc,
               "lr": optimizer.param_groups[0]["lr"]}
        scheduler.step()
        if val_loader is not None:
            row["val_loss"], row["val_acc"] = _run_epoch(model, val_loader, loss_fn, device)
        history.append(row)
        if not math.isfinite(train_loss):
            raise IsyaratError(f"training diverged: the loss is {train_loss} at epoch {epoch + 1}; lower train.lr "
                               f"(now {cfg.lr}) or check the data for extreme values")
        monitored = row.get("val_loss", train_loss)
        bar.set_postfix({k: round(v, 3) for k, v in row.items() if k != "epoch"})
        if math.isfinite(monitored) and monitored < best_loss - 1e-4:  # never keep NaN weights
            best_loss, best_state, stale = monitored, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.cpu().eval(), history, time.perf_counter() - start


class _TensorBatches:
    """Batches sliced straight from in-memory tensors: far less overhead than a DataLoader
    for small landmark models, where per-sample collation would dominate an epoch."""

    def __init__(self, ds: LandmarkFeatureDataset, batch_size: int, generator: torch.Generator | None):
        self.ds, self.batch_size, self.generator = ds, batch_size, generator

    def __iter__(self):
        x, y = self.ds.next_pass(), self.ds.targets
        order = torch.randperm(len(y), generator=self.generator) if self.generator else torch.arange(len(y))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield x[idx], y[idx]


def batches(ds: Dataset, batch_size: int, generator: torch.Generator | None = None):
    """Shuffled batches when a generator is given; in order otherwise."""
    if isinstance(ds, LandmarkFeatureDataset):
        return _TensorBatches(ds, batch_size, generator)
    return DataLoader(ds, batch_size=batch_size, shuffle=generator is not None, generator=generator)


def _run_epoch(model, loader, loss_fn, device, optimizer=None) -> tuple[float, float]:
    training = optimizer is not None
    model.train(training)
    total, correct, loss_sum = 0, 0, 0.0
    with torch.set_grad_enabled(training):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = loss_fn(logits, y)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    return loss_sum / max(total, 1), correct / max(total, 1)


@torch.no_grad()
def predict_proba(model: nn.Module, ds: Dataset, batch_size: int = 256) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = [torch.softmax(model(x.to(device)), 1).cpu() for x, _ in batches(ds, batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)
