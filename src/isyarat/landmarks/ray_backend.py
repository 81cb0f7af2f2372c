"""Landmark extraction as Ray tasks: the process pool's per-file worker, spread over a cluster.

Each task extracts a small chunk of files with the same `_Worker` as the local pool (so the
landmarks are byte-identical) and returns them; the driver writes them into its cache as they
arrive, so the cache lives where the command runs (no shared cache folder needed) and a killed
run starts again where it stopped. A worker process that dies (killed, out of memory, a native
crash in a decoder) is retried by Ray; a chunk that keeps dying is split into single files so
that only the file that kills the worker is recorded as failed."""
from __future__ import annotations

import os
import socket
import sys
from typing import Callable, Iterator

from isyarat.distributed.ray_cluster import RayTarget, cluster_cpus, cluster_line, node_counts, ray_session
from isyarat.landmarks.cache import LandmarkCache
from isyarat.landmarks.extract import _Outcome, _Task, _Worker
from isyarat.landmarks.settings import ExtractSettings

MAX_RETRIES = 3      # tries after a worker process died, per task
CHUNK_FILES = 16     # at most this many files per task: little lost when a worker dies
IN_FLIGHT_PER_CPU = 4

_workers: dict[ExtractSettings, _Worker] = {}  # one per Ray worker process (they are reused)

ChunkResult = tuple[str, list[_Outcome]]  # (Ray node id, outcomes)


def extract_chunk(settings: ExtractSettings, tasks: list[_Task]) -> ChunkResult:
    """Runs on a Ray worker: the chunk's landmarks, never raising for a bad file."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    if settings not in _workers:
        _workers[settings] = _Worker(settings, cache=None)
    worker = _workers[settings]
    outcomes = []
    for task in tasks:
        if not os.path.exists(task.path):
            outcomes.append((task.index, None, f"{task.path}: not found on Ray node {node[:6]} "
                             f"({socket.gethostname()}); every node must see the dataset at the same path"))
        else:
            outcomes.append(worker.run(task))
    return node, outcomes


def _chunks(tasks: list[_Task], cpus: int) -> list[list[_Task]]:
    size = max(1, min(CHUNK_FILES, len(tasks) // (cpus * IN_FLIGHT_PER_CPU)))
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]


def _died(task: _Task, err: Exception, tries: int) -> _Outcome:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return task.index, None, f"{task.path}: the Ray worker extracting it died {tries} times ({first[:200]})"


def in_ray(tasks: list[_Task], settings: ExtractSettings, cache: LandmarkCache, target: RayTarget,
           progress: bool = True, chunk_fn: Callable[[ExtractSettings, list[_Task]], ChunkResult] = extract_chunk,
           max_retries: int = MAX_RETRIES) -> Iterator[list[_Outcome]]:
    """Outcomes of `tasks`, chunk by chunk as they finish, each found landmark already cached.
    At most IN_FLIGHT_PER_CPU chunks per cluster CPU are submitted at a time."""
    keys = {task.index: task.key for task in tasks}
    with ray_session(target) as ray:
        remote = ray.remote(num_cpus=1, max_retries=max_retries, scheduling_strategy="SPREAD")(chunk_fn)
        settings_ref = ray.put(settings)
        if progress:
            print(f"{target.describe()}: {cluster_line(ray)}", file=sys.stderr)
        waiting = _chunks(tasks, cluster_cpus(ray))
        waiting.reverse()
        pending: dict = {}
        nodes: list[str] = []
        while waiting or pending:
            while waiting and len(pending) < IN_FLIGHT_PER_CPU * cluster_cpus(ray):
                chunk = waiting.pop()
                pending[remote.remote(settings_ref, chunk)] = chunk
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            chunk = pending.pop(ref)
            try:
                node, outcomes = ray.get(ref)
            except ray.exceptions.RayError as err:
                if len(chunk) > 1:  # find the file that kills the worker: one task per file
                    waiting.extend([task] for task in reversed(chunk))
                    continue
                node, outcomes = "unknown", [_died(chunk[0], err, max_retries + 1)]
            for index, found, _ in outcomes:
                if found is not None:
                    cache.put(keys[index], found)
            nodes += [node] * len(outcomes)
            yield outcomes
        if progress:
            print(f"files per Ray node: {node_counts(nodes)}", file=sys.stderr)
