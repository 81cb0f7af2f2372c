"""Ray backend on real shared photos: the same landmarks as the process pool, resume from the cache,
failures recorded, dead workers retried, two Ray nodes on this machine, and a sweep as Ray tasks.

One local Ray (2 CPUs) serves the module; the two-node cluster (`ray start --head` plus a second
`ray start --address`, each with 1 CPU, in a private temp dir: distributed/local_cluster.py)
starts in the background at the start of the module and is stopped, by the process groups it
started, at its end."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from isyarat.cli.main import main
from isyarat.data.layouts import load_dataset
from isyarat.data.samples import Dataset
from isyarat.data.table import samples_to_table, shard_files, write_samples
from isyarat.distributed.local_cluster import LocalCluster
from isyarat.distributed.ray_cluster import RayTarget
from isyarat.errors import IsyaratError
from isyarat.landmarks.cache import LandmarkCache
from isyarat.landmarks.extract import _plan, extract_dataset
from isyarat.training.checkpoint import read_info
from isyarat.landmarks.settings import ExtractSettings
from isyarat.training.prepare import make_splits, prepare
from isyarat.training.recipe import load_recipe

ray = pytest.importorskip("ray", reason="ray is not installed (pip install ray==2.60.0)")

SETTINGS = ExtractSettings(border=0.25, fallback_border=1.0, min_detection_confidence=0.3)
N_PHOTOS = 10
SRC = Path(__file__).resolve().parents[1] / "src"


def env_with_src() -> dict:
    """This checkout's isyarat importable in every process the cluster's nodes start."""
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


@pytest.fixture(scope="module", autouse=True)
def two_nodes():
    """Starts now, in the background, while the local-Ray tests run; stopped at the module's end."""
    cluster = LocalCluster(nodes=2, cpus=1, env=env_with_src()).start_in_background()
    yield cluster
    cluster.stop()


def ready(cluster: LocalCluster) -> LocalCluster:
    try:
        return cluster.wait()
    except IsyaratError as err:
        pytest.skip(f"Ray cannot start a two-node cluster here: {err}")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (2 CPUs, no dashboard, a small object store)."""
    temp = tempfile.mkdtemp(prefix="isy-lr-")
    for attempt in (1, 2):  # Ray gives a node 30 s to register: a very busy machine can miss that once
        try:
            ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=80_000_000,
                     _temp_dir=temp, log_to_driver=False, configure_logging=False)
            break
        except Exception as err:
            ray.shutdown()
            if attempt == 2:
                shutil.rmtree(temp, ignore_errors=True)
                pytest.skip(f"Ray cannot start here: {err}")
    yield RayTarget(None, 2)
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def photos(datasets, tmp_path_factory) -> Path:
    """Ten BISINDO photos of ten letters, copied into an image-folder layout."""
    root = tmp_path_factory.mktemp("photos") / "binus10"
    for path in sorted((datasets / "bisindo-alphabet-binus").glob("images/*/*.jpg"))[::52][:N_PHOTOS]:
        (root / "images" / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / "images" / path.parent.name / path.name)
    return root


@pytest.fixture(scope="module")
def pooled(photos, tmp_path_factory):
    """The reference: the local process pool (2 workers), its own cache."""
    cache = tmp_path_factory.mktemp("cache-pool")
    return extract_dataset(load_dataset(photos), SETTINGS, workers=2, cache_dir=cache, progress=False), cache


def same_bytes(a: Dataset, b: Dataset) -> bool:
    return [s.id for s in a] == [s.id for s in b] and all(
        x.landmarks.hands.tobytes() == y.landmarks.hands.tobytes() for x, y in zip(a, b))


def cached_entries(cache: Path) -> dict[str, bytes]:
    """Every cache entry's arrays (the .npz container itself carries timestamps)."""
    out = {}
    for path in sorted(cache.rglob("*.npz")):
        with np.load(path) as data:
            out[path.name] = b"".join(data[k].tobytes() for k in sorted(data.files))
    return out


def test_ray_gives_byte_identical_landmarks_cache_and_table(local_ray, photos, pooled, tmp_path):
    reference, pool_cache = pooled
    result = extract_dataset(load_dataset(photos), SETTINGS, cache_dir=tmp_path / "cache", progress=False,
                             ray=local_ray)
    assert reference.summary.failures == [] and len(reference.dataset) == N_PHOTOS
    assert reference.summary.detection_rate >= 0.8
    assert same_bytes(result.dataset, reference.dataset)
    assert cached_entries(tmp_path / "cache") == cached_entries(pool_cache)  # same keys, same arrays
    assert (result.summary.cache_hits, result.summary.cache_misses) == (0, N_PHOTOS)
    strip = lambda s: {k: v for k, v in s.to_dict().items() if k != "seconds"}
    assert strip(result.summary) == strip(reference.summary)
    assert samples_to_table(result.dataset.samples).equals(samples_to_table(reference.dataset.samples))


def test_an_interrupted_run_resumes_from_the_cache(local_ray, photos, pooled, tmp_path):
    """The first half extracted (as a run killed half-way leaves it), then everything: the first
    half are cache hits, only the rest goes to Ray."""
    dataset = load_dataset(photos)
    half = dataset.subset(range(N_PHOTOS // 2))
    first = extract_dataset(half, SETTINGS, cache_dir=tmp_path, progress=False, ray=local_ray)
    assert first.summary.cache_misses == N_PHOTOS // 2
    again = extract_dataset(dataset, SETTINGS, cache_dir=tmp_path, progress=False, ray=local_ray)
    assert (again.summary.cache_hits, again.summary.cache_misses) == (N_PHOTOS // 2, N_PHOTOS - N_PHOTOS // 2)
    assert same_bytes(again.dataset, pooled[0].dataset)


def test_a_corrupt_file_is_recorded_and_the_run_goes_on(local_ray, photos, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(photos, root)
    (root / "images" / "A" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    result = extract_dataset(load_dataset(root), SETTINGS, cache_dir=tmp_path / "cache", progress=False,
                             ray=local_ray)
    assert [Path(path).name for path, _ in result.summary.failures] == ["broken.jpg"]
    assert "broken.jpg" in result.summary.failures[0][1]
    assert len(result.dataset) == N_PHOTOS and result.summary.to_dict()["labels"]["A"]["failed"] == 1


def test_a_worker_that_dies_is_retried_and_a_file_that_kills_it_is_recorded(local_ray, photos, tmp_path):
    """The worker process exits mid-file (as on a crash or a kill): once for one file, which then
    succeeds on the retry, and every time for another, which is recorded as failed."""
    from isyarat.landmarks.ray_backend import extract_chunk, in_ray

    dataset = load_dataset(photos).subset(range(4))
    cache = LandmarkCache(tmp_path / "cache")
    _, _, tasks = _plan(dataset.samples, SETTINGS, cache)
    once, always = tasks[1].path, tasks[2].path
    marker = tmp_path / "crashed-once"

    def crashing(settings, chunk):  # pickled by value to the Ray workers
        paths = [task.path for task in chunk]
        if once in paths and not marker.exists():
            marker.touch()
            os._exit(1)
        if always in paths:
            os._exit(1)
        return extract_chunk(settings, chunk)

    outcomes = {i: (found, reason) for batch in in_ray(tasks, SETTINGS, cache, local_ray, progress=False,
                                                         chunk_fn=crashing, max_retries=1)
                for i, found, reason in batch}
    assert marker.exists()
    assert outcomes[tasks[1].index][0] is not None  # retried after the crash
    assert outcomes[tasks[2].index][0] is None and "died 2 times" in outcomes[tasks[2].index][1]
    assert sum(found is not None for found, _ in outcomes.values()) == 3
    assert cache.get(tasks[1].key) is not None and cache.get(tasks[2].key) is None


def test_sharded_table_round_trips_as_one_dataset(pooled, tmp_path):
    samples = pooled[0].dataset.samples
    folder = write_samples(samples, tmp_path / "table", shard_rows=3)
    assert len(shard_files(folder)) == 4  # 10 one-frame samples, 3 per shard
    read = load_dataset(folder)
    assert read.layout == "table" and [s.id for s in read] == [s.id for s in samples]
    assert all(np.array_equal(a.landmarks.hands, b.landmarks.hands, equal_nan=True) for a, b in zip(read, samples))
    write_samples(samples[:2], folder, shard_rows=3)  # a rewrite leaves no stale shard behind
    assert len(load_dataset(folder)) == 2
    (folder / "other.parquet").write_bytes(b"")
    with pytest.raises(IsyaratError, match="other Parquet files"):
        write_samples(samples, folder)


@pytest.mark.parametrize("value", ["10.0.0.5", "my recipe", "http://x:1"])
def test_bad_ray_addresses_are_refused_in_one_line(value):
    with pytest.raises(IsyaratError, match="not a Ray address"):
        RayTarget.parse(value)
    assert RayTarget.parse("10.0.0.5:6379").address == "10.0.0.5:6379"
    assert RayTarget.parse("local", 3) == RayTarget(None, 3)


@pytest.mark.parametrize("extra, message", [
    (["--protocol", "foo:3"], "--protocol 'foo:3' is not usable; use"),
    (["--protocol", "kfold:1"], "--protocol 'kfold:1' is not usable; use"),
    (["--seeds", "0"], "--seeds and --workers must be 1 or more"),
    (["--epochs", "0"], "--epochs must be 1 or more"),
    (["--ray", "nowhere"], "--ray nowhere: not a Ray address"),
])
def test_sweep_refuses_bad_arguments_in_one_line(extra, message, datasets, tmp_path, capsys):
    data = datasets / "asl-alphabet-landmarks-graudt"
    assert main(["sweep", "mlp-baseline", "--data", str(data), "--out", str(tmp_path / "s"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not (tmp_path / "s").exists()


def test_sweep_as_ray_tasks_gives_a_table_and_run_folders(local_ray, datasets, tmp_path):
    """One tiny recipe, 2 folds, 1 seed, on the real ASL landmark frames: a table, a run folder per
    fold tested on exactly that fold of make_splits (as `isyarat train` splits), and a rerun that
    reads the runs back instead of training them again."""
    data = tmp_path / "asl4"
    for letter in ("A", "B", "L", "V"):
        files = sorted((datasets / "asl-alphabet-landmarks-graudt" / "raw_gestures" / letter).glob("*.npy"))
        (data / letter).mkdir(parents=True)
        for f in files[::len(files) // 20][:20]:
            shutil.copy(f, data / letter / f.name)
    args = ["sweep", "mlp-baseline", "--data", str(data), "--protocol", "kfold:2", "--seeds", "1",
            "--epochs", "30", "--set", "train.lr=0.01", "--out", str(tmp_path / "sweep"), "--quiet", "--ray"]
    assert main(args) == 0
    sweep = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    (row,) = sweep["rows"]
    assert (row["recipe"], row["protocol"], row["n_runs"], row["n_failed"]) == ("mlp-baseline", "kfold:2", 2, 0)
    assert row["mean"]["accuracy"] > 0.5  # four letters: chance is 0.25
    assert "| mlp-baseline | kfold:2 | 2/2 |" in (tmp_path / "sweep" / "sweep.md").read_text()

    recipe = load_recipe("mlp-baseline", {"train.epochs": 30, "train.lr": 0.01})
    prep = prepare(load_dataset(data), recipe, progress=False)
    for fold, (_, test_idx) in enumerate(make_splits(prep, "kfold:2", seed=0)):
        run = tmp_path / "sweep" / "runs" / "mlp-baseline" / "kfold-2" / "seed0" / f"fold{fold}"
        assert {"run.json", "model.safetensors", "report.json", "curves.png"} <= {p.name for p in run.iterdir()}
        info = read_info(run)
        assert info.test_samples == [prep.dataset.samples[i].id for i in test_idx]
        assert sweep["runs"][fold]["accuracy"] == info.metrics["accuracy"]

    assert main(args) == 0  # nothing left to train
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["resumed_runs"] == 2


def test_two_nodes_on_one_machine_extract_the_same_landmarks(two_nodes, photos, pooled, tmp_path):
    """`isyarat extract --ray HOST:PORT` from another process, to a head and a worker node of 1 CPU
    each: both nodes get files, the sharded table equals the process pool's landmarks."""
    ready(two_nodes)
    out = tmp_path / "table"
    proc = subprocess.run([sys.executable, "-m", "isyarat.cli.main", "extract", "--data", str(photos), "--out", str(out),
                           "--cache", str(tmp_path / "cache"), "--ray", two_nodes.address],
                          capture_output=True, text=True, env=two_nodes.env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 nodes, 2 CPUs" in proc.stderr
    per_node = proc.stderr.split("files per Ray node:")[1].splitlines()[0]
    assert per_node.count("node ") == 2, per_node
    assert shard_files(out) and (tmp_path / "table.summary.json").is_file()
    assert same_bytes(load_dataset(out), pooled[0].dataset)


def test_the_two_nodes_stop_with_the_module(two_nodes):
    """Run last: stopping the cluster ends every process it started (checked by process group)."""
    ready(two_nodes)
    two_nodes.stop()
    deadline = time.time() + 20
    while two_nodes.alive_groups() and time.time() < deadline:
        time.sleep(0.5)
    assert two_nodes.alive_groups() == []
