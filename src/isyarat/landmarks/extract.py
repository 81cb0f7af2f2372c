"""Landmarks for every sample of a dataset: cached on disk, spread over worker processes
(or over a Ray cluster: landmarks/ray_backend.py runs the same per-file worker as Ray tasks)."""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from isyarat.data.samples import IMAGE, LANDMARKS, VIDEO, Dataset, Sample
from isyarat.distributed.ray_cluster import RayTarget
from isyarat.errors import IsyaratError
from isyarat.landmarks.arrays import Landmarks
from isyarat.landmarks.cache import LandmarkCache
from isyarat.landmarks.hands import HandsExtractor
from isyarat.landmarks.holistic import HolisticExtractor
from isyarat.landmarks.media import iter_video_frames, read_image
from isyarat.landmarks.settings import ExtractSettings
from isyarat.landmarks.summary import ExtractionSummary

Extractor = HandsExtractor | HolisticExtractor


@dataclass
class ExtractionResult:
    """`dataset` holds the samples that were read, with `.landmarks` set (samples without a
    detected hand are kept, all NaN); the ones that could not be read are in `summary.failures`."""

    dataset: Dataset
    summary: ExtractionSummary


@dataclass(frozen=True)
class _Task:
    index: int
    path: str
    media: str
    key: str


# (sample index, landmarks or None, reason it failed or None)
_Outcome = tuple[int, Landmarks | None, str | None]


class _Worker:
    """Extracts files one by one, building each extractor (still images / video) once. Without a
    cache (Ray workers, maybe on other machines) the caller stores the results."""

    def __init__(self, settings: ExtractSettings, cache: LandmarkCache | None) -> None:
        self.settings = settings
        self.cache = cache
        self.extractors: dict[bool, Extractor] = {}

    def extractor(self, video: bool) -> Extractor:
        if video not in self.extractors:
            make = HolisticExtractor if self.settings.mode == "holistic" else HandsExtractor
            self.extractors[video] = make(self.settings, video=video)
        return self.extractors[video]

    def landmarks(self, path: str, media: str) -> Landmarks:
        if media == IMAGE:
            frames = [self.extractor(video=False).frame(read_image(path))]
        elif media == VIDEO:
            extractor = self.extractor(video=True)
            extractor.reset()
            frames = [extractor.frame(f) for f in iter_video_frames(path, self.settings.every, self.settings.max_frames)]
        else:
            raise IsyaratError(f"{path}: unknown sample media {media!r}: use image, video or landmarks")
        hands = np.stack([hands for hands, _ in frames])
        pose = np.stack([pose for _, pose in frames]) if self.settings.mode == "holistic" else None
        return Landmarks(hands=hands, pose=pose)

    def run(self, task: _Task) -> _Outcome:
        """Never raises for a bad file: the reason is returned instead."""
        try:
            found = self.landmarks(task.path, task.media)
        except IsyaratError as e:
            return task.index, None, str(e)
        except Exception as e:  # a decoder or MediaPipe error on one odd file must not stop the run
            self.close()
            return task.index, None, f"{task.path}: {type(e).__name__}: {e}"
        if self.cache is not None:
            self.cache.put(task.key, found)
        return task.index, found, None

    def close(self) -> None:
        for extractor in self.extractors.values():
            extractor.close()
        self.extractors.clear()


_worker: _Worker | None = None  # one per worker process


def _init_worker(settings: ExtractSettings, cache_root: Path) -> None:
    global _worker
    _worker = _Worker(settings, LandmarkCache(cache_root))


def _run_chunk(tasks: list[_Task]) -> list[_Outcome]:
    return [_worker.run(task) for task in tasks]


def _in_process(tasks: list[_Task], settings: ExtractSettings, cache: LandmarkCache) -> Iterator[list[_Outcome]]:
    worker = _Worker(settings, cache)
    try:
        for task in tasks:
            yield [worker.run(task)]
    finally:
        worker.close()


def _in_pool(tasks: list[_Task], settings: ExtractSettings, cache: LandmarkCache, workers: int) -> Iterator[list[_Outcome]]:
    """Chunks of tasks over `workers` spawned processes (spawn: MediaPipe graphs do not fork)."""
    size = max(1, min(32, len(tasks) // (workers * 4)))
    chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=context,
                             initializer=_init_worker, initargs=(settings, cache.root)) as pool:
        for future in as_completed([pool.submit(_run_chunk, chunk) for chunk in chunks]):
            yield future.result()


def _plan(samples: list[Sample], settings: ExtractSettings,
          cache: LandmarkCache) -> tuple[dict[int, Landmarks], dict[int, str], list[_Task]]:
    """Split samples into ready landmarks (landmark samples, cache hits), failures and tasks."""
    ready: dict[int, Landmarks] = {}
    failed: dict[int, str] = {}
    tasks: list[_Task] = []
    for index, sample in enumerate(samples):
        if sample.media == LANDMARKS:
            if sample.landmarks is None:
                failed[index] = f"{sample.path}: landmark sample without landmarks: re-read the dataset"
            else:
                ready[index] = sample.landmarks
            continue
        try:
            key = cache.key(sample.path, settings)
        except IsyaratError as e:
            failed[index] = str(e)
            continue
        cached = cache.get(key)
        if cached is None:
            tasks.append(_Task(index, str(sample.path), sample.media, key))
        else:
            ready[index] = cached
    return ready, failed, tasks


def _batches(tasks: list[_Task], settings: ExtractSettings, cache: LandmarkCache, workers: int,
             ray: RayTarget | None, progress: bool) -> Iterator[list[_Outcome]]:
    """The backend: Ray tasks when asked (and there is work), else worker processes or this one."""
    if ray is not None and tasks:
        from isyarat.landmarks.ray_backend import in_ray

        return in_ray(tasks, settings, cache, ray, progress=progress)
    if workers > 1 and len(tasks) > 1:
        return _in_pool(tasks, settings, cache, workers)
    return _in_process(tasks, settings, cache)


def extract_dataset(dataset: Dataset, settings: ExtractSettings, workers: int = 1,
                    cache_dir: Path | None = None, progress: bool = True,
                    ray: RayTarget | None = None) -> ExtractionResult:
    """Landmarks for every image and video sample (landmark samples pass through unchanged).
    Unreadable files are listed in the summary and left out; files read without a hand are
    kept with NaN landmarks. `cache_dir` defaults to $ISYARAT_CACHE or ~/.cache/isyarat/landmarks.
    With `ray`, the files missing from the cache are extracted as Ray tasks (same results)."""
    start = time.perf_counter()
    cache = LandmarkCache(cache_dir)
    ready, failed, tasks = _plan(dataset.samples, settings, cache)
    hits = sum(1 for s in ready if dataset.samples[s].media != LANDMARKS)
    batches = _batches(tasks, settings, cache, workers, ray, progress)
    with tqdm(total=len(tasks), desc=f"landmarks ({settings.mode})", unit="file", disable=not progress) as bar:
        for batch in batches:
            for index, found, reason in batch:
                if found is None:
                    failed[index] = reason
                else:
                    ready[index] = found
            bar.update(len(batch))
    kept = [replace(s, landmarks=ready[i]) for i, s in enumerate(dataset.samples) if i in ready]
    summary = ExtractionSummary.build(
        kept, [(dataset.samples[i], failed[i]) for i in sorted(failed)],
        cache_hits=hits, cache_misses=len(tasks), seconds=time.perf_counter() - start,
        settings=settings.to_dict())
    return ExtractionResult(Dataset(dataset.root, dataset.layout, kept), summary)
