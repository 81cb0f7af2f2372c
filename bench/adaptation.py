"""What adapting a bundle to a new signer with k samples per sign gains (`isyarat adapt`).

SIBI photos (sibi-alphabet-ajustiago), leave one capture group out: a base model (the
isyarat-letters recipe, through the training code) is trained on the other two groups and
exported to ONNX; it is then adapted with k = 0, 1, 3, 5, 10 samples per letter drawn from the
held-out group and scored on the rest of that group (never on the adaptation samples), over
several random draws. The base model is scored on the same remaining samples, so each gain is
paired. A letter with k or fewer held-out samples gives all but one of them.

BISINDO photos (bisindo-alphabet-binus), mirrored: the base model is trained on a stratified 60%
of the photos; the other 40%, flipped horizontally (x -> 1 - x, hand slots swapped), play a new
left-handed signer.

"unrecorded" rows: adapted with k = 5 samples of half the letters only, scored on the other half
(signs the user did not record): the base model's knowledge must survive.

Methods (adaptation/fit.py): shared (the head only; the default of `isyarat adapt`, chosen here),
auto (layers when every letter the base knows has a sample, else shared), layers (the last
weighted layers of the graph fine-tuned), prototype (class means blended into the head, no training).

Before the methods, for each held-out group (bench/adaptation_limits.py): "why" (the base
model's weak letters; whether the group's samples are separable at all in the embedding and in
the raw features) and "ceiling" (every layer retrained with 3/4 of the group: the most any
adaptation with fewer samples can be expected to reach).

Accuracy is over held-out photos where MediaPipe found a hand (a photo without one cannot be
adapted with or recognized, whatever the model). Seconds: one `adapt_model` call (features,
ONNX embeddings, fit, new ONNX graph) on one thread. Base models kept with --keep are reused only
when their extraction and feature settings are the recipe's (else trained again).

    nice -n 10 python bench/adaptation.py                       # ~15 minutes on 2 cores
    python bench/adaptation.py --only why sibi --keep /tmp/keep  # quicker; bases kept between runs
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from isyarat.adaptation import FitSettings, adapt_model
from isyarat.data.layouts import load_dataset
from isyarat.data.splits import holdout
from isyarat.export.bundle import OnnxModel, load_bundle, write_bundle
from isyarat.features import make_features
from isyarat.landmarks.arrays import Landmarks
from isyarat.training.prepare import prepare
from isyarat.training.recipe import load_recipe
from isyarat.training.run import train_fold

from adaptation_limits import ceiling, why

KS = (0, 1, 3, 5, 10)
METHODS = ("auto", "layers", "shared", "prototype")  # fit.py also has finetune (head rows only)
FIT: dict = {}  # --fit KEY=VALUE: FitSettings fields for every method


def mirrored(lm: Landmarks) -> Landmarks:
    """The same sample as a left-handed signer shows it: x -> 1 - x, left and right hand swapped."""
    hands = lm.hands[:, ::-1].copy()
    hands[..., 0] = 1.0 - hands[..., 0]
    return Landmarks(hands=hands, pose=lm.pose)


def base_bundle(prep, train_idx: np.ndarray, recipe, folder: Path):
    """The base model trained on train_idx, exported; reused when `folder` already holds it (--keep)."""
    if (folder / "bundle.json").is_file():
        kept = load_bundle(folder)
        if kept.extract == recipe.extract and kept.features == recipe.features.to_dict():
            return kept, 0.0
        # kept with other extraction or feature settings (an older run): a stale base, train again
    model, _, seconds = train_fold(prep, train_idx, recipe, progress=False)
    out = write_bundle(model, recipe.features.output_shape, prep.labels, recipe.features.to_dict(), "sibi",
                       folder, "base", {"name": recipe.model, "params": recipe.model_params}, {},
                       extract=recipe.extract)
    return load_bundle(out), seconds


def accuracy(model: OnnxModel, labels: list[str], x: np.ndarray, truth: list[str]) -> float:
    predicted = model.predict(x).argmax(1)
    return float(np.mean([labels[p] == t for p, t in zip(predicted, truth)]))


def draw(truth: list[str], k: int, rng: np.random.Generator, letters: set[str] | None = None) -> np.ndarray:
    """Indices of k samples of each letter (all but one when a letter has k or fewer)."""
    picked = []
    for letter in sorted(set(truth)):
        if letters is not None and letter not in letters:
            continue
        idx = [i for i, t in enumerate(truth) if t == letter]
        take = min(k, len(idx) - 1)
        picked += rng.choice(idx, take, replace=False).tolist() if take > 0 else []
    return np.array(sorted(picked), dtype=int)


def experiment(bundle, landmarks: list[Landmarks], truth: list[str], draws: int, seed: int) -> list[dict]:
    """Rows (method, k, adapted, base on the same test samples, seconds) over `draws` random draws."""
    x = np.stack([make_features(lm, _config(bundle)) for lm in landmarks])
    rows = []
    for method in METHODS:
        for k in KS:
            rng = np.random.default_rng(seed)
            for _ in range(draws if k else 1):
                rows.append(_one(bundle, landmarks, truth, x, draw(truth, k, rng), method, k))
        rng = np.random.default_rng(seed)
        for _ in range(draws):
            letters = set(rng.permutation(sorted(set(truth)))[: len(set(truth)) // 2].tolist())
            row = _one(bundle, landmarks, truth, x, draw(truth, 5, rng, letters), method, "5, half", letters)
            rows.append(row)
    return rows


def _config(bundle):
    return bundle.features


def _one(bundle, landmarks, truth, x, adapt_idx, method: str, k, recorded: set[str] | None = None) -> dict:
    test = np.setdiff1d(np.arange(len(truth)), adapt_idx)
    if recorded is not None:  # score only the letters the user did not record
        test = np.array([i for i in test if truth[i] not in recorded], dtype=int)
    base = accuracy(bundle.model, bundle.labels, x[test], [truth[i] for i in test])
    if len(adapt_idx) == 0:
        return {"method": method, "k": k, "adapted": base, "base": base, "seconds": 0.0, "n_test": len(test)}
    adapted = adapt_model(bundle, [landmarks[i] for i in adapt_idx], [truth[i] for i in adapt_idx],
                          FitSettings(**{**FIT, "method": method}))
    model = OnnxModel(adapted.model)
    return {"method": method, "k": k, "adapted": accuracy(model, adapted.labels, x[test], [truth[i] for i in test]),
            "base": base, "seconds": adapted.seconds, "n_test": len(test), "n_adapt": len(adapt_idx)}


def summarize(name: str, rows: list[dict]) -> list[str]:
    lines = [f"\n{name}", f"{'method':10s} {'k':8s} {'adapted':>15s} {'base, same test':>16s} {'gain':>7s} "
             f"{'test n':>7s} {'adapt s':>8s}"]
    for method in METHODS:
        for k in [*KS, "5, half"]:
            sel = [r for r in rows if r["method"] == method and r["k"] == k]
            if not sel:
                continue
            a, b = np.array([r["adapted"] for r in sel]), np.array([r["base"] for r in sel])
            secs = np.mean([r["seconds"] for r in sel])
            label = f"{k} (unrec.)" if k == "5, half" else str(k)
            lines.append(f"{method:10s} {label:8s} {a.mean():.3f} ± {a.std():.3f}    {b.mean():.3f} ± {b.std():.3f} "
                         f"{100 * (a - b).mean():+6.1f} {np.mean([r['n_test'] for r in sel]):7.0f} {secs:8.2f}")
    return lines


def sibi_groups(args, recipe) -> list[str]:
    dataset = load_dataset(args.data / "sibi-alphabet-ajustiago")
    prep = prepare(dataset, recipe, workers=args.workers, progress=False)
    groups = np.array([s.metadata.get("group", "") for s in prep.dataset])
    lines, pooled = [], []
    for group in sorted(set(groups)):
        held = np.flatnonzero((groups == group) & prep.usable)
        train = np.flatnonzero(groups != group)
        assert not set(held) & set(train), "the base model must never see the held-out group"
        with tempfile.TemporaryDirectory() as tmp:
            bundle, seconds = base_bundle(prep, train, recipe, (args.keep or Path(tmp)) / group)
            landmarks = [prep.dataset.samples[i].landmarks for i in held]
            truth = [prep.dataset.samples[i].label for i in held]
            if "why" in args.only:
                lines += why(group, bundle, landmarks, truth, args.draws, args.seed)
            if "ceiling" in args.only:
                lines += ceiling(group, prep, train, held, recipe, bundle, args.seed)
            if "sibi" not in args.only:
                continue
            rows = experiment(bundle, landmarks, truth, args.draws, args.seed)
        pooled += rows
        lines += summarize(f"SIBI, held-out group {group} ({len(held)} photos with a hand; base trained on the "
                           f"other groups{f' in {seconds:.0f} s' if seconds else ', kept from an earlier run'})", rows)
        print("\n".join(lines[-(2 + 6 * len(METHODS)):]), flush=True)
    if pooled:
        lines += summarize("SIBI, mean over the 3 held-out groups (each draw of each group one value)", pooled)
    return lines


def bisindo_mirrored(args, recipe) -> list[str]:
    dataset = load_dataset(args.data / "bisindo-alphabet-binus")
    prep = prepare(dataset, recipe, workers=args.workers, progress=False)
    labels = [s.label for s in prep.dataset]
    train, held = holdout(labels, 0.4, args.seed)
    held = held[prep.usable[held]]
    with tempfile.TemporaryDirectory() as tmp:
        bundle, seconds = base_bundle(prep, train, recipe, (args.keep or Path(tmp)) / "bisindo-60")
        original = [prep.dataset.samples[i].landmarks for i in held]
        truth = [prep.dataset.samples[i].label for i in held]
        x = np.stack([make_features(lm, _config(bundle)) for lm in original])
        plain = accuracy(bundle.model, bundle.labels, x, truth)
        rows = experiment(bundle, [mirrored(lm) for lm in original], truth, args.draws, args.seed)
    lines = summarize(f"BISINDO, held-out 40% mirrored (left-handed signer; {len(held)} photos with a hand; "
                      f"the base model on the same photos un-mirrored: {plain:.3f})", rows)
    print("\n".join(lines), flush=True)
    return lines


def speed(args) -> list[str]:
    """Seconds per adaptation of the shipped sibi-letters bundle (26 letters) with 5 ASL landmark
    frames of each of its 26 letters (every method), median of 5 runs: wall clock, and the CPU
    time of this one-thread process (what the wall clock is on an idle core)."""
    from isyarat.runtime.recognizer import resolve_bundle

    bundle = load_bundle(resolve_bundle("sibi-letters"))
    asl = load_dataset(args.data / "asl-alphabet-landmarks-graudt")
    picked = [s for label in bundle.labels for s in [x for x in asl if x.label == label][:50:10]]
    lines = [f"\nspeed: shipped sibi-letters adapted with {len(picked)} samples "
             f"({len(bundle.labels)} signs x 5), one thread, median of 5 runs (machine load {os.getloadavg()[0]:.1f})",
             f"{'method':10s} {'wall s':>7s} {'cpu s':>7s}"]
    for method in METHODS:
        wall, cpu = [], []
        for _ in range(5):
            start = time.process_time()
            wall.append(adapt_model(bundle, [s.landmarks for s in picked], [s.label for s in picked],
                                    FitSettings(**{**FIT, "method": method})).seconds)
            cpu.append(time.process_time() - start)
        lines.append(f"{method:10s} {np.median(wall):7.2f} {np.median(cpu):7.2f}")
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--recipe", default="isyarat-letters")
    parser.add_argument("--epochs", type=int, default=30, help="base model training epochs (recipe: 120)")
    parser.add_argument("--draws", type=int, default=3, help="random draws of the k samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="MediaPipe extraction processes (first run)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for training the base models")
    parser.add_argument("--keep", type=Path, help="folder to keep the base bundles in and reuse them from "
                        "(same recipe and epochs only: delete it after changing either)")
    parser.add_argument("--fit", nargs="*", default=[], metavar="KEY=VALUE",
                        help="FitSettings fields for every method, e.g. --fit distill=5 layers=2 (default: the defaults)")
    parser.add_argument("--only", choices=["why", "ceiling", "sibi", "bisindo", "speed"], nargs="*",
                        default=["why", "ceiling", "sibi", "bisindo", "speed"],
                        help="parts to run (why/ceiling: bench/adaptation_limits.py)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "adaptation.txt")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    defaults = FitSettings().to_dict()
    for item in args.fit:
        key, _, value = item.partition("=")
        FIT[key] = type(defaults[key])(value) if not isinstance(defaults[key], bool) else value == "true"
    recipe = load_recipe(args.recipe, {"train.epochs": args.epochs})
    if args.keep:
        args.keep = args.keep / f"{args.recipe}-{args.epochs}"
    start = time.perf_counter()
    lines = [f"bench/adaptation.py: recipe {args.recipe} ({args.epochs} epochs), {args.draws} draws, seed {args.seed}, "
             f"settings {FitSettings(**FIT).to_dict()}",
             "accuracy on held-out photos with a hand, never the adaptation samples (mean ± std over draws);",
             "'base, same test' = the unadapted model on the same samples; gain in points; adapt s = seconds per "
             "adaptation"]
    if {"why", "ceiling", "sibi"} & set(args.only):
        lines += sibi_groups(args, recipe)
    if "bisindo" in args.only:
        lines += bisindo_mirrored(args, recipe)
    if "speed" in args.only:
        lines += speed(args)
    lines.append(f"\ntotal {time.perf_counter() - start:.0f} s")
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
