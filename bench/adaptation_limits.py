"""Why adaptation gains little on a SIBI capture group, and how much any method could gain.

Used by bench/adaptation.py (`--only why ceiling`), on the same held-out group and base model:

- why: the base model's accuracy per letter on the held-out group and its main confusions;
  whether the group's samples are separable at all in the base model's embedding (the input of
  its last layer) and in the raw features: a nearest neighbour and a nearest class mean with
  k = 5 samples per letter from the group, and leave-one-out 1-NN with every other sample of
  the group (far more than a user records).
- ceiling: the whole model retrained from scratch (the recipe, every layer) on the other groups
  plus 3/4 of the held-out group (about 9 samples per letter), scored on the last quarter, 4
  folds; the base model on the same quarter. No adaptation with k = 5 can be expected to beat
  what retraining every layer with twice as many of the group's samples reaches.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx

from isyarat.adaptation.adapt import embed
from isyarat.export.bundle import read_model_bytes
from isyarat.features import FeatureConfig, make_features
from isyarat.training.loop import predict_proba
from isyarat.training.prepare import torch_dataset
from isyarat.training.run import train_fold


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-9)


def nearest(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, means: bool) -> np.ndarray:
    """Labels of `test` by cosine nearest neighbour (or nearest class mean) among `train`."""
    if means:
        classes = np.array(sorted(set(y_train)))
        train = np.stack([_unit(train[y_train == c]).mean(0) for c in classes])
        y_train = classes
    return y_train[(_unit(test) @ _unit(train).T).argmax(1)]


def _draw(truth: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    picked = []
    for letter in sorted(set(truth)):
        idx = np.flatnonzero(truth == letter)
        take = min(k, len(idx) - 1)
        picked += rng.choice(idx, take, replace=False).tolist() if take > 0 else []
    return np.array(sorted(picked), dtype=int)


def why(group: str, bundle, landmarks: list, truth: list[str], draws: int, seed: int) -> list[str]:
    """Per-letter errors of the base model and separability of the group in embedding / features."""
    truth = np.array(truth)
    x = np.stack([make_features(lm, FeatureConfig.from_dict(bundle.features)) for lm in landmarks])
    spaces = {"embedding": embed(onnx.load_from_string(read_model_bytes(bundle.path)), x), "raw features": x}
    predicted = np.array(bundle.labels)[bundle.model.predict(x).argmax(1)]
    lines = [f"\nwhy: held-out group {group}, base model {np.mean(predicted == truth):.3f} on {len(truth)} photos "
             "with a hand; letters below 0.80 (n, main confusion):"]
    weak = []
    for letter in sorted(set(truth)):
        mine = predicted[truth == letter]
        if np.mean(mine == letter) < 0.8:
            wrong = Counter(mine[mine != letter]).most_common(1)[0]
            weak.append(f"{letter} {np.mean(mine == letter):.2f} (n {len(mine)}, -> {wrong[0]} x{wrong[1]})")
    lines.append("  " + ("; ".join(weak) or "none"))
    lines.append(f"  {'space':14s} {'base k=5':>9s} {'1-NN k=5':>9s} {'mean k=5':>9s} {'LOO 1-NN all':>13s}")
    rng = np.random.default_rng(seed)
    picks = [_draw(truth, 5, rng) for _ in range(draws)]
    for name, space in spaces.items():
        base, nn, ncm = [], [], []
        for a in picks:
            t = np.setdiff1d(np.arange(len(truth)), a)
            base.append(np.mean(predicted[t] == truth[t]))
            nn.append(np.mean(nearest(space[a], truth[a], space[t], False) == truth[t]))
            ncm.append(np.mean(nearest(space[a], truth[a], space[t], True) == truth[t]))
        similar = _unit(space) @ _unit(space).T
        np.fill_diagonal(similar, -np.inf)
        loo = np.mean(truth[similar.argmax(1)] == truth)
        lines.append(f"  {name:14s} {np.mean(base):9.3f} {np.mean(nn):9.3f} {np.mean(ncm):9.3f} {loo:13.3f}")
    print("\n".join(lines), flush=True)
    return lines


def ceiling(group: str, prep, train: np.ndarray, held: np.ndarray, recipe, bundle, seed: int,
            folds: int = 4) -> list[str]:
    """Every layer retrained with the other groups + (folds-1)/folds of the held-out group; the base
    bundle (trained on the other groups only) scored on the same photos."""
    order = np.random.default_rng(seed).permutation(held)
    config = FeatureConfig.from_dict(bundle.features)
    retrained, base = [], []
    for part in np.array_split(order, folds):
        part = np.sort(part)
        model, _, _ = train_fold(prep, np.concatenate([train, np.setdiff1d(held, part)]), recipe, progress=False)
        retrained.append(_accuracy(model, prep, part, recipe))
        x = np.stack([make_features(prep.dataset.samples[i].landmarks, config) for i in part])
        base.append(float(np.mean(bundle.model.predict(x).argmax(1) == prep.targets[part])))
    per_letter = len(held) * (folds - 1) / folds / len(set(prep.targets[held]))
    line = (f"ceiling: held-out group {group}, every layer retrained with the other groups + {folds - 1}/{folds} of "
            f"this group (~{per_letter:.0f} per letter), {folds} folds: {np.mean(retrained):.3f} vs base "
            f"{np.mean(base):.3f} on the same photos ({100 * (np.mean(retrained) - np.mean(base)):+.1f} points)")
    print(line, flush=True)
    return [line]


def _accuracy(model, prep, idx: np.ndarray, recipe) -> float:
    probs = np.asarray(predict_proba(model, torch_dataset(prep, idx, recipe, train=False)))
    return float(np.mean(probs.argmax(1) == prep.targets[idx]))
