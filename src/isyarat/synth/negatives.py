"""Hand motion that is no sign of a vocabulary: negatives for a model's "unknown sign" class.

A word model shown a still letter, or a hand scratching a cheek, should not name a word. These
sequences are drawn from real still hands (letter photos, frames of other clips): the hand held
the way people hold it (drift, tremor, entering or leaving the view), or wandering along a random
smooth path with the wrist turning, as a hand that is not signing moves.
"""
from __future__ import annotations

import numpy as np

from isyarat.landmarks.arrays import Landmarks
from isyarat.synth.motion import SynthSettings, held_sequence, moving_sequence
from isyarat.vocab import Motion


def wandering_sequence(hands: np.ndarray, rng: np.random.Generator,
                       settings: SynthSettings = SynthSettings()) -> Landmarks:
    """A still hand (2, 21, 3) travelling 2-5 random steps of about a hand size, turning a little."""
    steps = rng.normal(0.0, 1.0, (int(rng.integers(2, 6)), 2))
    path = np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])
    motion = Motion("", tuple(map(tuple, path)), twist=float(rng.normal(0, 40)), roll=float(rng.normal(0, 30)))
    return moving_sequence(hands, motion, rng, settings)


def non_sign_sequences(still: list[np.ndarray], n: int, seed: int = 0) -> list[Landmarks]:
    """`n` sequences from the still hands `still` (each (2, 21, 3)), half held, half wandering."""
    if not still or n <= 0:
        return []
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        hands = still[int(rng.integers(len(still)))]
        out.append(held_sequence(hands, rng) if i % 2 == 0 else wandering_sequence(hands, rng))
    return out


def spliced_sequences(clips: list[tuple[str, Landmarks]], n: int, seed: int = 0) -> list[Landmarks]:
    """`n` sequences that begin as one sign and end as another (the first 30-60% of a clip of one
    label, then the rest of a clip of another), or a clip played backwards: motion that looks like
    signing but is none of the vocabulary's signs. Empty when fewer than two labels have clips."""
    clips = [(label, lm) for label, lm in clips if lm.n_frames >= 4]
    if len({label for label, _ in clips}) < 2 or n <= 0:
        return []
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        label, first = clips[int(rng.integers(len(clips)))]
        if rng.random() < 0.3:
            out.append(Landmarks(first.hands[::-1].copy(), None if first.pose is None else first.pose[::-1].copy()))
            continue
        others = [lm for other, lm in clips if other != label]
        second = others[int(rng.integers(len(others)))]
        a = int(round(rng.uniform(0.3, 0.6) * first.n_frames))
        b = int(round(rng.uniform(0.3, 0.6) * second.n_frames))
        hands = np.concatenate([first.hands[:a], second.hands[b:]])
        pose = None if first.pose is None or second.pose is None else np.concatenate([first.pose[:a], second.pose[b:]])
        out.append(Landmarks(hands, pose))
    return out
