"""The word loop of the recorder page, end to end: record (through the recorder's HTTP API) ->
train in the background (the train button's endpoint) -> the model is served at once -> held-out
clips are recognized through the live WebSocket. The recordings are real: MediaPipe Holistic
landmarks (pose + hands, 258 values per frame like the Kata Kolok study) of the WL-BISINDO word
videos in the shared data, extracted with the project's own extraction and cache."""
from __future__ import annotations

import shlex
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from isyarat.cli.main import build_parser
from isyarat.data.layouts import load_dataset
from isyarat.features.pipeline import resample_indices
from isyarat.landmarks.extract import extract_dataset
from isyarat.landmarks.settings import ExtractSettings
from isyarat.server.app import create_app
from isyarat.server.guards import LOCAL_HOSTS
from isyarat.training.recipe import load_recipe

WORDS = "bisindo-words-wlbisindo"
RECORDED, HELD_OUT = 5, 1  # clips per word written through the recorder / kept to recognize live
VOCABULARY = "kata saya"
TAGS = {"signer": "wl-bisindo-0", "distance": "2 m"}
EPOCHS = 15  # fewer than the recipe's 40: the test stays fast


def slots(hands: np.ndarray) -> list:
    """(2, 21, 3) -> the JSON the page sends: [left or null, right or null]."""
    return [None if np.isnan(h).any() else h.tolist() for h in hands]


def pose_json(pose: np.ndarray) -> list | None:
    return None if np.isnan(pose).all() else np.nan_to_num(pose).tolist()


@pytest.fixture(scope="module")
def clips(datasets) -> dict[str, list]:
    """word -> landmarks of its first clips (Holistic, through the landmark cache)."""
    dataset = load_dataset(datasets / WORDS)
    chosen = [s for label in dataset.labels
              for s in sorted((s for s in dataset if s.label == label), key=lambda s: s.path.name)[:RECORDED + HELD_OUT]]
    dataset.samples = chosen
    result = extract_dataset(dataset, ExtractSettings(mode="holistic"), workers=2, progress=False)
    by_word: dict[str, list] = {}
    for sample in result.dataset:
        by_word.setdefault(sample.label, []).append(sample.landmarks)
    assert all(len(v) == RECORDED + HELD_OUT for v in by_word.values()), {k: len(v) for k, v in by_word.items()}
    return by_word


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> tuple[TestClient, Path]:
    data_dir = tmp_path_factory.mktemp("wordloop") / "recordings"
    app = create_app(["bisindo-words"], data_dir=data_dir, allowed_hosts=[*LOCAL_HOSTS, "testserver"])
    return TestClient(app), data_dir


def record(client: TestClient, word: str, lm, sample_id: str) -> dict:
    body = {"vocabulary": VOCABULARY, "label": word, "sample_id": sample_id, "tags": TAGS,
            "frames": [slots(h) for h in lm.hands], "pose": [pose_json(p) for p in lm.pose]}
    response = client.post("/api/recordings", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_record_train_and_recognize_live(server, clips):
    client, data_dir = server
    # 1. record: every sample complete on disk, tagged, once however often the page sends it
    for word, samples in clips.items():
        for i, lm in enumerate(samples[:RECORDED]):
            saved = record(client, word, lm, f"take-{word.replace(' ', '_')}-{i:03d}")
            assert saved["values"] == 258 and not saved["duplicate"]
    again = record(client, "Tuli", clips["Tuli"][0], "take-Tuli-000")  # the page retrying a save
    assert again["duplicate"] and again["counts"] == {w: RECORDED for w in clips}
    assert again["pose"] is True
    folder = data_dir / VOCABULARY
    dataset = load_dataset(folder)  # the data layer reads the recordings and their metadata.csv
    assert len(dataset) == RECORDED * len(clips) and sorted(dataset.labels) == sorted(clips)
    assert {s.metadata["signer"] for s in dataset} == {"wl-bisindo-0"}
    assert {s.metadata["distance"] for s in dataset} == {"2 m"}
    assert dataset.samples[0].landmarks.pose is not None
    assert not list(folder.rglob("*.partial"))

    # 2. the command the page shows is one the real CLI accepts, with a recipe that reads pose
    train_line, export_line = again["train_command"].split(" && ")
    program, *argv = shlex.split(train_line)
    train = build_parser().parse_args(argv)
    assert program == "isyarat" and train.command == "train" and Path(train.data[0]).name == VOCABULARY
    recipe = load_recipe(train.recipe)
    assert recipe.features.pose and recipe.features.shape == "sequence"
    export = build_parser().parse_args(shlex.split(export_line)[1:])
    assert export.command == "export" and export.run == train.out and export.name == again["model"]

    # 3. the train button: a background job, polled until its model is served
    started = client.post("/api/train", json={"vocabulary": VOCABULARY, "epochs": EPOCHS})
    assert started.status_code == 202, started.text
    assert client.post("/api/train", json={"vocabulary": VOCABULARY}).status_code == 409  # one at a time
    deadline = time.monotonic() + 600
    while (job := client.get(f"/api/train/{VOCABULARY}").json())["state"] == "running":
        assert time.monotonic() < deadline, job
        time.sleep(1)
    assert job["state"] == "done", job
    assert 0 <= job["accuracy"] <= 1 and job["test_samples"] == len(clips)
    assert job["epochs"] == EPOCHS and 0 < job["epoch"] <= EPOCHS  # the page showed the progress
    model = job["model"]
    listed = {m["name"]: m for m in client.get("/api/models").json()}
    assert listed[model]["pose"] is True and sorted(listed[model]["labels"]) == sorted(clips)
    assert listed["bisindo-words"]["pose"] is False
    assert (data_dir / ".models" / VOCABULARY / "bundle.json").is_file()

    # 4. held-out clips, live: 30 frames of each (the model's window), pose and hands, page times
    right = 0
    with client.websocket_connect(f"/ws/{model}") as ws:
        ws.send_json({"hands": [None, None], "t": 0})  # hands only: the model needs the body too
        assert "pose" in ws.receive_json()["error"]
        for word, samples in clips.items():
            lm = samples[RECORDED]
            ws.send_json({"reset": True})
            ws.receive_json()
            labels = []
            for n, t in enumerate(resample_indices(lm.n_frames, 30)):
                ws.send_json({"hands": slots(lm.hands[t]), "pose": pose_json(lm.pose[t]), "t": 1000 + 90 * n})
                reply = ws.receive_json()
                assert "error" not in reply, reply
                labels.append(reply["label"])
            said = next((label for label in reversed(labels) if label), None)
            right += said == word
    assert right >= len(clips) - 1, f"{right} of {len(clips)} held-out clips recognized"

    # 5. "calibrate to me" never gives the pose model recordings without the body
    lm = clips["maaf"][0]
    client.post("/api/recordings", json={"vocabulary": "hands", "label": "maaf", "frames": [slots(h) for h in lm.hands]})
    refused = client.post("/api/adapt", json={"model": model, "vocabulary": "hands"})
    assert refused.status_code == 400 and "reads the body pose" in refused.json()["detail"]


def test_samples_of_one_vocabulary_keep_one_size(server, clips):
    client, _ = server
    lm = clips["maaf"][0]
    body = {"vocabulary": "hands only", "label": "maaf", "frames": [slots(h) for h in lm.hands]}
    assert client.post("/api/recordings", json=body).status_code == 200
    mixed = client.post("/api/recordings", json={**body, "pose": [pose_json(p) for p in lm.pose]})
    assert mixed.status_code == 400 and "without the body pose" in mixed.json()["detail"]
    summary = client.get("/api/recordings/hands only").json()
    assert summary["pose"] is False and summary["counts"] == {"maaf": 1}
    assert "quick-words " in summary["train_command"]
    kolok = client.get("/api/recordings/kolok").json()  # the built-in Kata Kolok list reads the body
    assert kolok["pose"] is True and "quick-words-pose" in kolok["train_command"]
    vocabularies = {v["name"]: v for v in client.get("/api/vocabularies").json()}
    assert vocabularies["kolok"]["pose"] and "minum" in vocabularies["kolok"]["labels"]


@pytest.mark.parametrize("tags, error", [
    ({"Signer": "a"}, "lower-case word"), ({"path": "x"}, "not path or label"), ({"signer": "a/b"}, "signer="),
    ({f"t{i}": "x" for i in range(9)}, "at most 8"),
])
def test_bad_tags_are_refused_and_nothing_is_written(server, clips, tags, error):
    client, data_dir = server
    lm = clips["maaf"][0]
    response = client.post("/api/recordings", json={"vocabulary": "tagged", "label": "maaf", "tags": tags,
                                                    "frames": [slots(h) for h in lm.hands]})
    assert response.status_code == 400 and error in response.json()["detail"]
    assert not (data_dir / "tagged").exists()


def test_training_needs_two_signs(server):
    client, _ = server
    response = client.post("/api/train", json={"vocabulary": "nothing here"})
    assert response.status_code == 400 and "at least 2 signs" in response.json()["detail"]
    response = client.post("/api/train", json={"vocabulary": "nothing here", "epochs": 0})
    assert response.status_code == 400 and "epochs 0" in response.json()["detail"]
    assert client.get("/api/train/never").status_code == 404


def test_chain_stops_at_the_first_failing_command(tmp_path):
    """The train button's child process (`isyarat.cli.chain`): each command's line, then the first
    failure's one-line error and exit status; the command after it never runs."""
    import json
    import subprocess
    import sys

    steps = [["train", "no-such-recipe", "--data", str(tmp_path), "--out", str(tmp_path / "run")],
             ["export", str(tmp_path / "run"), "--out", str(tmp_path / "bundle")]]
    out = subprocess.run([sys.executable, "-m", "isyarat.cli.chain", json.dumps(steps)], capture_output=True,
                         text=True, timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and lines[0] == "step 1/2: train", out.stderr
    assert lines[-1].startswith("isyarat train: error: no recipe 'no-such-recipe'") and "step 2/2" not in out.stderr
    assert not (tmp_path / "bundle").exists()
    bad = subprocess.run([sys.executable, "-m", "isyarat.cli.chain", "[]"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("isyarat chain: error: give a JSON list"), bad.stderr


def test_training_runs_on_the_recipes_torch_threads_and_gives_them_back():
    """train.threads (quick-words: 1) holds while the model trains; the caller's setting returns after."""
    import torch
    from torch.utils.data import TensorDataset

    from isyarat.training.loop import fit
    from isyarat.training.recipe import TrainConfig

    seen: list[int] = []

    class Probe(torch.nn.Linear):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return super().forward(x)

    before = torch.get_num_threads()
    data = TensorDataset(torch.randn(16, 4), torch.arange(16) % 2)
    fit(Probe(4, 2), data, None, TrainConfig(epochs=2, batch_size=8, threads=1), progress=False)
    assert seen and set(seen) == {1} and torch.get_num_threads() == before
    assert load_recipe("quick-words").train.threads == 1 and load_recipe("quick-words-pose").train.threads == 1
