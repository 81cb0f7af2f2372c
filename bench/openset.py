"""Unknown signs: how often a word or letter model names a sign it does not know, with and
without open-set rejection, and what rejection costs the vocabulary's own held-out samples.

Word model (BISINDO words, WL-BISINDO clips, one signer): the shared data has 4 words, so each
fold leaves one word out of the vocabulary entirely (never trained on, in any role) and trains
a 3-word model on 75% of the other words' clips; its held-out 25% are the in-vocabulary test.
Out-of-vocabulary test: every clip of the left-out word, still letters (BISINDO letter photos of
held-out photos, held as a real hand holds them) and non-sign hand motion (held-out hands
wandering) and, when the folder is there, synthetic moving BISINDO letters (`isyarat synth
bisindo` sequences, every 20th: other signs that move like signing). Letter model (BISINDO
letter photos): the letters are split into a vocabulary, letters used as negatives, and unseen
letters (the out-of-vocabulary test); photos are split so the test photos are never trained on.

Readers, each exported to a bundle and scored by `isyarat evaluate`'s code (Recognizer, its
default 0.5 threshold for "no sign"):
  plain             the model as trained today, no rejection
  threshold         the plain model + a threshold on its best sign's probability, calibrated on
                    the run's validation split to keep 98% of it
  unknown class     trained with negatives as an extra class (word model: the training letter
                    photos held/wandering + synthetic non-sign motion; letter model: the negative
                    letters' training photos)
  unknown + thresh  both
  distance          the plain model with a distance gate: a clip whose last hidden layer is far
                    (Mahalanobis) from every sign's training mean is unknown; the threshold is
                    `margin` x the largest distance of the run's own training + validation clips,
                    the margin chosen per fold on inner folds of that fold's training clips only
                    (each training word left out of a 2-word model in turn), never on its test clips
  unknown + dist    the unknown-class model with the same gate (word model only)

    nice -n 10 python bench/openset.py              # 2 folds: ~15 min on 2 busy cores
    nice -n 10 python bench/openset.py --folds 4    # every word left out once (~30 min at load 16)
    nice -n 10 python bench/openset.py --folds 4 --only words --moving ../main/runs/synth-bisindo
        # the word table of bench/results/openset.txt (~8 min at load 5; the moving letters are
        # `isyarat synth bisindo` sequences, as `make shipped` writes them to runs/synth-bisindo)
    ... --margin 4    # the gate's margin fixed (bisindo-words recipe's) instead of chosen per fold
    python bench/openset.py --folds 1 --epochs 10   # a quick look
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from isyarat.data.layouts import load_dataset
from isyarat.data.samples import LANDMARKS, Dataset, Sample
from isyarat.evaluation.evaluate import evaluate_recognizer
from isyarat.features import make_features
from isyarat.export.bundle import load_bundle, write_bundle
from isyarat.export.openset import OpenSet
from isyarat.landmarks.arrays import Landmarks
from isyarat.landmarks.extract import extract_dataset
from isyarat.runtime.recognizer import Recognizer
from isyarat.synth.motion import held_sequence
from isyarat.synth.negatives import wandering_sequence
from isyarat.training.openset import OpenSetConfig, as_negatives, with_negatives
from isyarat.training.prepare import extract_settings, prepare
from isyarat.training.recipe import load_recipe
from isyarat.training.run import train_fold

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
WORDS, LETTERS = DATA / "bisindo-words-wlbisindo", DATA / "bisindo-alphabet-binus"
MOVING = Path(__file__).resolve().parents[1] / "runs" / "synth-bisindo"  # `isyarat synth bisindo` sequences
READERS = ("plain", "threshold", "unknown class", "unknown + thresh", "distance", "unknown + dist")


def landmark_dataset(items: list[tuple[str, Landmarks]], name: str) -> Dataset:
    return Dataset(Path(name), "sequences", [Sample(label, Path(name) / str(i), LANDMARKS, {}, lm)
                                             for i, (label, lm) in enumerate(items)])


def extracted(path: Path, recipe_name: str) -> Dataset:
    return extract_dataset(load_dataset(path), extract_settings(load_recipe(recipe_name)), progress=False).dataset


def split(items: list, test_fraction: float, seed: int) -> tuple[list, list]:
    """Per label, a `test_fraction` of the items to the test side (at least one)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in sorted({label for label, _ in items}):
        mine = [it for it in items if it[0] == label]
        order = rng.permutation(len(mine))
        k = max(1, int(round(test_fraction * len(mine))))
        test += [mine[i] for i in order[:k]]
        train += [mine[i] for i in order[k:]]
    return train, test


def trained(recipe, train: list, negatives: list[Sample], name: str):
    """(model, labels) of `recipe` trained on `train` (+ negatives) as `isyarat train` does."""
    prep = prepare(landmark_dataset(train, name), recipe, progress=False)
    prep = with_negatives(prep, negatives, recipe.features, unknown_output=bool(recipe.open_set.distance_margin))
    model, _, _ = train_fold(prep, np.flatnonzero(prep.usable), recipe, progress=False)
    return model.eval(), prep.labels


def bundle(model, labels: list[str], recipe, open_set: OpenSet | None, folder: Path, reader: str) -> Path:
    return write_bundle(model, recipe.features.output_shape, labels, recipe.features.to_dict(), "bisindo",
                        folder / reader.replace(" ", "-"), reader, {"name": recipe.model}, extract=recipe.extract,
                        open_set=open_set)


def train_bundles(recipe_name: str, train: list, negatives: list[Sample], overrides: dict, folder: Path,
                  margin: float = 0.0) -> dict:
    """The readers' bundles: plain and unknown-class models, each with and without threshold, and
    with a distance gate of `margin` (0: none)."""
    recipe = load_recipe(recipe_name, {**overrides, "open_set": {"keep": 0.98}})
    out = {}
    for kind, negs in (("plain", []), ("unknown class", negatives)):
        model, labels = trained(recipe, train, negs, kind)
        calibrated: OpenSet = model.open_set
        no_threshold = OpenSet(unknown_class=calibrated.unknown_class) if calibrated.unknown_class else None
        for reader, open_set in ((kind, no_threshold), ("threshold" if kind == "plain" else "unknown + thresh", calibrated)):
            out[reader] = bundle(model, labels, recipe, open_set, folder, reader)
    gated = load_recipe(recipe_name, {**overrides, "open_set": {"keep": 1.0, "distance_margin": margin}})
    for reader, negs in (("distance", []), ("unknown + dist", negatives)) if margin else ():
        model, labels = trained(gated, train, negs, reader)
        out[reader] = bundle(model, labels, gated, model.open_set, folder, reader)
    return out


def inner_margin(train: list, overrides: dict, seed: int) -> tuple[float, list[str]]:
    """The distance gate's margin, chosen on the fold's training clips only: each training word in
    turn is left out of a 2-word gated model (margin 1: threshold = its own largest distance),
    trained on 75% of the other two words' clips; the margin is the geometric middle of the gap
    between its own held-out clips (largest distance / threshold) and the left-out word's clips
    (smallest), over the inner folds (the own side's largest when there is no gap)."""
    recipe = load_recipe("bisindo-words", {**overrides, "open_set": {"keep": 1.0, "distance_margin": 1.0}})
    own_worst, other_best = 1.0, np.inf
    for word in sorted({label for label, _ in train}):
        inner_train, inner_test = split([it for it in train if it[0] != word], 0.25, seed)
        model, _ = trained(recipe, inner_train, [], f"inner-{word}")
        ratio = lambda lms: (model.distance(model.model(torch.as_tensor(np.stack([make_features(lm, recipe.features)
                             for lm in lms])))).detach().numpy() / model.open_set.distance.threshold)
        own_worst = max(own_worst, float(ratio([lm for _, lm in inner_test]).max()))
        other_best = min(other_best, float(ratio([lm for label, lm in train if label == word]).min()))
    margin = float(np.sqrt(own_worst * other_best)) if other_best > own_worst else own_worst
    return round(margin, 1), [f"own held-out up to {own_worst:.2f}", f"left-out word from {other_best:.2f}"]


def score(bundle: Path, inside: list, outside: dict[str, list]) -> dict:
    """In-vocabulary accuracy and, per out-of-vocabulary set, the fraction given a sign."""
    recognizer = Recognizer(load_bundle(bundle))
    known = set(recognizer.labels)
    items = inside + [(f"~{name}", lm) for name, lms in outside.items() for lm in lms]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if recognizer.open_set is None:  # a plain model has no open-set report: count what it names
            report = evaluate_recognizer(recognizer, landmark_dataset(inside, "in"), progress=False)
            given = {name: float(np.mean([recognizer.predict_clip(lm).label is not None for lm in lms]))
                     for name, lms in outside.items()}
        else:
            report = evaluate_recognizer(recognizer, landmark_dataset(items, "all"), progress=False)
            by = report["open_set"]["out_of_vocabulary"]["by_label"]
            given = {name: by[f"~{name}"]["given_a_sign"] for name in outside}
    assert not known & {f"~{n}" for n in outside}
    return {"accuracy": report["accuracy"], "n": report["n_samples"], "given": given,
            "n_out": {name: len(lms) for name, lms in outside.items()}}


def word_fold(held: str, clips: list, train_letters: list, test_letters: list, synthetic_letters: list, args,
              folder: Path) -> dict:
    vocab = [(label, lm) for label, lm in clips if label != held]
    train, test = split(vocab, 0.25, args.seed)
    rng = np.random.default_rng(args.seed + 7)
    still = [held_sequence(h, rng) for _, h in test_letters]
    wander = [wandering_sequence(h, rng) for _, h in test_letters]
    moving = [s.landmarks for s in synthetic_letters[::args.moving_every]]
    pick = np.random.default_rng(args.seed).permutation(len(train_letters))[:args.letter_negatives]
    letter_samples = [Sample(train_letters[i][0], Path("letters") / str(i), LANDMARKS, {},
                             Landmarks(train_letters[i][1][None])) for i in pick]
    own = landmark_dataset(train, "own").samples
    negatives = as_negatives(letter_samples, own, args.synthetic, sequence=True, spliced=args.spliced)
    overrides = {"train.epochs": args.epochs, "train.patience": 15, "augment.copies": 3}
    margin, why = inner_margin(train, overrides, args.seed) if args.margin is None else (args.margin, ["given"])
    print(f"  fold without '{held}': margin {margin} ({'; '.join(why)})", flush=True)
    bundles = train_bundles("bisindo-words", train, negatives, overrides, folder / f"words-{held}", margin)
    outside = {"word": [lm for label, lm in clips if label == held], "still letter": still, "non-sign motion": wander,
               **({"moving letter": moving} if moving else {})}
    result = {reader: score(path, test, outside) for reader, path in bundles.items()}
    result["margin"] = margin
    return result


def letter_fold(fold: int, hands: list, word_frames: list, args, folder: Path) -> dict:
    letters = sorted({label for label, _ in hands})
    order = np.random.default_rng(args.seed + fold).permutation(letters).tolist()
    unseen, negative_letters = order[:5], order[5:10]
    vocab = [(label, Landmarks(h[None])) for label, h in hands if label not in unseen + negative_letters]
    train, test = split(vocab, 0.25, args.seed)
    negs = [(label, h) for label, h in hands if label in negative_letters]
    neg_train, _ = split(negs, 0.25, args.seed)
    negatives = as_negatives([Sample(label, Path("neg") / str(i), LANDMARKS, {}, Landmarks(h[None]))
                              for i, (label, h) in enumerate(neg_train)], [], 0, sequence=False)
    bundles = train_bundles("bisindo-letters", train, negatives, {"train.epochs": args.epochs * 2,
                                                                  "train.patience": 15}, folder / f"letters-{fold}")
    outside = {"letter": [Landmarks(h[None]) for label, h in hands if label in unseen],
               "word frame": [Landmarks(h[None]) for h in word_frames]}
    return {reader: score(path, test, outside) for reader, path in bundles.items()}, unseen


def still_hands(dataset: Dataset) -> list[tuple[str, np.ndarray]]:
    out = []
    for s in dataset:
        if s.landmarks is not None and s.landmarks.has_hand():
            t = int(np.flatnonzero(s.landmarks.hand_present().any(axis=1))[-1])
            out.append((s.label, s.landmarks.hands[t].copy()))
    return out


def table(title: str, folds: list[dict], sets: list[str]) -> list[str]:
    plain = np.mean([f["plain"]["accuracy"] for f in folds])
    head = ["reader", "in-vocab accuracy", "change"] + [f"given a sign: {s}" for s in sets] + ["given a sign: all"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for reader in [r for r in READERS if r in folds[0]]:
        acc = np.mean([f[reader]["accuracy"] for f in folds])
        given = [np.mean([f[reader]["given"][s] for f in folds]) for s in sets]
        counts = [sum(f[reader]["n_out"][s] for f in folds) for s in sets]
        cells = [reader, f"{acc:.3f} ({sum(f[reader]['n'] for f in folds)})", f"{acc - plain:+.3f}"]
        cells += [f"{g:.3f} ({c})" for g, c in zip(given, counts)]
        cells.append(f"{np.mean(given):.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=2, help="word folds (one left-out word each, at most 4) "
                                                             "and letter folds (5 unseen letters each)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--synthetic", type=int, default=60, help="synthetic non-sign sequences (word model)")
    parser.add_argument("--spliced", type=int, default=0,
                        help="negatives spliced from two training words or played backwards (word model)")
    parser.add_argument("--only", choices=("words", "letters"), help="one of the two models")
    parser.add_argument("--letter-negatives", type=int, default=60,
                        help="training letter photos shown to the word model as negatives (held or wandering)")
    parser.add_argument("--margin", type=float, help="distance gate margin for every fold (default: chosen per "
                                                     "fold on inner folds of its training clips; 0: no gate)")
    parser.add_argument("--moving", type=Path, default=MOVING, help="`isyarat synth bisindo` sequence folder: "
                                                                   "synthetic moving letters as out-of-vocabulary signs")
    parser.add_argument("--moving-every", type=int, default=20, help="every Nth synthetic sequence")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "openset.txt")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    clips = [(s.label, s.landmarks) for s in extracted(WORDS, "bisindo-words") if s.landmarks is not None]
    hands = still_hands(extracted(LETTERS, "bisindo-letters"))
    train_letters, test_letters = split(hands, 0.3, args.seed)  # photos of the letters, for the word model
    moving = list(load_dataset(args.moving)) if args.only != "letters" and args.moving.is_dir() else []
    print(f"{len(clips)} word clips, {len(hands)} letter photos with a hand ({time.time() - start:.0f} s)", flush=True)

    lines = [f"# python bench/openset.py --folds {args.folds} --epochs {args.epochs} --synthetic {args.synthetic} "
             f"--spliced {args.spliced} --letter-negatives {args.letter_negatives} --seed {args.seed}"
             + (f" --only {args.only}" if args.only else "") + (f" --margin {args.margin:g}" if args.margin is not None else "")
             + (f" --moving {args.moving} --moving-every {args.moving_every}" if moving else ""), ""]
    words = sorted({label for label, _ in clips})[:args.folds] if args.only != "letters" else []
    word_results = []
    with tempfile.TemporaryDirectory() as tmp:
        for held in words:
            word_results.append(word_fold(held, clips, train_letters, test_letters, moving, args, Path(tmp)))
            print(f"word fold without '{held}' done ({time.time() - start:.0f} s)", flush=True)
        frames = [lm.hands[t] for label, lm in clips for t in range(0, lm.n_frames, 10)
                  if np.isfinite(lm.hands[t]).all(axis=(1, 2)).any()]
        letter_results = []
        for fold in range(args.folds if args.only != "words" else 0):
            result, unseen = letter_fold(fold, hands, frames, args, Path(tmp))
            letter_results.append(result)
            print(f"letter fold {fold} (unseen {', '.join(unseen)}) done ({time.time() - start:.0f} s)", flush=True)
    lines += [
        "Held-out data only: in-vocabulary test clips/photos are never trained on; out-of-vocabulary sets are",
        "never trained on in any role (left-out word, held-out letter photos, unseen letters). Accuracy counts",
        "'unknown sign' and 'no sign' (below the Recognizer's 0.5) as wrong. Means over folds; (n) summed.", ""]
    lines += [] if not word_results else table(f"Word model (bisindo-words recipe, 3 of the 4 WL-BISINDO words; {len(words)} folds, one word "
                   "left out each)", word_results, list(word_results[0]["plain"]["n_out"]))
    lines += [] if not word_results or "distance" not in word_results[0] else [
        "Distance margin per fold (" + ("given: --margin" if args.margin is not None else
                                         "chosen on inner folds of its training clips") + "): "
        + ", ".join(f"{w}: {r['margin']}" for w, r in zip(words, word_results)), ""]
    lines += [] if not letter_results else table(f"Letter model (bisindo-letters recipe, 16 BISINDO letters, 5 as negatives, 5 unseen; "
                   f"{args.folds} folds)", letter_results, ["letter", "word frame"])
    lines.append(f"({time.time() - start:.0f} s)")
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
