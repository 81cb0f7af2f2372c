"""Issue 12 section 4, one cheap idea: test-time averaging over rotated copies of each sample.

SIBI photos (sibi-alphabet-ajustiago), leave one capture group out (the group folds of
bench/accuracy.py): the isyarat-letters recipe trained on the other two groups (the same base
models as bench/adaptation.py, reused with --keep), scored on the held-out group's photos with a
hand, once as they are and once averaging the model's probabilities over copies of each hand
turned in the image plane about its centre. The mirrored copy is not tried: the features
already read a left hand as its mirror image (FeatureConfig.mirror_left), so it would be the
same sample.

    nice -n 10 python bench/tta.py --keep /tmp/keep    # a minute with kept bases
"""
from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np

from isyarat.data.layouts import load_dataset
from isyarat.features import FeatureConfig, make_features
from isyarat.landmarks.arrays import Landmarks
from isyarat.training.prepare import prepare
from isyarat.training.recipe import load_recipe

from adaptation import base_bundle

ANGLES = {"as recorded": (0,), "+-10 deg": (-10, 0, 10), "+-7, +-15 deg": (-15, -7, 0, 7, 15)}


def turned(lm: Landmarks, degrees: float) -> Landmarks:
    """The hands turned in the image plane about their centre (a camera held at another angle)."""
    hands = lm.hands.copy()
    centre = np.nanmean(hands[..., :2].reshape(-1, 2), 0)
    t = np.radians(degrees)
    hands[..., :2] = (hands[..., :2] - centre) @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) + centre
    return Landmarks(hands, lm.pose)


def score(bundle, samples: list[Landmarks], truth: np.ndarray, angles: tuple, into: list) -> float:
    """Accuracy with the probabilities averaged over the turned copies (appended to `into` too)."""
    config = FeatureConfig.from_dict(bundle.features)
    probs = sum(bundle.model.predict(np.stack([make_features(turned(lm, a), config) for lm in samples]))
                for a in angles)
    into.append(float(np.mean(probs.argmax(1) == truth)))
    return into[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="bench/adaptation.py's --keep folder (its bases are reused)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tta.txt")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    recipe = load_recipe("isyarat-letters", {"train.epochs": args.epochs})
    prep = prepare(load_dataset(args.data / "sibi-alphabet-ajustiago"), recipe, progress=False)
    groups = np.array([s.metadata.get("group", "") for s in prep.dataset])
    lines = [f"bench/tta.py: isyarat-letters ({args.epochs} epochs), leave one SIBI capture group out; accuracy on "
             "the held-out group's photos with a hand", f"{'group':12s} {'n':>4s} " + " ".join(f"{a:>14s}" for a in ANGLES)]
    scores = {name: [] for name in ANGLES}
    for group in sorted(set(groups)):
        held = np.flatnonzero((groups == group) & prep.usable)
        with tempfile.TemporaryDirectory() as tmp:
            folder = (args.keep / f"isyarat-letters-{args.epochs}" if args.keep else Path(tmp)) / group
            bundle, _ = base_bundle(prep, np.flatnonzero(groups != group), recipe, folder)
            row = [f"{score(bundle, [prep.dataset.samples[i].landmarks for i in held], prep.targets[held], angles, scores[name]):14.3f}"
                   for name, angles in ANGLES.items()]
        lines.append(f"{group:12s} {len(held):4d} " + " ".join(row))
    lines.append(f"{'mean ± std':17s} " + " ".join(f"{np.mean(v):8.3f} ± {np.std(v):.3f}" for v in scores.values()))
    print("\n".join(lines))
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
