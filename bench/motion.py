"""Moving letters: a motion-aware letter bundle against the frame model alone, on hands and paths
it never trained on.

For each sign system, the still hands of its data are split by capture group (SIBI photos: one
of the three capture groups; ASL frames: blocks of 25 consecutive frames; BISINDO photos: single
photos) before anything is synthesized: the training sequences are drawn from the training hands
(seed 1), the test sequences from the held-out hands with new random paths (seed 2). A frame
model (the system's letter recipe) and a motion model (letters-motion) are trained on the
training side only, put into one bundle, and every test sequence is read as one clip
(`Recognizer.predict_clip`, the code `isyarat recognize` and `isyarat evaluate` use) and streamed
frame by frame through the fingerspelling decoder ("stream once": it wrote the letter exactly once
and nothing else). When the system's letter recipe has an open set (`open_set:`, "unknown sign";
or --open-set-keep), the bundle carries the record it calibrated and a third row reads with it: an "unknown" answer
counts as wrong, so the row says what the open set costs the moving and the still letters.

--motion-every and --drops add a streaming table for the motion-aware bundle: "stream once" again
with the motion model reading a moving hand's window every S seconds of frame time (the runtime's
MOTION_EVERY_S, set for the run; 0: every moving frame), and with frames dropped: removed from the
stream (never pushed, the others keep their capture times: a viewer's lost frames) or pushed
without a hand (`lost:`, the tracker missed the hand), at random (a fixed seed per clip, the same
for every S) or every k-th frame.

    nice -n 10 python bench/motion.py                 # both systems, a few minutes on 2 cores
    python bench/motion.py --systems sibi --train-per-letter 80 --epochs 60
    python bench/motion.py --systems bisindo --open-set-keep 0.98   # with a calibrated open-set threshold
    python bench/motion.py --bundles /tmp/b --motion-every 0 0.09 --drops none 20% every11 lost:20%
    python bench/motion.py --bundles /tmp/b --motion-every 0 0.09 --rest 0.5   # the hand rests after each clip
"""
from __future__ import annotations

import argparse
import re
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from isyarat.data.samples import LANDMARKS, Dataset, Sample
from isyarat.export.bundle import load_bundle, write_bundle
from isyarat.export.motion import MotionPart
from isyarat.landmarks.arrays import Landmarks
from isyarat.runtime import stream as stream_module
from isyarat.runtime.recognizer import Recognizer
from isyarat.synth import split_hands, synthesize
from isyarat.synth.build import source_hands
from isyarat.training.prepare import prepare
from isyarat.training.recipe import load_recipe
from isyarat.training.run import train_fold
from isyarat.vocab import load_vocabulary

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SOURCES = {"sibi": ["sibi-alphabet-ajustiago", "asl-alphabet-landmarks-graudt"],
           "bisindo": ["bisindo-alphabet-binus"]}


def cap_per_label(hands: list, limit: int) -> list:
    """At most `limit` hands of each label and source, spread evenly (the ASL set has 400 near-
    identical frames per letter)."""
    groups = defaultdict(list)
    for h in hands:
        groups[(h.source, h.label)].append(h)
    out = []
    for items in groups.values():
        idx = np.linspace(0, len(items) - 1, min(limit, len(items))).round().astype(int)
        out += [items[i] for i in sorted(set(idx))]
    return out


def as_dataset(items: list[tuple[str, Landmarks, str]], name: str) -> Dataset:
    samples = [Sample(label, Path(name) / f"{i}", LANDMARKS, {"group": group}, lm)
               for i, (label, lm, group) in enumerate(items)]
    return Dataset(Path(name), "sequences", samples)


def train(recipe_name: str, dataset: Dataset, overrides: dict, labels: list[str] | None = None):
    recipe = load_recipe(recipe_name, overrides)
    prep = prepare(dataset, recipe, labels=labels, progress=False)
    model, _, seconds = train_fold(prep, np.flatnonzero(prep.usable), recipe, progress=False)
    return model.eval(), recipe, prep.labels, seconds


def build_bundle(system: str, train_hands: list, train_seqs: list, args, folder: Path) -> Path:
    still = as_dataset([(h.label, Landmarks(h.hands[None]), h.group) for h in train_hands], "hands")
    frame_model, frame_recipe, labels, s1 = train(f"{system}-letters", still, {
        "train.epochs": args.epochs, "train.patience": 10, "augment.copies": 2, **open_set_override(args)})
    moving = as_dataset([(s.label, s.landmarks, s.metadata["group"]) for s in train_seqs], "sequences")
    motion_model, motion_recipe, motion_labels, s2 = train("letters-motion", moving, {
        "train.epochs": args.epochs, "train.patience": 8})
    print(f"{system}: trained the frame model in {s1:.0f} s and the motion model in {s2:.0f} s", flush=True)
    moving_letters = load_vocabulary(system).moving
    part = MotionPart(labels=motion_labels, input_shape=motion_recipe.features.output_shape,
                      features=motion_recipe.features, model_info={"name": motion_recipe.model},
                      starts={k: m.start for k, m in moving_letters.items()},
                      setoff_s={k: m.setoff_s for k, m in moving_letters.items()})
    return write_bundle(frame_model, frame_recipe.features.output_shape, labels, frame_recipe.features.to_dict(),
                        system, folder / system, f"{system}-motion-bench", {"name": frame_recipe.model},
                        extract=frame_recipe.extract, motion=(motion_model, part),
                        open_set=getattr(frame_model, "open_set", None))  # the recipe's open set, when it has one


def cached_bundle(system: str, train_hands: list, train_seqs: list, args, tmp: Path) -> Path:
    """The bundle trained on this split: from --bundles when it was kept there with the same
    settings, else trained now (and kept there when --bundles is given)."""
    if args.bundles is None:
        return build_bundle(system, train_hands, train_seqs, args, tmp)
    recipe = load_recipe(f"{system}-letters", open_set_override(args))
    open_set = f"-os{recipe.open_set.keep}" if recipe.open_set is not None else ""
    key = f"{system}-s{args.seed}-n{args.train_per_letter}-h{args.max_hands}-e{args.epochs}{open_set}"
    folder = args.bundles / key
    if not (folder / system / "bundle.json").is_file():
        build_bundle(system, train_hands, train_seqs, args, folder)
    else:
        print(f"{system}: reusing the bundle kept in {folder}", flush=True)
    return folder / system


@dataclass(frozen=True)
class Drops:
    """Frames a stream loses: `rate` of them at random, or every `every`-th; removed from the stream
    (the others keep their capture times) or, when `lost`, pushed without a hand."""

    name: str
    rate: float = 0.0
    every: int = 0
    lost: bool = False

    def dropped(self, n: int, clip: int) -> np.ndarray:
        """(n,) True for the frames of clip number `clip` that are dropped (a fixed seed per clip)."""
        if self.every:
            return np.arange(n) % self.every == self.every - 1
        return np.random.default_rng([17, clip]).random(n) < self.rate


def drops(text: str) -> Drops:
    """--drops: none, 20% (at random), every11 (every 11th frame); lost:... pushes them without a hand."""
    found = re.fullmatch(r"(lost:)?(?:(\d+(?:\.\d+)?)%|every(\d+))", text)
    if text == "none":
        return Drops(text)
    if found is None or (found[3] and int(found[3]) < 2) or (found[2] and not 0 < float(found[2]) < 100):
        raise argparse.ArgumentTypeError(f"{text!r}: give none, a share like 20% (0-100), every11 (k >= 2), "
                                         "or lost:20% / lost:every11")
    return Drops(text, float(found[2]) / 100 if found[2] else 0.0, int(found[3] or 0), bool(found[1]))


def stream_text(recognizer: Recognizer, lm: Landmarks, fps: float = 30.0, drop: Drops | None = None,
                clip: int = 0, rest: float = 0.0) -> str:
    """The text a stream writes for the clip, played as a video at `fps` (spelling counts
    seconds) and finished as `isyarat recognize` finishes a video; `drop`: the frames it loses;
    `rest`: seconds the hand stays still in its last frame after the clip (as a live viewer's does)."""
    frames = np.concatenate([lm.hands, np.repeat(lm.hands[-1:], round(rest * fps), axis=0)])
    dropped = np.zeros(len(frames), bool) if drop is None else drop.dropped(len(frames), clip)
    with recognizer.stream() as stream:
        for n, (hands, lost) in enumerate(zip(frames, dropped.tolist())):
            if lost and not drop.lost:
                continue
            stream.push_landmarks(np.full_like(hands, np.nan) if lost else hands, t=n / fps)
        stream.finish()
    return stream.text


def score(recognizer: Recognizer, seqs: list, rest: float = 0.0) -> list[dict]:
    rows = []
    for s in seqs:
        p = recognizer.predict_clip(s.landmarks)
        rows.append({"label": s.label, "kind": s.metadata["kind"], "pred": p.label,
                     "once": stream_text(recognizer, s.landmarks, rest=rest) == s.label})
    return rows


def once_shares(once: list[bool], seqs: list, starts: dict[str, str]) -> str:
    """The streaming table's middle cells: the share of moving clips, of still clips and of each
    moving letter's clips streamed once."""
    def share(keep) -> str:
        hits = [ok for ok, s in zip(once, seqs) if keep(s)]
        return f"{np.mean(hits):.3f} ({sum(hits)}/{len(hits)})"

    def moving(s) -> bool:
        return s.metadata["kind"] == "moving"

    letters = "; ".join(f"{letter} {share(lambda s: moving(s) and s.label == letter)}" for letter in sorted(starts))
    return f"{share(moving)} | {share(lambda s: not moving(s))} | {letters}"


def stream_rows(system: str, recognizer: Recognizer, seqs: list, every: list[float], dropping: list[Drops],
                starts: dict[str, str], rest: float = 0.0) -> list[str]:
    """The streaming table's rows: "stream once" of every clip for each MOTION_EVERY_S and drops, and
    how many windows the motion model read (its calls' rows)."""
    reads, read = [0], recognizer.motion_probabilities_many

    def counted(windows, rows=None):
        reads[0] += len(windows)
        return read(windows, rows)

    recognizer.motion_probabilities_many, kept, lines = counted, stream_module.MOTION_EVERY_S, []
    try:
        for drop in dropping:
            for n in every:
                stream_module.MOTION_EVERY_S, reads[0] = n, 0
                once = [stream_text(recognizer, s.landmarks, drop=drop, clip=i, rest=rest) == s.label
                        for i, s in enumerate(seqs)]
                lines.append(f"| {system} | {drop.name} | {n:g} | {once_shares(once, seqs, starts)} | {reads[0]} |")
                print(lines[-1], flush=True)
    finally:
        recognizer.motion_probabilities_many, stream_module.MOTION_EVERY_S = read, kept
    return lines


def summarize(system: str, name: str, rows: list[dict], starts: dict[str, str]) -> list[str]:
    def acc(items, key="pred"):
        if not items:
            return "  n/a"
        hits = [r[key] == r["label"] if key == "pred" else r[key] for r in items]
        return f"{np.mean(hits):.3f}"

    moving = [r for r in rows if r["kind"] == "moving"]
    held = [r for r in rows if r["kind"] == "held"]
    confusions = []
    for letter, start in sorted(starts.items()):
        mine = [r for r in moving if r["label"] == letter]
        as_start = np.mean([r["pred"] == start for r in mine]) if mine and start != letter else float("nan")
        held_start = [r for r in held if r["label"] == start]
        start_as = np.mean([r["pred"] == letter for r in held_start]) if held_start else float("nan")
        confusions.append(f"{letter} {acc(mine)} ({letter}->{start} {as_start:.2f}, held {start}->{letter} {start_as:.2f})")
    return [f"| {system} | {name} | {acc(moving)} ({len(moving)}) | {acc(held)} ({len(held)}) | "
            f"{acc(moving, 'once')} | {acc(held, 'once')} | {'; '.join(confusions)} |"]


def open_set_override(args) -> dict:
    """--open-set-keep: the letter recipe's open-set threshold set to keep this validation fraction."""
    return {} if args.open_set_keep is None else {"open_set.keep": args.open_set_keep}


def open_set_text(open_set) -> str:
    parts = [f"threshold {open_set.threshold:.3f}"] if open_set.threshold else []
    return ", ".join(parts + ([f"unknown class {open_set.unknown_class}"] if open_set.unknown_class else [])) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", default=["sibi", "bisindo"], choices=sorted(SOURCES))
    parser.add_argument("--train-per-letter", type=int, default=30)
    parser.add_argument("--test-per-letter", type=int, default=12)
    parser.add_argument("--max-hands", type=int, default=40, help="training hands per letter and source")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="seed of the hand split")
    parser.add_argument("--open-set-keep", type=float, default=None,
                        help="calibrate the letter recipe's open-set threshold to keep this fraction of its "
                             "validation split (default: the recipe's own open_set, if any)")
    parser.add_argument("--bundles", type=Path, default=None,
                        help="keep the trained bundles in this folder and reuse them on the next run "
                             "(same settings): to compare decoders without training again")
    parser.add_argument("--motion-every", type=float, nargs="+", default=None, metavar="S",
                        help="streaming table: the motion model reads a moving hand's window every S seconds "
                             f"of frame time (the runtime's MOTION_EVERY_S, now {stream_module.MOTION_EVERY_S:g}; "
                             "0: every moving frame); several S: a row each")
    parser.add_argument("--drops", type=drops, nargs="+", default=None, metavar="DROPS",
                        help="streaming table: frames each clip loses: none, 20%% (at random, a fixed seed per "
                             "clip), every11 (every 11th frame) are removed from the stream; lost:20%%, lost:every11 "
                             "are pushed without a hand (the tracker missed it)")
    parser.add_argument("--rest", type=float, default=0.0, metavar="S",
                        help="streamed clips: the hand stays still in its last frame S seconds more, as a live "
                             "viewer's does after a letter (default 0: the clip ends with the letter)")
    args = parser.parse_args()
    if not 0 <= args.rest <= 10:
        parser.error(f"--rest: give seconds from 0 to 10, got {args.rest}")
    if args.motion_every is not None and not all(0 <= s <= 1 for s in args.motion_every):
        parser.error(f"--motion-every: give seconds from 0 to 1 (0.09: every 3rd frame at 30 fps), "
                     f"got {' '.join(f'{s:g}' for s in args.motion_every)}")
    streaming = args.motion_every is not None or args.drops is not None
    every, dropping = args.motion_every or [stream_module.MOTION_EVERY_S], args.drops or [Drops("none")]
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    start = time.time()
    streamed = ["| system | drops | motion every (s) | stream once: moving (n) | stream once: still (n) | "
                "stream once per moving letter | motion windows read |", "|---|---|---|---|---|---|---|"]
    lines = ["| system | reader | moving letters (n) | still letters (n) | stream once: moving | stream once: still | "
             "per moving letter (confusion with its start handshape) |", "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for system in args.systems:
            hands = source_hands(system, [DATA / d for d in SOURCES[system]], progress=False)
            train_hands, test_hands = split_hands(hands, 0.25, args.seed)
            train_hands = cap_per_label(train_hands, args.max_hands)
            vocab = load_vocabulary(system)
            train_seqs = synthesize(train_hands, vocab, args.train_per_letter, seed=1)
            test_seqs = synthesize(test_hands, vocab, args.test_per_letter, seed=2)
            print(f"{system}: {len(train_hands)} training hands, {len(test_hands)} held-out hands "
                  f"({len({h.group for h in test_hands})} groups); {len(train_seqs)} training and "
                  f"{len(test_seqs)} test sequences")
            path = cached_bundle(system, train_hands, train_seqs, args, Path(tmp))
            aware = Recognizer(load_bundle(path))
            open_set = aware.open_set
            aware.open_set = None
            frame_only = Recognizer(load_bundle(path))
            frame_only.motion, frame_only.open_set = None, None
            starts = {k: m.start for k, m in vocab.moving.items()}
            lines += summarize(system, "frame model alone", score(frame_only, test_seqs, args.rest), starts)
            lines += summarize(system, "motion-aware", score(aware, test_seqs, args.rest), starts)
            if streaming:
                streamed += stream_rows(system, aware, test_seqs, every, dropping, starts, args.rest)
            if open_set is not None:  # the recipe's "unknown sign" record, as the shipped bundle would carry it
                aware.open_set = open_set
                lines += summarize(system, f"motion-aware + open set ({open_set_text(open_set)})",
                                   score(aware, test_seqs, args.rest), starts)
    print(f"\nHeld-out synthetic sequences (hands from held-out capture groups, new paths), "
          f"{args.train_per_letter}/{args.test_per_letter} sequences per letter for training/test, "
          f"{args.epochs} epochs; one clip = one sample.\n")
    print("\n".join(lines))
    if streaming:
        print(f"\nStreamed at 30 fps, the motion-aware bundle (no open set); the motion model's windows "
              f"read every S seconds of frame time (MOTION_EVERY_S); the same clips and drops for every S; "
              f"{args.rest:g} s of rest after each clip.\n")
        print("\n".join(streamed))
    print(f"\n({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
