"""The recorder page's train button: train a word model on a vocabulary's recordings in the
background, export it, and serve it at once (no restart).

POST /api/train {"vocabulary": "my-signs"} starts a job (202); GET /api/train/<vocabulary> says
how far it is (phase, epoch of epochs, then the held-out accuracy and the model's name). The job
runs the very command the page shows (`isyarat train ... && isyarat export ...`) in one child
process at a lower priority, so a crash or a long training never stops the live server; the
run and the bundle go to data_dir/.runs/<vocabulary> and data_dir/.models/<vocabulary>. One job
at a time: a machine with 2 cores has none to spare for a second.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from isyarat.errors import IsyaratError
from isyarat.runtime.recognizer import Recognizer

RECIPES = {False: "quick-words", True: "quick-words-pose"}  # small recipes: under a minute on 2 cores
RUNS_DIR, MODELS_DIR = ".runs", ".models"
TIME_LIMIT_S = 30 * 60
MAX_EPOCHS = 500
PROGRESS = re.compile(r"^train:.*?(\d+)/(\d+)")
STEP = re.compile(r"^step \d+/\d+: (train|export)$")  # isyarat.cli.chain's line before each command


def train_steps(data: Path, run: Path, bundle: Path, pose: bool, name: str, epochs: int | None = None) -> list[list[str]]:
    """The `isyarat` argument lists that train a word model on `data` and export it to `bundle`:
    shown on the page as one command line, and run as they are by the train button."""
    more = [] if epochs is None else ["--epochs", str(epochs)]
    return [["train", RECIPES[pose], "--data", str(data), "--out", str(run), "--workers", "1", *more],
            ["export", str(run), "--out", str(bundle), "--name", name]]


class TrainRequest(BaseModel):
    vocabulary: str
    epochs: int | None = None  # the recipe's (40) when not given


def check_epochs(epochs: int | None) -> int | None:
    if epochs is not None and not 1 <= epochs <= MAX_EPOCHS:
        raise HTTPException(400, f"epochs {epochs}: give 1 to {MAX_EPOCHS}, or leave it out for the recipe's")
    return epochs


@dataclass
class TrainJob:
    """One training of a vocabulary, as the page polls it."""

    vocabulary: str
    model: str
    state: str = "running"  # running, done, failed
    phase: str = "train"  # train, export, load
    epoch: int = 0
    epochs: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # of the child process: the time on an idle machine's cores, about
    accuracy: float | None = None  # on the recipe's held-out part of the recordings
    test_samples: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)

    def to_dict(self) -> dict:
        shown = asdict(self)
        shown.pop("started")
        shown["seconds"] = round(time.monotonic() - self.started if self.state == "running" else self.seconds, 1)
        return shown


def run_steps(steps: list[list[str]], job: TrainJob) -> str:
    """Run the `isyarat` argument lists one after the other in ONE child process at a lower
    priority (`isyarat.cli.chain`: Python and torch start once), following its steps and progress
    bar. Returns its standard output; raises IsyaratError with the failing step's one-line error."""
    process = subprocess.Popen([sys.executable, "-m", "isyarat.cli.chain", json.dumps(steps)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=lambda: os.nice(5),
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(process.stdout.read()), daemon=True)
    reader.start()
    last_lines: list[str] = []
    buffer = b""
    deadline = time.monotonic() + TIME_LIMIT_S
    while chunk := process.stderr.read1(4096):
        buffer += chunk
        *lines, buffer = re.split(rb"[\r\n]", buffer)
        for line in (line.decode("utf-8", "replace").strip() for line in lines):
            if match := PROGRESS.match(line):
                job.epoch, job.epochs = int(match.group(1)), int(match.group(2))
            elif match := STEP.match(line):
                job.phase = match.group(1)
            elif line:
                last_lines = [*last_lines[-4:], line]
        if time.monotonic() > deadline:
            process.kill()
    process.wait()
    reader.join()
    if process.returncode != 0:
        errors = [line for line in last_lines if "error" in line] or last_lines or [f"exit {process.returncode}"]
        raise IsyaratError(errors[-1].removeprefix("isyarat train: ").removeprefix("isyarat export: "))
    return b"".join(out).decode("utf-8", "replace")


def children_cpu() -> float:
    """CPU seconds of this process's finished child processes (the job's child: train and export)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_accuracy(run: Path, job: TrainJob) -> None:
    from isyarat.training.checkpoint import read_info  # torch: imported when a job runs, not with the server

    metrics = read_info(run).metrics
    job.accuracy, job.test_samples = metrics.get("accuracy"), metrics.get("n_samples")


def training_router(data_dir: Path, add_model: Callable[[str, Recognizer], None]) -> APIRouter:
    """The endpoints; `add_model(name, recognizer)` makes the server offer the trained model."""
    from isyarat.server.recorder import check_name, label_counts, model_name, needs_pose, safe_folder

    router = APIRouter()
    jobs: dict[str, TrainJob] = {}

    def work(job: TrainJob, folder: Path, pose: bool, epochs: int | None) -> None:
        run, bundle = safe_folder(data_dir, RUNS_DIR, folder.name), safe_folder(data_dir, MODELS_DIR, folder.name)
        fresh = bundle.with_name(f".{bundle.name}.new")
        try:
            for old in (run, fresh):
                shutil.rmtree(old, ignore_errors=True)
            cpu = children_cpu()
            run_steps(train_steps(folder, run, fresh, pose, job.model, epochs), job)
            read_accuracy(run, job)
            job.cpu_seconds = round(children_cpu() - cpu, 1)
            job.phase = "load"
            Recognizer.load(fresh)  # a bundle that does not load never replaces the one there
            shutil.rmtree(bundle, ignore_errors=True)
            fresh.rename(bundle)
            add_model(job.model, Recognizer.load(bundle))
            job.state = "done"
        except Exception as err:  # the job reports every failure; the server goes on
            job.state, job.error = "failed", str(err) if isinstance(err, IsyaratError) else f"{type(err).__name__}: {err}"
        job.seconds = time.monotonic() - job.started

    @router.post("/api/train", status_code=202)
    def start(request: TrainRequest) -> dict:
        vocabulary = check_name(request.vocabulary, "vocabulary")
        epochs = check_epochs(request.epochs)
        folder = safe_folder(data_dir, vocabulary)
        counts = label_counts(folder)
        if len(counts) < 2:
            raise HTTPException(400, f"vocabulary {vocabulary!r} has {len(counts)} sign(s): record at least 2 signs "
                                     "(about 10 samples each) before training")
        running = [j for j in jobs.values() if j.state == "running"]
        if running:
            raise HTTPException(409, f"a model for {running[0].vocabulary!r} is being trained; wait until it is done")
        job = jobs[vocabulary] = TrainJob(vocabulary, model_name(vocabulary))
        threading.Thread(target=work, args=(job, folder, bool(needs_pose(folder)), epochs), daemon=True).start()
        return job.to_dict()

    @router.get("/api/train/{vocabulary}")
    def status(vocabulary: str) -> dict:
        job = jobs.get(check_name(vocabulary, "vocabulary"))
        if job is None:
            raise HTTPException(404, f"no training of {vocabulary!r} since the server started: press the train button")
        return job.to_dict()

    return router
