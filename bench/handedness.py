"""Left-handed signers: every shipped model on its own held-out test split (never trained on),
as recorded and mirrored left-right, as a left-handed signer (the mirror twin) would show it.

Photos and videos are flipped as pixels (cv2.flip) and go through MediaPipe again, exactly as a
new user's camera would give them; landmark-only samples (the ASL frames) are mirrored as
landmarks. Accuracy is the recognizer's best label (threshold 0; a sample without a hand found
counts as wrong), the same counting as the model cards' held-out scores.

    python bench/handedness.py                       # every shipped model
    python bench/handedness.py --models bisindo-letters --limit 40
    python bench/handedness.py --cards               # also write the table into each model card
    python bench/handedness.py --cv ../shared/datasets/bisindo-alphabet-binus --handedness mirror lone
        # 5-fold cross-validation of isyarat-letters per handedness rule, each test fold as
        # recorded and with its landmarks mirrored (bench/results/handedness-binus-5fold.txt)
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from isyarat.data.layouts import load_dataset
from isyarat.data.samples import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from isyarat.export.bundle import load_bundle
from isyarat.landmarks.media import iter_video_frames, read_image
from isyarat.landmarks.mirror import mirror_landmarks
from isyarat.runtime.recognizer import Recognizer, list_shipped, resolve_bundle

GOAL_POINTS = 2.0
CARD_HEADING = "## Left-handed signers"


def flipped_video(path: Path, folder: Path) -> Path:
    """The video mirrored frame by frame (mp4v), written beside the other temporary files."""
    frames = [cv2.flip(frame, 1) for frame in iter_video_frames(path)]
    out = folder / (path.stem + "-mirrored.mp4")
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    capture.release()
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return out


class LandmarkFiles:
    """Landmark samples of the shared landmark datasets, found by their held-out path."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.by_path: dict[str, object] = {}

    def get(self, rel: str):
        source = rel.split("/", 1)[0]
        if not any(key.startswith(source + "/") for key in self.by_path):
            for sample in load_dataset(self.data / source):
                self.by_path[str(Path(sample.path).resolve().relative_to(self.data.resolve()))] = sample.landmarks
        return self.by_path[rel]


def predict_pair(recognizer: Recognizer, path: Path, rel: str, landmarks: LandmarkFiles, tmp: Path):
    """(label of the sample, label of its mirror twin)."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        image = read_image(path)
        return recognizer.predict_image(image).label, recognizer.predict_image(cv2.flip(image, 1)).label
    if suffix in VIDEO_SUFFIXES:
        return recognizer.predict_video(path).label, recognizer.predict_video(flipped_video(path, tmp)).label
    lm = landmarks.get(rel)
    return recognizer.predict_landmarks(lm).label, recognizer.predict_landmarks(mirror_landmarks(lm)).label


def bench_model(name: str, data: Path, limit: int | None, landmarks: LandmarkFiles) -> list[dict]:
    recognizer = Recognizer.load(name, threshold=0.0)
    held_out = load_bundle(resolve_bundle(name)).details.get("held_out", [])
    if limit:
        held_out = held_out[:: max(1, len(held_out) // limit)][:limit]
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for item in held_out:
            source = item["path"].split("/", 1)[0]
            row = rows.setdefault(source, {"model": name, "source": source, "n": 0, "original": 0, "mirrored": 0,
                                           "agree": 0, "seconds": 0.0})
            start = time.perf_counter()
            original, twin = predict_pair(recognizer, data / item["path"], item["path"], landmarks, Path(tmp))
            row["seconds"] += time.perf_counter() - start
            row["n"] += 1
            row["original"] += original == item["label"]
            row["mirrored"] += twin == item["label"]
            row["agree"] += original == twin
    return list(rows.values())


def table(rows: list[dict]) -> str:
    lines = ["| model | held-out source | samples | original | mirrored | difference (points) | same label | goal (within 2 points) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        original, mirrored = r["original"] / r["n"], r["mirrored"] / r["n"]
        diff = 100 * (mirrored - original)
        lines.append(f"| `{r['model']}` | `{r['source']}` | {r['n']} | {original:.3f} | {mirrored:.3f} | {diff:+.1f} | "
                     f"{r['agree'] / r['n']:.0%} | {'met' if abs(diff) <= GOAL_POINTS else 'NOT met'} |")
    return "\n".join(lines)


def write_card(name: str, rows: list[dict]) -> None:
    """Replace (or add) the card's left-handed section with this model's rows."""
    card = resolve_bundle(name) / "MODEL_CARD.md"
    text = card.read_text(encoding="utf-8")
    if CARD_HEADING in text:
        text = text[:text.index(CARD_HEADING)].rstrip() + "\n"
    section = (f"\n{CARD_HEADING}\n\nThe held-out test split as recorded and mirrored left-right (photos and videos "
               "flipped as pixels and read by MediaPipe again), as a left-handed signer would show it "
               "(`python bench/handedness.py`; best label, no-hand samples wrong). The model reads both alike "
               "by construction (features: handedness mirror); the rest is MediaPipe seeing a flipped image.\n\n"
               + table(rows) + "\n")
    card.write_text(text + section, encoding="utf-8")


def cross_validated(data: Path, recipe_name: str, handedness: str) -> str:
    """One line: k-fold accuracy of the recipe under this handedness rule, as recorded and mirrored."""
    from dataclasses import replace

    from isyarat.training.prepare import make_splits, prepare
    from isyarat.training.recipe import load_recipe
    from isyarat.training.run import evaluate_indices, train_fold

    recipe = load_recipe(recipe_name, {"features.handedness": handedness})
    prep = prepare(load_dataset(data), recipe, progress=False)
    twins = prep.dataset.subset(range(len(prep.dataset)))
    twins.samples = [replace(s, landmarks=None if s.landmarks is None else mirror_landmarks(s.landmarks))
                     for s in prep.dataset.samples]
    mirrored = replace(prep, dataset=twins)
    recorded, flipped = [], []
    start = time.perf_counter()
    for train_idx, test_idx in make_splits(prep, "kfold:5", recipe.train.seed):
        model, _, _ = train_fold(prep, train_idx, recipe, progress=False)
        recorded.append(evaluate_indices(model, prep, test_idx, recipe)["accuracy"])
        flipped.append(evaluate_indices(model, mirrored, test_idx, recipe)["accuracy"])
    return (f"features.handedness={handedness:8s} orig {np.mean(recorded):.3f}±{np.std(recorded):.3f}  "
            f"mirrored {np.mean(flipped):.3f}±{np.std(flipped):.3f}  ({time.perf_counter() - start:.0f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--models", nargs="*", help="bundle names or paths (default: every shipped model)")
    parser.add_argument("--limit", type=int, help="at most N held-out samples per model (spread over the list)")
    parser.add_argument("--cards", action="store_true", help="write each model's rows into its MODEL_CARD.md")
    parser.add_argument("--cv", type=Path, help="instead: 5-fold cross-validation on this dataset (see above)")
    parser.add_argument("--recipe", default="isyarat-letters", help="recipe for --cv")
    parser.add_argument("--handedness", nargs="*", default=["mirror", "lone"], help="rules for --cv")
    args = parser.parse_args()
    if args.cv:
        for rule in args.handedness:
            print(cross_validated(args.cv, args.recipe, rule), flush=True)
        return
    names = args.models or [m.name for m in list_shipped()]
    landmarks = LandmarkFiles(args.data)
    rows = [row for name in names for row in bench_model(name, args.data, args.limit, landmarks)]
    print("Held-out test split of each shipped model, as recorded and mirrored (a left-handed signer):\n")
    print(table(rows))
    if args.cards:
        for name in names:
            write_card(name, [r for r in rows if r["model"] == name])
    print(f"\n{sum(r['n'] for r in rows)} samples, {sum(r['seconds'] for r in rows):.0f} s (MediaPipe on both versions)")


if __name__ == "__main__":
    main()
