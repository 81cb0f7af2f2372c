"""From licensed still handshapes to a sequence-folder dataset of every letter of a sign system.

`still_hands` takes one frame per sample of any landmark dataset (photos after extraction, or
landmark frames), `split_hands` keeps whole capture groups apart (so a benchmark tests hands it
never trained on), `synthesize` draws the sequences and `write_sequences` writes them as
<label>/<sequence>/<frame>.npy (126 values per frame, zeros for an absent hand) with a
metadata.csv, the layout people record with, so anyone can inspect and train on it.
"""
from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from isyarat.data.samples import LANDMARKS, Dataset
from isyarat.errors import IsyaratError
from isyarat.landmarks.arrays import Landmarks
from isyarat.synth.motion import SynthSettings, held_sequence, moving_sequence
from isyarat.vocab import Vocabulary

BLOCK = 25  # consecutive frames of a session without capture groups that form one group


@dataclass
class StillHand:
    """One real still frame of a letter: hands (2, 21, 3), and where it came from."""

    label: str
    hands: np.ndarray
    group: str
    source: str


@dataclass
class SynthSequence:
    label: str
    landmarks: Landmarks
    metadata: dict[str, str] = field(default_factory=dict)


def still_hands(dataset: Dataset, group_column: str = "group") -> list[StillHand]:
    """The last frame with a hand of every sample that has one. The group is the sample's
    `group_column` value; without one, the photo itself, or for landmark frames blocks of BLOCK
    consecutive samples of a label and source (webcam frames of one session are near-duplicates,
    so they must stay together)."""
    found: list[StillHand] = []
    position: dict[tuple[str, str], int] = defaultdict(int)
    for sample in dataset:
        lm = sample.landmarks
        source = sample.metadata.get("source", dataset.root.name)
        key = (source, sample.label)
        n = position[key]
        position[key] += 1
        if lm is None or not lm.has_hand():
            continue
        t = int(np.flatnonzero(lm.hand_present().any(axis=1))[-1])
        block = f"{sample.label}-block{n // BLOCK}" if sample.media == LANDMARKS else sample.id
        group = sample.metadata.get(group_column) or block
        found.append(StillHand(sample.label, lm.hands[t].copy(), f"{source}:{group}", source))
    return found


def split_hands(hands: list[StillHand], test_fraction: float = 0.25,
                seed: int = 0) -> tuple[list[StillHand], list[StillHand]]:
    """Whole groups to one side: about `test_fraction` of each source's groups are held out
    (at least one, when a source has two or more)."""
    rng = np.random.default_rng(seed)
    by_source: dict[str, list[str]] = defaultdict(list)
    for group in sorted({h.group for h in hands}):
        by_source[group.split(":", 1)[0]].append(group)
    held: set[str] = set()
    for groups in by_source.values():
        if len(groups) >= 2:
            k = max(1, int(round(test_fraction * len(groups))))
            held |= set(rng.permutation(groups)[:k].tolist())
    return [h for h in hands if h.group not in held], [h for h in hands if h.group in held]


def synthesize(hands: list[StillHand], vocab: Vocabulary, per_label: int, seed: int = 0,
               settings: SynthSettings = SynthSettings(), progress: bool = False) -> list[SynthSequence]:
    """`per_label` sequences of every sign of `vocab` that has hands to draw from: moving signs
    trace their path from their start handshape, the others are held. Deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    pools: dict[str, list[StillHand]] = defaultdict(list)
    for hand in hands:
        pools[hand.label].append(hand)
    moving = vocab.moving
    out: list[SynthSequence] = []
    for label in tqdm(vocab.labels, desc="synthesizing", disable=not progress):
        motion = moving.get(label)
        pool = pools.get(motion.start if motion else label, [])
        if not pool:
            continue
        for _ in range(per_label):
            hand = pool[int(rng.integers(len(pool)))]
            lm = moving_sequence(hand.hands, motion, rng, settings) if motion else held_sequence(hand.hands, rng, settings)
            out.append(SynthSequence(label, lm, {"kind": "moving" if motion else "held", "group": hand.group,
                                                 "source": hand.source}))
    if not out:
        raise IsyaratError(f"no hands to synthesize {vocab.name} letters from: give datasets whose labels are "
                           f"its letters ({', '.join(vocab.labels)})")
    return out


def write_sequences(sequences: list[SynthSequence], out: Path) -> Path:
    """<out>/<label>/<label>-<n>/<frame>.npy (126 float32 values per frame: left then right
    hand, zeros where absent) and <out>/metadata.csv; written beside `out`, then renamed in."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise IsyaratError(f"{out}: the folder exists and is not empty; give a new --out folder")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    counts: dict[str, int] = defaultdict(int)
    for seq in sequences:
        name = f"{seq.label}-{counts[seq.label]:04d}"
        counts[seq.label] += 1
        folder = tmp / seq.label / name
        folder.mkdir(parents=True)
        flat = np.nan_to_num(seq.landmarks.hands.reshape(seq.landmarks.n_frames, -1), nan=0.0)
        for t, values in enumerate(flat):
            np.save(folder / f"{t:03d}.npy", values.astype(np.float32))
        rows.append({"path": f"{seq.label}/{name}", "label": seq.label, **seq.metadata})
    with open(tmp / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out
