"""Variants of one sign: a label `C~2` is the sign C in its second form (a regional form, or the
other hand). Models learn each variant as its own class; people read, spell and score the sign."""
from __future__ import annotations

import numpy as np

SEPARATOR = "~"


def sign_of(label: str) -> str:
    """'C~2' -> 'C'; a label without a variant is its own sign."""
    return label.split(SEPARATOR, 1)[0]


def has_variants(labels: list[str]) -> bool:
    return any(SEPARATOR in label for label in labels)


def signs_of(labels: list[str]) -> list[str]:
    """The signs of a label list, in the order they first appear ('A~kiri', 'A~kanan', 'B' -> A, B)."""
    return list(dict.fromkeys(sign_of(label) for label in labels))


def sign_probabilities(probs: np.ndarray, labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Class probabilities summed over the variants of each sign: (probabilities, signs)."""
    signs = signs_of(labels)
    index = {sign: i for i, sign in enumerate(signs)}
    summed = np.zeros(len(signs), dtype=np.float64)
    np.add.at(summed, [index[sign_of(label)] for label in labels], probs)
    return summed, signs
