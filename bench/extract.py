"""Landmark extraction throughput: files/second on the local process pool (1 and 2 workers), a
local Ray and a two-node Ray cluster on this machine (head + worker node, `ray start`), cold
(nothing cached) and cached (second run).

    PYTHONPATH=src python bench/extract.py --data ../shared/datasets/bisindo-alphabet-binus --limit 200
    PYTHONPATH=src python bench/extract.py --limit 40 --workers 2 --ray local nodes   # Ray rows only

`ms/file/CPU` is seconds x CPUs / files on a cold run: the per-core cost to multiply out for a
cluster (docs/SCALING.md). Ray start-up (starting or connecting to the cluster) is timed apart,
in `startup s`; a cached run plans everything on the driver and starts no Ray tasks at all.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isyarat.data.layouts import load_dataset
from isyarat.distributed.local_cluster import LocalCluster
from isyarat.distributed.ray_cluster import RayTarget, ray_session
from isyarat.errors import IsyaratError
from isyarat.landmarks.extract import extract_dataset
from isyarat.landmarks.settings import ExtractSettings

HEADER = (f"{'backend':<22}  {'CPUs':>4}  {'cache':>6}  {'startup s':>9}  {'seconds':>7}  {'files/s':>7}  "
          f"{'ms/file/CPU':>11}  {'hits':>5}  {'detected':>8}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/bisindo-alphabet-binus"))
    parser.add_argument("--limit", type=int, default=None, help="use this many samples, spread over the dataset")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process-pool sizes (0: none)")
    parser.add_argument("--ray", nargs="*", choices=["local", "nodes"], default=[],
                        help="Ray rows: local (a local Ray with the largest --workers CPUs) and/or nodes "
                             "(a head and a worker node on this machine, 1 CPU each)")
    parser.add_argument("--border", type=float, default=0.0)
    parser.add_argument("--node", help=argparse.SUPPRESS)  # internal: the two-node rows' driver process
    return parser.parse_args()


def rows(dataset, settings, name: str, cpus: int, startup: float, **backend) -> None:
    """A cold and a cached run into one fresh cache."""
    with tempfile.TemporaryDirectory() as cache:
        for state in ("cold", "cached"):
            result = extract_dataset(dataset, settings, cache_dir=Path(cache), progress=False, **backend)
            s = result.summary
            per_cpu = f"{1000 * s.seconds * cpus / len(dataset):11.0f}" if state == "cold" else f"{'':11}"
            print(f"{name:<22}  {cpus:4d}  {state:>6}  {startup if state == 'cold' else 0:9.1f}  {s.seconds:7.2f}  "
                  f"{len(dataset) / s.seconds:7.1f}  {per_cpu}  {s.cache_hits:5d}  {s.detection_rate:8.1%}", flush=True)


def ray_rows(dataset, settings, name: str, target: RayTarget, cpus: int) -> None:
    start = time.perf_counter()
    try:
        with ray_session(target):  # started (or connected) once: the rows time the extraction itself
            rows(dataset, settings, name, cpus, time.perf_counter() - start, ray=target)
    except IsyaratError as err:  # Ray gives up starting a node after 30 s on an overloaded machine
        print(f"{name:<22}  did not run: {err}", flush=True)


def main() -> None:
    args = parse_args()
    dataset = load_dataset(args.data)
    if args.limit and args.limit < len(dataset):
        step = len(dataset) / args.limit
        dataset = dataset.subset([int(i * step) for i in range(args.limit)])
    settings = ExtractSettings(border=args.border)
    if args.node:  # the driver of the two-node rows, run in the cluster's environment
        ray_rows(dataset, settings, "Ray, head + worker node", RayTarget(args.node), 2)
        return
    print(f"{len(dataset)} {dataset.media} samples from {args.data}, settings {settings.to_dict()}, "
          f"{os.cpu_count()} CPUs on this machine, load average {os.getloadavg()[0]:.1f} at the start")
    print(HEADER)
    for workers in [w for w in args.workers if w > 0]:
        rows(dataset, settings, f"process pool", workers, 0.0, workers=workers)
    if "local" in args.ray:
        cpus = max(args.workers)
        ray_rows(dataset, settings, "Ray, local", RayTarget(None, cpus), cpus)
    if "nodes" in args.ray:
        start = time.perf_counter()
        cluster = LocalCluster(nodes=2, cpus=1)
        try:
            cluster.start().wait()
            print(f"(two-node cluster started in {time.perf_counter() - start:.1f} s)", flush=True)
            cmd = [sys.executable, __file__, "--data", str(args.data), "--border", str(args.border),
                   "--node", cluster.address] + (["--limit", str(args.limit)] if args.limit else [])
            subprocess.run(cmd, env=cluster.env, check=True)
        except IsyaratError as err:
            print(f"{'Ray, head + worker node':<22}  did not run: {err}", flush=True)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
