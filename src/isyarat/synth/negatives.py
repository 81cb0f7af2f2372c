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
