"""`isyarat synth`: still handshapes of the given datasets -> a sequence folder of every letter."""
from __future__ import annotations

from pathlib import Path

from isyarat.data.combine import load_datasets
from isyarat.synth.dataset import StillHand, still_hands, synthesize, write_sequences
from isyarat.synth.motion import SynthSettings
from isyarat.training.prepare import with_landmarks
from isyarat.training.recipe import list_recipes, load_recipe
from isyarat.vocab import load_vocabulary


def source_hands(system: str, data: list[Path], workers: int = 1, cache_dir: Path | None = None,
                 progress: bool = True) -> list[StillHand]:
    """Still hands of every sample of `data` (photos go through MediaPipe with the extraction
    settings of the system's letter recipe, cached, so they match what the letter model saw)."""
    name = f"{system}-letters" if f"{system}-letters" in list_recipes() else "isyarat-letters"
    dataset, _ = with_landmarks(load_datasets(list(data)), load_recipe(name), workers, cache_dir, progress)
    return still_hands(dataset)


def build_synthetic(system: str, data: list[Path], out: Path, per_label: int = 60, seed: int = 0,
                    workers: int = 1, cache_dir: Path | None = None, progress: bool = True) -> tuple[Path, int]:
    """Write `per_label` sequences of each letter of `system` to `out`; returns (out, count)."""
    hands = source_hands(system, data, workers, cache_dir, progress)
    sequences = synthesize(hands, load_vocabulary(system), per_label, seed, SynthSettings(), progress)
    return write_sequences(sequences, out), len(sequences)
