"""Landmark extraction throughput: files/second with 1 and 2 worker processes, cold and warm cache.

    PYTHONPATH=src python bench/extract.py --data ../shared/datasets/bisindo-alphabet-binus --limit 200
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from isyarat.data.layouts import load_dataset
from isyarat.landmarks.extract import extract_dataset
from isyarat.landmarks.settings import ExtractSettings


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/bisindo-alphabet-binus"))
    parser.add_argument("--limit", type=int, default=None, help="use this many samples, spread over the dataset")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--border", type=float, default=0.0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    dataset = load_dataset(args.data)
    if args.limit and args.limit < len(dataset):
        step = len(dataset) / args.limit
        dataset = dataset.subset([int(i * step) for i in range(args.limit)])
    settings = ExtractSettings(border=args.border)
    print(f"{len(dataset)} {dataset.kind} samples from {args.data}, settings {settings.to_dict()}")
    print(f"{'workers':>7}  {'cache':>5}  {'seconds':>7}  {'files/s':>7}  {'hits':>5}  {'detected':>8}")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as cache:
            for cache_state in ("cold", "warm"):
                result = extract_dataset(dataset, settings, workers=workers, cache_dir=Path(cache), progress=False)
                s = result.summary
                print(f"{workers:7d}  {cache_state:>5}  {s.seconds:7.2f}  {len(dataset) / s.seconds:7.1f}  "
                      f"{s.cache_hits:5d}  {s.detection_rate:8.1%}")


if __name__ == "__main__":
    main()
