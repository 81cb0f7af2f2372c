"""Image models vs the landmark model on SIBI photos, split by capture group (one table).

Rows: the SIBI CNN paper's model, ImageNet-pretrained EfficientNet-Lite0 with and without a
Spatial Transformer and with and without a hand crop, and isyarat's best landmark model
(isyarat-letters). Data: sibi-alphabet-ajustiago, leave-one-capture-group-out by its `group`
column (3 folds: two grey webcam-crop groups, one colour phone group); every model sees the same
folds. Accuracy counts photos where MediaPipe found no hand as wrong for the landmark model;
image models always answer (the crop models classify the whole photo when no hand is found).
Latency: one photo already decoded in memory, batch 1, p50, split into MediaPipe hand detection
(landmark and crop models need it first) and the model (preprocessing + forward).

    python bench/image_vs_landmarks.py                # defaults: ~25 min on 2 idle cores
    python bench/image_vs_landmarks.py --limit-per-class 8 --epochs 1 --models sibi-cnn isyarat-letters
"""
from __future__ import annotations

import os

os.environ.setdefault("GLOG_minloglevel", "2")
# Set before torch loads OpenMP: spinning OpenMP threads slow convolutions many times on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from isyarat.data.layouts import load_dataset  # noqa: E402
from isyarat.data.samples import Dataset, Sample  # noqa: E402
from isyarat.evaluation.markdown import comparison_table  # noqa: E402
from isyarat.evaluation.metrics import summarize_folds  # noqa: E402
from isyarat.export.bundle import write_bundle  # noqa: E402
from isyarat.export.model_input import ModelInput  # noqa: E402
from isyarat.landmarks import media  # noqa: E402
from isyarat.landmarks.hands import HandsExtractor  # noqa: E402
from isyarat.models.registry import model_track  # noqa: E402
from isyarat.runtime.recognizer import Recognizer  # noqa: E402
from isyarat.training.image_data import model_input  # noqa: E402
from isyarat.training.prepare import (Prepared, extract_settings, input_shape, make_splits,  # noqa: E402
                                      needs_landmarks, prepare)
from isyarat.training.recipe import Recipe, load_recipe  # noqa: E402
from isyarat.training.run import evaluate_indices, train_fold  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
RESULTS = Path(__file__).resolve().parent / "results" / "image_vs_landmarks.json"
DATASET = "sibi-alphabet-ajustiago"
SPLIT = "group:group"
# row name -> (recipe, recipe overrides)
VARIANTS = {
    "sibi-cnn": ("sibi-cnn", {}),
    "lite0": ("efficientnet-lite0", {}),
    "lite0+stn": ("efficientnet-lite0-stn", {}),
    "lite0+crop": ("efficientnet-lite0-crop", {}),
    "lite0+stn+crop": ("efficientnet-lite0-crop", {"params.stn": True}),
    "isyarat-letters": ("isyarat-letters", {}),
}
# The Lite0 recipes train at 160 px for up to 15 epochs; 128 px and 3 epochs keep the defaults at
# ~25 minutes on 2 idle cores (measured: 8.5 min per Lite0 row with the 2 cores shared with other jobs).
LITE_SIZE, LITE_EPOCHS = 128, 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared datasets folder")
    parser.add_argument("--models", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--limit-per-class", type=int, help="use N photos per letter (seeded), for quick runs")
    parser.add_argument("--epochs", type=int, help="train every model this many epochs (default: "
                        f"{LITE_EPOCHS} for the Lite0 rows, the recipe's for the others)")
    parser.add_argument("--size", type=int, default=LITE_SIZE, help="image size of the Lite0 rows")
    parser.add_argument("--latency-images", type=int, default=30, help="photos timed per model")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=2, help="MediaPipe extraction processes")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def variant_recipe(name: str, args: argparse.Namespace) -> Recipe:
    recipe_name, overrides = VARIANTS[name]
    overrides = dict(overrides)
    if name.startswith("lite0"):
        overrides.update({"image.size": args.size, "train.epochs": LITE_EPOCHS})
    if args.epochs:
        overrides["train.epochs"] = args.epochs
    return load_recipe(recipe_name, overrides)


def limited(dataset: Dataset, per_class: int | None, seed: int = 0) -> Dataset:
    """At most `per_class` photos of every letter, drawn at random (seeded)."""
    if not per_class:
        return dataset
    rng = np.random.default_rng(seed)
    keep = []
    for label in dataset.labels:
        idx = [i for i, s in enumerate(dataset) if s.label == label]
        keep += rng.choice(idx, min(per_class, len(idx)), replace=False).tolist()
    return dataset.subset(sorted(keep))


def with_room_for_validation(recipe: Recipe, prep: Prepared, splits) -> Recipe:
    """Small (limited) data: a validation part big enough to hold every letter once."""
    smallest = min(int(prep.usable[train].sum()) for train, _ in splits)
    needed = 1.2 * len(prep.labels) / max(smallest, 1)
    if recipe.train.val_fraction >= needed:
        return recipe
    return replace(recipe, train=replace(recipe.train, val_fraction=min(0.5, needed)))


def run_variant(name: str, recipe: Recipe, dataset: Dataset,
                args: argparse.Namespace) -> tuple[dict, object, Prepared]:
    """Train and test on every group fold; returns the results, the last fold's model and the data."""
    prep = prepare(dataset, recipe, workers=args.workers, progress=False)
    splits = make_splits(prep, SPLIT, recipe.train.seed)
    recipe = with_room_for_validation(recipe, prep, splits)
    reports, folds, model = [], [], None
    for train_idx, test_idx in splits:
        model, history, seconds = train_fold(prep, train_idx, recipe, progress=False)
        report = evaluate_indices(model, prep, test_idx, recipe)
        group = prep.dataset.samples[test_idx[0]].metadata["group"]
        folds.append({"test_group": group, "n_test": len(test_idx), "accuracy": report["accuracy"],
                      "macro_f1": report["macro_f1"], "n_without_hand": report["n_without_hand"],
                      "train_seconds": round(seconds, 1), "epochs_run": len(history)})
        reports.append(report)
        print(f"  {name:16s} test {group:10s} accuracy {report['accuracy']:.3f} "
              f"({len(history)} epochs, {seconds:.0f} s)", flush=True)
    summary = summarize_folds(reports)
    result = {"recipe": recipe.name, "model": recipe.model, "params": recipe.model_params, "image": recipe.image,
              "epochs": recipe.train.epochs, "mean": summary["mean"], "std": summary["std"], "folds": folds,
              "hands_found": hands_found(prep, recipe)}
    return result, model, prep


def hands_found(prep: Prepared, recipe: Recipe) -> float | None:
    """Share of photos where MediaPipe found a hand; None for models that never look for one."""
    if not needs_landmarks(recipe):
        return None
    return float(np.mean([not np.isnan(s.landmarks.hands[0]).all() for s in prep.dataset]))


def timed(fn, repeats: int = 3) -> list[float]:
    """Milliseconds of `fn()` per call, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - begin))
    return times


def recognizer_for(name: str, recipe: Recipe, prep: Prepared, model, folder: Path) -> Recognizer:
    """The trained model as users run it: an exported bundle in the Recognizer (ONNX; landmark
    features, or pixels with the recipe's evaluation transform and hand crop)."""
    pixels = model_track(recipe.model) == "image"
    path = write_bundle(model, input_shape(recipe), prep.labels, recipe.features.to_dict(), recipe.sign_system,
                        folder / name, name, {"name": recipe.model, "params": recipe.model_params},
                        extract=recipe.extract, model_input=model_input(recipe) if pixels else ModelInput())
    return Recognizer.load(path, threshold=0.0)


def predictor(recognizer: Recognizer, sample: Sample, img: Image.Image):
    """One photo's preprocessing + forward pass in the Recognizer: its landmarks' features, or its
    pixels (cropped around the hands already found, when the bundle crops)."""
    if not recognizer.takes_pixels:
        return lambda: recognizer.probabilities(sample.landmarks)
    hands = sample.landmarks.hands[0] if sample.landmarks is not None else None
    return lambda: recognizer.pixel_probabilities(img, hands)


def latencies(trained: dict[str, tuple[Recipe, Prepared, object]], dataset: Dataset, n: int) -> dict[str, dict]:
    """p50 per photo of MediaPipe and of every model (exported and run by the Recognizer), on the
    same photos and interleaved, so that a busy machine slows every row alike."""
    picks = [dataset.samples[i].id for i in np.linspace(0, len(dataset) - 1, min(n, len(dataset))).astype(int)]
    samples = {name: {s.id: s for s in prep.dataset} for name, (_, prep, _) in trained.items()}
    settings = {extract_settings(recipe) for recipe, _, _ in trained.values() if needs_landmarks(recipe)}
    extractors = {key: HandsExtractor(key, video=False) for key in settings}
    detect_ms: dict = {key: [] for key in settings}
    model_ms: dict[str, list[float]] = {name: [] for name in trained}
    folder = Path(tempfile.mkdtemp(prefix="isyarat-bench-"))
    recognizers = {name: recognizer_for(name, recipe, prep, model, folder)
                   for name, (recipe, prep, model) in trained.items()}
    for path in picks:
        bgr, img = media.read_image(path), media.read_pil_image(path)
        for key, extractor in extractors.items():
            detect_ms[key] += timed(lambda: extractor.frame(bgr))
        for name, recognizer in recognizers.items():
            model_ms[name] += timed(predictor(recognizer, samples[name][path], img))
    for extractor in extractors.values():
        extractor.close()
    shutil.rmtree(folder, ignore_errors=True)
    out = {}
    for name, (recipe, _, _) in trained.items():
        detect = float(np.median(detect_ms[extract_settings(recipe)])) if needs_landmarks(recipe) else 0.0
        run = float(np.median(model_ms[name]))
        out[name] = {"mediapipe_ms": detect, "model_ms": run, "total_ms": detect + run, "n_images": len(picks)}
    return out


def table_row(name: str, result: dict, groups: list[str]) -> dict:
    mean, std = result["mean"]["accuracy"], result["std"]["accuracy"]
    by_group = {f["test_group"]: f"{f['accuracy']:.3f}" for f in result["folds"]}
    lat = result["latency"]
    size = result["image"].get("size")
    return {
        "model": name, "input": f"{size} px" if size else "landmarks",
        "accuracy": f"{mean:.3f} ± {std:.3f}", **{f"test {g}": by_group.get(g, "") for g in groups},
        "hands found": "—" if result["hands_found"] is None else f"{result['hands_found']:.0%}",
        "MediaPipe ms": f"{lat['mediapipe_ms']:.1f}" if lat["mediapipe_ms"] else "—",
        "model ms": f"{lat['model_ms']:.1f}", "total ms": f"{lat['total_ms']:.1f}",
    }


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def caption(dataset: Dataset, groups: list[str], args: argparse.Namespace, load: float) -> str:
    lite_epochs = plural(args.epochs or LITE_EPOCHS, "epoch")
    other_epochs = plural(args.epochs, "epoch") if args.epochs else "their recipes' epochs"
    return (
        f"Data: {DATASET}, {len(dataset)} photos of {len(dataset.labels)} letters"
        f"{f' (at most {args.limit_per_class} per letter)' if args.limit_per_class else ''}. "
        f"Split: leave one capture group out by the `group` column ({len(groups)} folds: {', '.join(groups)}); "
        "accuracy is the mean ± std over folds, `test <group>` the fold that held that group out. "
        f"Settings: the Lite0 rows are ImageNet-pretrained and fine-tuned end to end at {args.size} px for at most "
        f"{lite_epochs} (their recipes: 160 px, 15 epochs; shortened for the CPU budget); the other rows "
        f"train with {other_epochs} (SIBI CNN: 64 px; isyarat-letters: early stopping). Early stopping uses part "
        "of each training fold only. No-hand photos count as wrong for isyarat-letters; crop models classify "
        "the whole photo when no hand is found. Latency: one decoded photo, batch 1, p50 over "
        f"{args.latency_images} photos x 3, each model exported and run by isyarat's Recognizer (ONNX Runtime, "
        f"1 thread) on this CPU (1-minute load average {load:.1f} when timing started), models interleaved photo "
        "by photo; MediaPipe Hands (25% border, confidence 0.3) + model (preprocessing and forward)."
    )


def main() -> None:
    args = parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    dataset = limited(load_dataset(args.data / DATASET), args.limit_per_class)
    groups = sorted({s.metadata["group"] for s in dataset})
    results: dict[str, dict] = {}
    trained = {}
    start = time.perf_counter()
    for name in args.models:
        recipe = variant_recipe(name, args)
        results[name], model, prep = run_variant(name, recipe, dataset, args)
        trained[name] = (recipe, prep, model)
        print(f"{name:16s} accuracy {results[name]['mean']['accuracy']:.3f} ± {results[name]['std']['accuracy']:.3f} "
              f"({time.perf_counter() - start:.0f} s so far)", flush=True)
    load = os.getloadavg()[0]
    for name, timing in latencies(trained, dataset, args.latency_images).items():
        results[name]["latency"] = timing
    rows = [table_row(name, result, groups) for name, result in results.items()]
    columns = ["model", "input", "accuracy", *[f"test {g}" for g in groups], "hands found",
               "MediaPipe ms", "model ms", "total ms"]
    print("\n" + caption(dataset, groups, args, load))
    print(comparison_table(rows, columns))
    print(f"({time.perf_counter() - start:.0f} s in all)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    args.out.write_text(json.dumps({"settings": settings, "split": SPLIT, "dataset": DATASET, "n_photos": len(dataset),
                                    "load_average": load, "results": results}, indent=1, default=float))


if __name__ == "__main__":
    main()
