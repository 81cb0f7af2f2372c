"""The `isyarat` command: one verb per stage of the flow (extract, train, evaluate, export, ...)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from isyarat.cli import validate
from isyarat.errors import IsyaratError

DESCRIPTION = """\
isyarat recognizes Indonesian sign language (SIBI, BISINDO, Kata Kolok; ASL as a fallback)
from images, videos and live cameras.

The flow: a dataset folder -> `extract` MediaPipe landmarks (cached) -> `train` a recipe ->
`evaluate` it on any data -> `export` an ONNX bundle -> `recognize`, `webcam` or `serve` it.
Shipped models (`isyarat models`) work with no training at all.
"""

EXAMPLES = """\
examples:
  isyarat recognize photo.jpg                            a SIBI letter (shipped sibi-letters)
  isyarat recognize photo.jpg --system bisindo           a BISINDO letter (shipped bisindo-letters)
  isyarat recognize clip.mp4 --system bisindo            BISINDO letters over a video, spelled (moving J, R too)
  isyarat recognize clip.mp4 --model bisindo-words       a BISINDO word (shipped bisindo-words)
  isyarat recognize clip.mp4 --model sibi-letters        letters over a video, spelled as text
  isyarat serve                                          web app at http://127.0.0.1:8000
  isyarat extract --data ../shared/datasets/bisindo-alphabet-binus --out out/binus.parquet
  isyarat train bisindo-gnn --data ../shared/datasets/bisindo-alphabet-binus --out runs/gnn
  isyarat evaluate --model runs/gnn --data out/binus.parquet --out runs/gnn/eval
  isyarat export runs/gnn --out bundles/gnn
  isyarat adapt --model sibi-letters --data my_letters --out bundles/my-sibi   tune a model to you
  isyarat recipes                                        the shipped training recipes
  isyarat sweep mlp-baseline bisindo-gnn --data ../shared/datasets/bisindo-alphabet-binus \
          --protocol kfold:5 --seeds 3 --out runs/sweep     recipes x folds x seeds, one table

dataset layouts (detected automatically):
  <label>/*.jpg|png|webp|bmp, <label>/*.mp4|mov|avi|mkv|webm, <label>/*.npy, <label>/<sequence>/<frame>.npy,
  or a .csv/.parquet landmark table; an optional metadata.csv (path,label,<columns>) adds
  conditions such as signer, background or group to break results down by.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isyarat", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_extract, _add_train, _add_evaluate, _add_export, _add_adapt, _add_recognize, _add_webcam,
                _add_serve, _add_models, _add_recipes, _add_vocab, _add_sweep, _add_synth):
        add(sub)
    return parser


def _version() -> str:
    from isyarat import __version__

    return f"isyarat {__version__}"


def _cmd(sub, name: str, help_text: str, description: str, handler) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=description,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=handler)
    return p


def _add_workers(p: argparse.ArgumentParser, ray_what: str = "extract the landmarks as Ray tasks") -> None:
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes for landmark extraction (default: %(default)s)")
    p.add_argument("--cache", type=Path, default=None,
                   help="landmark cache folder (default: $ISYARAT_CACHE or ~/.cache/isyarat/landmarks)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_ray(p, ray_what)


def _add_ray(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help=f"{what}: on the Ray cluster at ADDRESS (HOST:PORT of the head node, "
                        "ray://HOST:10001 or auto), or alone for a local Ray with --workers CPUs; "
                        "put it after the positional arguments (see docs/SCALING.md)")


DATA_HELP = "a dataset folder (images, videos, .npy or sequences) or a landmark table (.csv/.parquet)"
MODEL_HELP = "a shipped model name (see `isyarat models`) or a bundle (folder or .zip)"


def _add_data(p: argparse.ArgumentParser, what: str = DATA_HELP, required: bool = True) -> None:
    """--data DATA, the same on every verb (train, sweep and synth: repeated to combine datasets)."""
    p.add_argument("--data", required=required, metavar="DATA", help=what)


def _add_model(p: argparse.ArgumentParser, what: str = MODEL_HELP, **options) -> None:
    """--model MODEL, the same on every verb."""
    p.add_argument("--model", metavar="MODEL", help=what, **options)


def _old_positional(p: argparse.ArgumentParser, dest: str) -> None:
    """The positional argument a verb took before its --data / --model flag (hidden; still read)."""
    p.add_argument(dest, nargs="?", default=None, help=argparse.SUPPRESS)


def _flag_or_positional(args, flag: str, dest: str) -> str:
    """The value of --FLAG, or of the older positional spelling (hidden from --help, still read
    silently so that an error stays one line)."""
    given, old = getattr(args, flag), getattr(args, dest)
    if given is not None and old is not None:
        raise IsyaratError(f"give --{flag} once: {old!r} and --{flag} {given!r} were both given")
    if old is not None:
        return old
    if given is None:
        raise IsyaratError(f"--{flag} is required, e.g. --{flag} {'sibi-letters' if flag == 'model' else 'photos/'}")
    return given


def _ray_target(args):
    """The RayTarget of --ray, or None without it (validated before any work starts)."""
    if getattr(args, "ray", None) is None:
        return None
    from isyarat.distributed.ray_cluster import RayTarget

    return RayTarget.parse(args.ray, args.workers)


# ---- extract -------------------------------------------------------------------------------
def _add_extract(sub) -> None:
    p = _cmd(sub, "extract", "MediaPipe landmarks of a dataset -> a landmark table",
             "Run MediaPipe Hands (or Holistic) over every image or video of DATA and write the\n"
             "canonical landmark table (.parquet or .csv) plus a summary with the detection rate\n"
             "per class. Results are cached by file content and settings: a second run is near-free.\n"
             "Unreadable files and frames without a hand are listed in the summary, never fatal.\n\n"
             "example:\n  isyarat extract --data photos/ --out landmarks.parquet",
             cmd_extract)
    _add_data(p, what="the dataset folder (images or videos)", required=False)
    _old_positional(p, "data_arg")
    p.add_argument("--out", type=Path, required=True,
                   help="table to write: .parquet or .csv, or a folder (no suffix) of Parquet shards for "
                        "large datasets; every command reads the folder as one table")
    p.add_argument("--mode", choices=["hands", "holistic"], default="hands",
                   help="hands: 2 x 21 points; holistic: pose 33 x 4 + hands (258 values/frame)")
    p.add_argument("--border", type=float, default=0.25,
                   help="fraction of the image added around it before detection; helps tight hand "
                        "crops (default: %(default)s)")
    p.add_argument("--fallback-border", type=float, default=1.0,
                   help="a larger border tried again on photos where no hand was found (default: "
                        "%(default)s; tight grey crops need it)")
    p.add_argument("--min-confidence", type=float, default=0.3, help="palm detection threshold (default: %(default)s)")
    p.add_argument("--every", type=int, default=1, help="use every N-th video frame")
    _add_workers(p)


def cmd_extract(args) -> int:
    from isyarat.data.layouts import load_dataset
    from isyarat.data.table import write_samples
    from isyarat.landmarks.extract import extract_dataset
    from isyarat.landmarks.settings import ExtractSettings

    if args.out.suffix:
        validate.out_file(args.out, (".parquet", ".csv"))
    else:
        validate.shard_folder(args.out)
    validate.cache_folder(args.cache)
    validate.at_least(args.workers, 1, "--workers")
    settings = ExtractSettings(mode=args.mode, border=args.border, fallback_border=args.fallback_border,
                               min_detection_confidence=args.min_confidence,
                               every=args.every)
    ray = _ray_target(args)
    dataset = load_dataset(_flag_or_positional(args, "data", "data_arg"))
    print(dataset.summary())
    result = extract_dataset(dataset, settings, workers=args.workers, cache_dir=args.cache,
                             progress=not args.quiet, ray=ray)
    table = write_samples(result.dataset.samples, args.out)
    summary_path = args.out.with_suffix(".summary.json")
    summary_path.write_text(json.dumps(result.summary.to_dict(), indent=1))
    print(result.summary.format())
    print(f"wrote {table} ({len(result.dataset)} samples) and {summary_path}")
    return 0


# ---- train / evaluate ----------------------------------------------------------------------
def _add_train(sub) -> None:
    p = _cmd(sub, "train", "train a recipe on a dataset",
             "Train RECIPE (a shipped recipe name, see `isyarat recipes`, or a YAML file) on DATA.\n"
             "The recipe's split holds out a test set; early stopping uses a validation part of the\n"
             "training split, never the test set. RUN receives model.safetensors, run.json (config,\n"
             "labels, feature settings, history), curves.png and the test report.",
             cmd_train)
    p.add_argument("recipe", help="recipe name or YAML path")
    p.add_argument("--data", required=True, action="append", metavar="DATA",
                   help="dataset folder or landmark table; repeat to combine sources (each sample gets a "
                        "'source' column)")
    p.add_argument("--out", type=Path, required=True, help="run directory to write")
    p.add_argument("--split", help="override the recipe's split: holdout:0.2, kfold:5 or group:<column>")
    p.add_argument("--compare", action="append", default=[], metavar="SPLIT",
                   help="also cross-validate under SPLIT and report it beside the others, e.g. "
                        "--compare kfold:5 --compare group:signer")
    p.add_argument("--max-per-class", type=int, help="use at most N samples of each label from each source")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any recipe value, e.g. --set train.lr=0.0005 (YAML value)")
    _add_workers(p)


def cmd_train(args) -> int:
    import yaml

    from isyarat.training.checkpoint import read_info
    from isyarat.training.recipe import load_recipe, with_compare
    from isyarat.training.run import train_recipe

    validate.out_folder(args.out)
    validate.cache_folder(args.cache)
    validate.at_least(args.workers, 1, "--workers")
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise IsyaratError(f"--set {item}: use KEY=VALUE, e.g. train.lr=0.0005")
        try:
            overrides[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise IsyaratError(f"--set {item}: the value is not valid YAML; quote text, e.g. {key}='...'") from None
    if args.split is not None:
        overrides["split"] = args.split
    if args.epochs is not None:
        overrides["train.epochs"] = args.epochs
    if args.max_per_class is not None:
        overrides["max_per_class"] = args.max_per_class
    recipe = load_recipe(args.recipe, overrides)
    recipe = with_compare(recipe, args.compare)
    run = train_recipe(recipe, [Path(d) for d in args.data], args.out, workers=args.workers, cache_dir=args.cache,
                       progress=not args.quiet, ray=_ray_target(args))
    info = read_info(run)
    m = info.metrics
    print(f"trained {recipe.model} in {info.train_seconds:.1f} s ({info.epochs_run} epochs); test split: "
          f"accuracy {m['accuracy']:.3f}, macro F1 {m['macro_f1']:.3f} on {m['n_samples']} samples")
    for split, summary in info.protocols.items():
        print(f"  {split:16s} accuracy {summary['mean']['accuracy']:.3f} ± {summary['std']['accuracy']:.3f} "
              f"over {summary['n_folds']} folds")
    print(f"wrote {run}/ (report.md, confusion_matrix.png, curves.png, model.safetensors, run.json)")
    return 0


def open_set_line(open_set: dict) -> str:
    """Isyarat tidak dikenal: how often the model said "unknown sign", in Bahasa Indonesia first."""
    inside, outside = open_set["in_vocabulary"], open_set["out_of_vocabulary"]
    line = (f"isyarat tidak dikenal (unknown sign): {inside['rejected']:.3f} of {inside['n']} samples of its own "
            "signs rejected")
    if outside["n"]:
        line += f"; {outside['given_a_sign']:.3f} of {outside['n']} samples of other signs still given a sign"
    return line


def _add_evaluate(sub) -> None:
    p = _cmd(sub, "evaluate", "score a model on a dataset (per class, per metadata group)",
             "Evaluate MODEL (a run directory, an exported bundle or a shipped model name) on DATA\n"
             "(images and videos go through landmark extraction first) through the same Recognizer\n"
             "as `recognize` and `serve` (same detector settings and threshold). Writes report.json,\n"
             "report.md and confusion_matrix.png; samples where no hand was found count as wrong\n"
             "in `accuracy` (see `accuracy_detected` for the rest). A model with open-set rejection\n"
             "(bundle.json `open_set`) may also be given samples of signs outside its vocabulary:\n"
             "the report says how many of them it still named (`open_set`), and how many of its\n"
             "own it called 'unknown sign'.",
             cmd_evaluate)
    _add_model(p, "a run folder, " + MODEL_HELP, required=True)
    _add_data(p)
    p.add_argument("--out", type=Path, required=True, help="folder for the report")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="minimum confidence, as in `recognize` (default: %(default)s); below it the answer "
                        "is 'no sign' and counts as wrong")
    _add_workers(p)


def cmd_evaluate(args) -> int:
    from isyarat.evaluation.evaluate import evaluate_model

    validate.out_folder(args.out)
    validate.cache_folder(args.cache)
    report = evaluate_model(args.model, args.data, args.out, workers=args.workers, cache_dir=args.cache,
                            progress=not args.quiet, threshold=args.threshold, ray=_ray_target(args))
    print(f"accuracy {report['accuracy']:.3f} (hand found: {report['accuracy_detected'] or 0:.3f}), "
          f"macro F1 {report['macro_f1']:.3f}, {report['n_samples']} samples, "
          f"{report['n_without_hand']} without a hand")
    for column, groups in report.get("by", {}).items():
        parts = ", ".join(f"{g} {v['accuracy']:.3f}" for g, v in groups.items())
        print(f"  by {column}: {parts}")
    if "open_set" in report:
        print(open_set_line(report["open_set"]))
    print(f"wrote {args.out}/report.md, report.json, confusion_matrix.png")
    return 0


# ---- sweep ---------------------------------------------------------------------------------
def _add_sweep(sub) -> None:
    p = _cmd(sub, "sweep", "recipes x protocols x seeds x folds, one table (local processes or Ray)",
             "Train and test every RECIPE on every fold of every --protocol, once per seed, each run as\n"
             "one task: on --workers local processes, or on a Ray cluster with --ray. Writes sweep.md and\n"
             "sweep.json (mean ± std over folds and seeds per recipe and protocol) and every run's folder\n"
             "(runs/<recipe>/<protocol>/seed<S>/fold<K>/, as `isyarat train` writes them). Runs already\n"
             "complete in OUT are read back, not trained again: run the same command again to resume.\n\n"
             "example:\n"
             "  isyarat sweep mlp-baseline bisindo-gnn --data ../shared/datasets/bisindo-alphabet-binus \\\n"
             "      --protocol kfold:5 --seeds 3 --out runs/sweep --ray 10.0.0.5:6379",
             cmd_sweep)
    p.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe names or YAML paths")
    p.add_argument("--data", required=True, action="append", metavar="DATA",
                   help="dataset folder or landmark table; repeat to combine sources")
    p.add_argument("--out", type=Path, required=True, help="folder for sweep.md, sweep.json and runs/")
    p.add_argument("--protocol", action="append", default=None, metavar="SPLIT",
                   help="kfold:K, holdout:F or group:<column>; repeat for several (default: kfold:5)")
    p.add_argument("--seeds", type=int, default=1,
                   help="seeds 0..N-1: each shuffles the folds and seeds the training (default: %(default)s)")
    p.add_argument("--epochs", type=int, help="override train.epochs of every recipe")
    p.add_argument("--max-per-class", type=int, help="use at most N samples of each label from each source")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of every recipe, e.g. --set train.lr=0.0005 (YAML value)")
    _add_workers(p, ray_what="run the landmark extraction and the training runs as Ray tasks")


def _sweep_overrides(args) -> dict:
    import yaml

    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise IsyaratError(f"--set {item}: use KEY=VALUE, e.g. train.lr=0.0005")
        overrides[key] = yaml.safe_load(value)
    for name, key, value in (("--epochs", "train.epochs", args.epochs),
                             ("--max-per-class", "max_per_class", args.max_per_class)):
        if value is not None:
            if value < 1:
                raise IsyaratError(f"{name} must be 1 or more, got {value}")
            overrides[key] = value
    return overrides


def cmd_sweep(args) -> int:
    from isyarat.data.combine import load_datasets
    from isyarat.training.recipe import load_recipe
    from isyarat.training.sweep import check_protocol, run_sweep
    from isyarat.training.sweep_table import format_sweep, summarize_sweep, write_sweep

    if args.seeds < 1 or args.workers < 1:
        raise IsyaratError(f"--seeds and --workers must be 1 or more, got {args.seeds} and {args.workers}")
    ray = _ray_target(args)
    overrides = _sweep_overrides(args)
    recipes = [load_recipe(name, overrides) for name in args.recipes]
    protocols = [check_protocol(split) for split in args.protocol or ["kfold:5"]]
    dataset = load_datasets([Path(d) for d in args.data])
    print(dataset.summary())
    seeds = list(range(args.seeds))
    result = run_sweep(recipes, dataset, protocols, seeds, args.out, workers=args.workers, ray=ray,
                       cache_dir=args.cache, progress=not args.quiet, data=list(args.data))
    rows = summarize_sweep(result)
    about = {"recipes": " ".join(args.recipes), "data": " + ".join(args.data), "protocols": " ".join(protocols),
             "seeds": " ".join(map(str, seeds)), "runs": len(result.runs),
             "executed on": ray.describe() if ray else f"{args.workers} local process(es)"}
    md, js = write_sweep(result, rows, args.out, about)
    print(format_sweep(rows))
    print(f"wrote {md}, {js} and {sum(r is not None for r in result.reports)} run folders under "
          f"{args.out}/runs/ ({result.resumed} read back from an earlier sweep)")
    return 0


# ---- export / recognize / webcam / serve -----------------------------------------------------
def _add_export(sub) -> None:
    p = _cmd(sub, "export", "a trained run -> an ONNX bundle",
             "Export RUN to BUNDLE: model.onnx (checked against PyTorch), bundle.json (labels,\n"
             "feature settings, sign system, metrics) and MODEL_CARD.md, as a folder or a .zip.",
             cmd_export)
    p.add_argument("run", type=Path, help="run directory written by `isyarat train`")
    p.add_argument("--out", type=Path, required=True, help="bundle folder, or a path ending in .zip")
    p.add_argument("--name", help="model name (default: the recipe's name)")
    p.add_argument("--motion", type=Path, metavar="RUN",
                   help="a sequence run (e.g. the sibi-motion recipe trained on `isyarat synth` output) that "
                        "reads moving letters; added to the bundle as motion.onnx")


def cmd_export(args) -> int:
    from isyarat.export.from_run import export_run

    if args.out.suffix.lower() == ".zip":
        validate.out_file(args.out, (".zip",))
    else:
        validate.out_folder(args.out)
    out = export_run(args.run, args.out, name=args.name, motion_run=args.motion)
    print(f"wrote {out}")
    return 0


def _add_adapt(sub) -> None:
    p = _cmd(sub, "adapt", "adapt a model to a new signer with a few samples",
             "Adapt BUNDLE (a shipped model name or a bundle path) to one signer: give a handful of\n"
             "samples per sign (3-10 is plenty) in any dataset layout, e.g. the recorder page's\n"
             "folders <label>/<n>.npy or photos <label>/*.jpg. Samples of a sign the model does not\n"
             "know add it as a new class; a label such as C~2 adds a variant of C (a second way to\n"
             "sign it). Only the model's last layer is refit, in seconds on a CPU; signs you did not\n"
             "record keep what the model knew (--method layers fine-tunes its last layers instead).\n"
             "OUT is an ordinary bundle: use it with `recognize\n"
             "--model OUT`, `serve --model OUT` or Recognizer.load(OUT).\n\n"
             "example:\n  isyarat adapt --model sibi-letters --data recordings/me --out bundles/sibi-me\n"
             "  isyarat recognize photo.jpg --model bundles/sibi-me",
             cmd_adapt)
    _add_model(p, "the model to adapt: " + MODEL_HELP)
    _old_positional(p, "bundle")
    _add_data(p, what="your samples: " + DATA_HELP)
    p.add_argument("--out", type=Path, required=True, help="adapted bundle to write: a folder, or a path ending in .zip")
    p.add_argument("--name", help="name of the adapted model (default: <bundle name>-adapted)")
    p.add_argument("--method", choices=["shared", "auto", "layers", "finetune", "prototype"], default="shared",
                   help="shared: a shift of the model's embedding common to all signs plus small per-sign "
                        "changes of the last layer; layers: fine-tune the model's last layers (slower; only "
                        "when you recorded every sign); auto: layers when your samples cover every sign the "
                        "model knows, else shared; finetune: per-sign changes of the last layer only; "
                        "prototype: blend in your samples' means, no training "
                        "(default: %(default)s, see bench/adaptation.py)")
    _add_workers(p)


def cmd_adapt(args) -> int:
    from isyarat.adaptation import FitSettings, adapt_bundle

    model = _flag_or_positional(args, "model", "bundle")
    out, record = adapt_bundle(model, args.data, args.out, name=args.name,
                               settings=FitSettings(method=args.method), workers=args.workers,
                               cache_dir=args.cache, progress=not args.quiet)
    samples = ", ".join(f"{label} {n}" for label, n in record.samples.items())
    print(f"adapted {record.base} on {sum(record.samples.values())} samples ({samples}) in {record.seconds:.1f} s")
    print(f"new classes: {', '.join(record.new_labels) or 'none'}")
    if record.left_out:
        print(f"left out {len(record.left_out)} samples without a hand: {', '.join(record.left_out[:5])}"
              f"{' ...' if len(record.left_out) > 5 else ''}")
    print(f"wrote {out}; use it with `isyarat recognize FILE --model {out}`")
    return 0


def _add_recognize(sub) -> None:
    p = _cmd(sub, "recognize", "recognize signs in an image, a folder or a video",
             "Print the sign in each image (or each frame of a video, with the spelled text).\n"
             "Below the confidence threshold, or with no hand in view, the answer is 'no sign'.",
             cmd_recognize)
    p.add_argument("input", type=Path, help="image, video or folder of them")
    p.add_argument("--system", default="sibi",
                   help="sign system whose shipped letter model to use, for images and videos (default: "
                        "%(default)s; see `isyarat models`); for words give --model, e.g. bisindo-words")
    _add_model(p, MODEL_HELP + ", instead of --system")
    _add_threshold(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def _add_threshold(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threshold", type=float, default=0.5,
                   help="minimum confidence; below it the answer is 'no sign' (default: %(default)s)")


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise IsyaratError(f"--threshold {threshold}: a confidence between 0 and 1, e.g. 0.5")


def cmd_recognize(args) -> int:
    from isyarat.runtime.cli_recognize import recognize_paths

    _check_threshold(args.threshold)
    return recognize_paths(args.input, args.model, args.threshold, as_json=args.json, system=args.system)


def _add_webcam(sub) -> None:
    p = _cmd(sub, "webcam", "live recognition in an OpenCV window",
             "Open the camera, draw the hand landmarks, show the current sign and the spelled\n"
             "text. Keys: q quits, c clears the text.", cmd_webcam)
    _add_model(p, MODEL_HELP + " (default: %(default)s)", default="sibi-letters")
    p.add_argument("--camera", type=int, default=0, help="camera index (default: %(default)s)")
    _add_threshold(p)


def cmd_webcam(args) -> int:
    from isyarat.runtime.recognizer import Recognizer
    from isyarat.runtime.webcam import run_webcam

    _check_threshold(args.threshold)
    run_webcam(Recognizer.load(args.model, threshold=args.threshold), camera=args.camera)
    return 0


def _add_serve(sub) -> None:
    p = _cmd(sub, "serve", "the web app: live camera page, REST API and recorder",
             "Serve the web app. The page runs MediaPipe in the browser and sends only landmarks\n"
             "to the server (video never leaves the device). The API's OpenAPI schema is at\n"
             "/openapi.json. Requests must name this machine in their Host header (localhost,\n"
             "127.0.0.1, the --host address, or with --host 0.0.0.0 this machine's names).", cmd_serve)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port, 1-65535 (default: %(default)s)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests addressed to NAME (a host name or address this machine is "
                        "reached by, e.g. behind a proxy)")
    _add_model(p, "a model to offer, " + MODEL_HELP + "; repeat it for several (default: every shipped model)",
               action="append")
    _add_threshold(p)
    from isyarat.server.datadir import default_recordings_dir

    p.add_argument("--data-dir", type=Path, default=default_recordings_dir(),
                   help="where the recorder page saves samples (default: your data folder, "
                        "$XDG_DATA_HOME/isyarat/recordings or ~/.local/share/isyarat/recordings; "
                        "here %(default)s)")
    p.add_argument("--processes", type=int, default=None,
                   help="server processes (default: 1); 2 on a 2-core machine serves about twice "
                        "as many live viewers (see bench/realtime.py)")
    p.add_argument("--workers", type=int, dest="old_workers", help=argparse.SUPPRESS)  # its name before --processes


def cmd_serve(args) -> int:
    from isyarat.server.app import serve

    from isyarat.server.guards import check_data_dir, check_port

    processes = args.processes
    if args.old_workers is not None:
        print("isyarat: note: serve --workers is now --processes (server processes); --workers will go away",
              file=sys.stderr)
        processes = args.old_workers if processes is None else processes
    processes = 1 if processes is None else processes
    if processes < 1:
        raise IsyaratError(f"--processes must be 1 or more, got {processes}")
    _check_threshold(args.threshold)
    check_port(args.port)
    check_data_dir(args.data_dir)
    serve(host=args.host, port=args.port, models=args.model, data_dir=args.data_dir, processes=processes,
          allow_hosts=args.allow_host, threshold=args.threshold)
    return 0


# ---- listings --------------------------------------------------------------------------------
def _add_models(sub) -> None:
    p = _cmd(sub, "models", "list shipped models (or --registry: architectures)",
             "List the models shipped with isyarat, with their sign system, classes and scores.",
             cmd_models)
    p.add_argument("--registry", action="store_true", help="list the model architectures instead")


def cmd_models(args) -> int:
    from isyarat.models.registry import model_track, model_names

    if args.registry:
        for name in model_names():
            print(f"{name:22s} {model_track(name)}")
        return 0
    from isyarat.shipped_models import SHIPPED_DIR, list_shipped

    shipped = list_shipped()
    if not shipped:
        print("no shipped models installed")
    for m in shipped:
        info = m.info
        unit = "words/sequences" if info.features.shape == "sequence" else "letters/photos"
        print(f"{m.name:18s} {info.sign_system or '':8s} {unit:16s} {len(info.labels)} classes: {' '.join(info.labels)}")
        scores = [f"held-out test accuracy {info.metrics.get('accuracy', float('nan')):.3f}"]
        by_source = info.details.get("held_out_by_source") or {}
        if by_source:
            scores[0] += " (" + ", ".join(f"{s} {a:.3f}" for s, a in by_source.items()) + ")"
        protocols = info.details.get("protocols") or {}
        scores += [f"{split} {p['mean']['accuracy']:.3f} ± {p['std']['accuracy']:.3f}" for split, p in protocols.items()]
        print(f"{'':18s} {'; '.join(scores)}")
    print(f"\nmodel cards: {SHIPPED_DIR}/<name>/MODEL_CARD.md; use one with "
          "`isyarat recognize FILE --model <name>` or `--system <sign system>`")
    return 0


def _add_recipes(sub) -> None:
    _cmd(sub, "recipes", "list the shipped training recipes", "List the shipped training recipes.", cmd_recipes)


def cmd_recipes(args) -> int:
    from isyarat.training.recipe import list_recipes, load_recipe

    for name in list_recipes():
        r = load_recipe(name)
        print(f"{name:24s} model={r.model:18s} split={r.split}")
        print(f"{'':24s} {r.description[:110]}")
    return 0


def _add_vocab(sub) -> None:
    p = _cmd(sub, "vocab", "list sign systems and their signs",
             "List the vocabularies (sign systems); with a name, its signs.", cmd_vocab)
    p.add_argument("name", nargs="?", help="vocabulary name or YAML path")


def cmd_vocab(args) -> int:
    from isyarat.vocab import list_vocabularies, load_vocabulary

    names = [args.name] if args.name else list_vocabularies()
    for name in names:
        v = load_vocabulary(name)
        print(f"{v.name}: {v.title} ({len(v.signs)} {v.unit}); dynamic: {' '.join(v.dynamic) or '-'}; "
              f"two-handed: {' '.join(v.two_handed) or '-'}; "
              f"variants: {' '.join(label for s in v.signs for label in s.variant_labels) or '-'}")
        if args.name:
            print(f"  {v.description}")
            for s in v.signs:
                print(f"  {s.name:14s} {'dynamic' if s.dynamic else 'static ':8s} {s.hands} hand(s) {s.gloss}")
                for label, (_, how) in zip(s.variant_labels, s.variants):
                    print(f"    variant {label:8s} {how}")
    return 0


# ---- synth -----------------------------------------------------------------------------------
def _add_synth(sub) -> None:
    p = _cmd(sub, "synth", "synthetic letter sequences (moving letters traced, still ones held)",
             "Make a sequence-folder dataset (<label>/<sequence>/<frame>.npy, 126 values per frame,\n"
             "with metadata.csv) of every letter of SYSTEM from the still handshapes in DATA: letters\n"
             "that move (J, Z in SIBI; J, R in BISINDO) trace the path their vocabulary file describes\n"
             "(`isyarat vocab sibi`), with random size, speed, direction, wrist turn and jitter; the\n"
             "others are held with drift, tremor, entry/exit movement and sometimes a small shake.\n"
             "The same seed gives the same dataset. Train a motion model on it, e.g.\n"
             "  isyarat synth sibi --data DATA/sibi-alphabet-ajustiago --data DATA/asl-alphabet-landmarks-graudt --out synth/sibi\n"
             "  isyarat train sibi-motion --data synth/sibi --out runs/sibi-motion\n"
             "  isyarat export runs/sibi-letters --motion runs/sibi-motion --out bundles/sibi-letters",
             cmd_synth)
    p.add_argument("system", help="sign system (vocabulary) whose letters to make: sibi, bisindo, asl")
    p.add_argument("--data", required=True, action="append", metavar="DATA",
                   help="photos or landmark frames of the letters' still handshapes; repeat to combine")
    p.add_argument("--out", type=Path, required=True, help="new folder to write the sequences to")
    p.add_argument("--per-letter", type=int, default=60, help="sequences per letter (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    _add_workers(p)


def cmd_synth(args) -> int:
    from isyarat.synth.build import build_synthetic

    if args.per_letter < 1:
        raise IsyaratError(f"--per-letter must be 1 or more, got {args.per_letter}")
    out, count = build_synthetic(args.system, [Path(d) for d in args.data], args.out, args.per_letter, args.seed,
                                 workers=args.workers, cache_dir=args.cache, progress=not args.quiet)
    print(f"wrote {count} sequences to {out}/ (<label>/<sequence>/<frame>.npy, metadata.csv)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        return args.handler(args)
    except IsyaratError as err:
        print(f"isyarat {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`isyarat vocab | head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # a path the system refused: missing, a folder, no permission, disk full
        where = f"{err.filename}: " if err.filename else ""
        print(f"isyarat {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug, not the user's input: still one line, the traceback on request
        if os.environ.get("ISYARAT_DEBUG"):
            raise
        print(f"isyarat {args.command}: internal error: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
              f" (please report it; ISYARAT_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
