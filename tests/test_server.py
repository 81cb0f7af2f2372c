"""The web app through FastAPI's TestClient: every endpoint, and every bad input we can think of."""
from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from isyarat.cli.main import build_parser
from isyarat.data.layouts import load_dataset
from isyarat.runtime.recognizer import Recognizer
from isyarat.server.app import create_app
from isyarat.server.batching import LiveBatcher
from isyarat.server.guards import LOCAL_HOSTS
from isyarat.training.recipe import load_recipe
from test_runtime import WORD_VIDEO, asl_frames, build_letter_bundle

PHOTO = "bisindo-alphabet-binus/images/B"
# the app answers only requests addressed to this machine; TestClient calls itself "testserver"
TEST_HOSTS = [*LOCAL_HOSTS, "testserver"]


@pytest.fixture(scope="module")
def letters(datasets, tmp_path_factory) -> Recognizer:
    return Recognizer.load(build_letter_bundle(datasets, tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """A folder holding the recordings folder, to check nothing is written beside it."""
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def client(letters, sandbox) -> TestClient:
    return TestClient(create_app({"letters": letters}, data_dir=sandbox / "recordings", max_upload_bytes=200_000,
                                 allowed_hosts=TEST_HOSTS))


def hand_slots(hands: np.ndarray) -> list:
    """(2, 21, 3) -> the JSON the browser sends: [left or null, right or null]."""
    return [None if np.isnan(h).any() else h.tolist() for h in hands]


def photo(datasets: Path) -> Path:
    return sorted((datasets / PHOTO).glob("*.jpg"))[0]


# ---- pages and metadata ---------------------------------------------------------------------------

def test_pages_and_health(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="label"' in page.text and "/vendor/hands/hands.js" in page.text
    assert 'href="/recorder"' in page.text
    assert client.get("/recorder").status_code == 200
    assert "startTracking" in client.get("/static/app.js").text
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["models"] == ["letters"]
    assert health["browser_hands"], "@mediapipe/hands is not installed: `make test` runs `npm ci` to install it"
    hands_js = client.get("/vendor/hands/hands.js")
    assert hands_js.status_code == 200 and len(hands_js.content) > 10_000


def test_api_docs_work_offline(client):
    """/docs loads Swagger UI from this server (npm swagger-ui-dist), never from a CDN."""
    docs = client.get("/docs")
    assert docs.status_code == 200, "swagger-ui-dist is not installed: `make setup` runs `npm install`"
    sources = [part.split('"')[1] for part in docs.text.split("src=")[1:]] + \
              [part.split('"')[1] for part in docs.text.split("href=")[1:]]
    assert sources and all(s.startswith(("/", "data:")) for s in sources), sources
    assert client.get("/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/redoc").status_code == 404                       # redoc would need a CDN
    assert client.get("/api/health").json()["spelling"] == {"hold_s": 0.5, "space_after_s": 1.5}


def test_recordings_go_to_the_user_data_folder_by_default(monkeypatch, tmp_path):
    from isyarat.server.datadir import default_recordings_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_recordings_dir() == tmp_path / "data" / "isyarat" / "recordings"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_recordings_dir() == tmp_path / "home" / ".local" / "share" / "isyarat" / "recordings"


def test_missing_browser_tracker_is_explained(letters, tmp_path):
    app = TestClient(create_app([letters], data_dir=tmp_path, hands_dir=tmp_path / "not-installed",
                                allowed_hosts=TEST_HOSTS))
    health = app.get("/api/health").json()
    assert not health["browser_hands"] and "npm install" in health["message"]
    missing = app.get("/vendor/hands/hands.js")
    assert missing.status_code == 503 and "npm install" in missing.text


def test_models_are_listed(client, letters):
    [model] = client.get("/api/models").json()
    assert model["name"] == "letters" and model["sign_system"] == "ASL" and model["shape"] == "frame"
    assert model["labels"] == letters.labels and "metrics" in model


# ---- uploads ------------------------------------------------------------------------------------

def test_predict_image_upload(client, letters, datasets):
    path = photo(datasets)
    response = client.post("/api/predict/image", files={"file": (path.name, path.read_bytes(), "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = letters.predict_image(path)
    assert body["model"] == "asl-letters" and body["has_hand"]
    assert body["label"] == expected.label and body["probabilities"] == pytest.approx(expected.probabilities)


@pytest.mark.parametrize("name, data, kind", [
    ("notes.txt", b"hello, not an image", "text/plain"),
    ("fake.jpg", b"\xff\xd8\xff\xe0 broken jpeg", "image/jpeg"),
    ("empty.png", b"", "image/png"),
])
def test_non_images_are_refused(client, name, data, kind):
    response = client.post("/api/predict/image", files={"file": (name, data, kind)})
    assert response.status_code == 415 and "is not an image" in response.json()["detail"]


def test_uploads_over_the_limit_get_413(client, datasets):
    big = b"\xff" * 300_000
    response = client.post("/api/predict/image", files={"file": ("big.jpg", big, "image/jpeg")})
    assert response.status_code == 413 and "too large" in response.json()["detail"]

    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(30):
            yield b"\0" * 10_000

    chunked = client.post("/api/predict/video", content=chunks(), headers={"content-type": "application/octet-stream"})
    assert chunked.status_code == 413


def test_missing_file_and_unknown_model(client, datasets):
    assert client.post("/api/predict/image").status_code == 422
    path = photo(datasets)
    response = client.post("/api/predict/image?model=nope", files={"file": (path.name, path.read_bytes())})
    assert response.status_code == 404 and "unknown model 'nope'" in response.json()["detail"]


def test_predict_video_upload(client, letters, datasets):
    path = datasets / WORD_VIDEO
    response = client.post("/api/predict/video", files={"file": (path.name, path.read_bytes(), "video/mp4")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["n_frames"] > 60 and body["frames_with_hand"] > body["n_frames"] / 2
    assert isinstance(body["text"], str) and set(body["probabilities"]) == set(letters.labels)
    refused = client.post("/api/predict/video", files={"file": ("clip.mp4", b"not a video at all", "video/mp4")})
    assert refused.status_code == 415 and "not a readable video" in refused.json()["detail"]


# ---- the live WebSocket -----------------------------------------------------------------------

def test_websocket_streams_predictions_and_spells(client, datasets):
    frames = asl_frames(datasets, "B", 0, 12)
    with client.websocket_connect("/ws/letters") as ws:
        replies = []
        for i, hands in enumerate(frames):
            ws.send_json({"hands": hand_slots(hands), "id": i, "t": 1000 + 100 * i})  # 10 frames/s
            replies.append(ws.receive_json())
        assert [r["id"] for r in replies] == list(range(12))
        assert replies[-1]["label"] == "B" and replies[-1]["has_hand"]
        assert all(isinstance(r["latency_ms"], float) and r["latency_ms"] >= 0 for r in replies)
        assert replies[-1]["text"] == "B" and sum(r["added"] == "B" for r in replies) == 1
        assert len(replies[-1]["probabilities"]) == 26
        ws.send_json({"hands": [None, None], "t": 2200})
        empty = ws.receive_json()
        assert empty["label"] is None and not empty["has_hand"] and empty["text"] == "B"
        ws.send_json({"reset": True})
        assert ws.receive_json()["text"] == ""


def test_websocket_spells_by_the_frame_times_the_page_sends(client, datasets):
    """'BACA' at 1 frame a second (a slow phone), the replies coming back at once: the decoder
    counts the pages' capture times, not the frames or their arrival, and a one-frame drop of the
    hand between letters writes no space."""
    frames = []
    for i, letter in enumerate("BACA"):
        frames += [hand_slots(h) for h in asl_frames(datasets, letter, 10 * i, 3, step=5)] + [[None, None]]
    with client.websocket_connect("/ws/letters") as ws:
        for i, slots in enumerate(frames):
            ws.send_json({"hands": slots, "t": 5000.0 + 1000 * i})
            text = ws.receive_json()["text"]
    assert text == "BACA"


@pytest.mark.parametrize("message, error", [
    (json.dumps({"hands": [None, None], "t": "now"}), "capture time in milliseconds"),
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "JSON object"),
    (json.dumps({"hands": None}), "list of two entries"),
    (json.dumps({"hands": [None, None, None]}), "list of two entries"),
    (json.dumps({"hands": [None, [[0.1, 0.2, 0.0]] * 20]}), "21 lists of 3"),
    (json.dumps({"hands": [None, [[0.1, 0.2]] * 21]}), "21 lists of 3"),
    (json.dumps({"hands": [None, [["a", "b", "c"]] * 21]}), "21 lists of 3"),
    (json.dumps({"hands": [None, [[0.1, [0.2], 0.0]] * 21]}), "21 lists of 3"),
    (json.dumps({"hands": [None, None], "pose": [[0.0] * 4] * 3}), "pose must be 33 lists of 4"),
    ('{"hands": [null, [[NaN, 0.2, 0.0]]]}', "finite"),
    (json.dumps({"hands": [None, None], "pad": "x" * 70_000}), "over the 65536 limit"),
])
def test_bad_websocket_messages_get_an_error_and_the_connection_stays_usable(client, datasets, message, error):
    hands = asl_frames(datasets, "A", 0, 1)[0]
    with client.websocket_connect("/ws/letters") as ws:
        ws.send_text(message)
        assert error in ws.receive_json()["error"]
        ws.send_json({"hands": hand_slots(hands)})
        assert ws.receive_json()["has_hand"]


def test_binary_websocket_messages_are_refused(client):
    with client.websocket_connect("/ws/letters") as ws:
        ws.send_bytes(b"\x00\x01")
        assert "JSON text" in ws.receive_json()["error"]
        ws.send_json({"hands": [None, None]})
        assert ws.receive_json()["has_hand"] is False


def test_frames_of_many_viewers_share_one_model_call(letters, datasets):
    """Frames that arrive in the same event-loop turn go through the model in one batch, and
    each viewer gets the prediction it gets on its own."""
    batches = []
    model = letters.bundle.model

    class CountingModel:
        def predict(self, x):
            batches.append(len(x))
            return model.predict(x)

    def frame_message(hands):  # the nested form: every number as it is
        return {"hands": [None if np.isnan(h).any() else h.tolist() for h in hands]}

    batcher = LiveBatcher(letters)
    frames = asl_frames(datasets, "B", 0, 6)
    streams = [letters.stream() for _ in frames]

    async def viewers():
        return await asyncio.gather(*(batcher.push(s, frame_message(h)) for s, h in zip(streams, frames)))

    letters.bundle.model = CountingModel()
    try:
        together = asyncio.run(viewers())
        assert batches == [6] and batcher.batches == 1 and batcher.frames == 6
        alone = [letters.stream().push_landmarks(hands) for hands in frames]
        assert len(batches) == 7  # alone: a call each
    finally:
        letters.bundle.model = model
    for one, many in zip(alone, together):
        assert many.prediction.label == one.prediction.label == "B"
        assert many.prediction.probabilities == one.prediction.probabilities
    assert asyncio.run(viewers()) and batcher.batches == 2


def test_unknown_model_closes_with_a_reason(client):
    with client.websocket_connect("/ws/nope") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008 and "unknown model 'nope'" in closed.value.reason


# ---- the recorder ---------------------------------------------------------------------------

def test_recordings_are_saved_as_an_npy_dataset(client, datasets, sandbox):
    frames = [hand_slots(h) for h in asl_frames(datasets, "C", 0, 8)] + [[None, None]] * 2
    for _ in range(2):
        response = client.post("/api/recordings", json={"vocabulary": "my signs", "label": "Ca-1_x", "frames": frames})
        assert response.status_code == 200, response.text
    client.post("/api/recordings", json={"vocabulary": "my signs", "label": "Dua", "frames": frames[:5]})
    body = response.json()
    assert body["saved"] == "my signs/Ca-1_x/1.npy" and body["frames"] == 10
    root = sandbox / "recordings" / "my signs"
    sample = np.load(root / "Ca-1_x" / "0.npy")
    assert sample.shape == (10, 126) and sample.dtype == np.float32
    assert np.isnan(sample[:, :63]).all() and np.isfinite(sample[:8, 63:]).all() and np.isnan(sample[8:]).all()
    summary = client.get("/api/recordings/my signs").json()
    assert summary["counts"] == {"Ca-1_x": 2, "Dua": 1}
    train_line, export_line = summary["train_command"].split(" && ")  # train, then export the run
    program, *argv = shlex.split(train_line)
    args = build_parser().parse_args(argv)  # the shown command is one the real CLI accepts
    assert program == "isyarat" and args.command == "train" and Path(args.data[0]).name == root.name
    assert build_parser().parse_args(shlex.split(export_line)[1:]).run == args.out
    assert str(sandbox) not in summary["train_command"]  # no absolute path outside home or the working folder
    assert load_recipe(args.recipe).features.shape == "sequence", "a recipe for recorded moving signs"
    assert [v["vocabulary"] for v in client.get("/api/recordings").json()["vocabularies"]] == ["my signs"]
    dataset = load_dataset(root)
    assert dataset.layout == "npy" and len(dataset) == 3 and dataset.labels == ["Ca-1_x", "Dua"]
    assert dataset.samples[0].landmarks.hands.shape == (10, 2, 21, 3)


@pytest.mark.parametrize("vocabulary, label", [
    ("../outside", "A"), ("ok", "../../etc"), ("a/b", "A"), ("ok", "a\\b"), ("..", "A"), ("ok", "."),
    ("", "A"), ("ok", " "), ("ok", "x" * 65), ("/tmp", "A"), ("ok", "A\x00"), ("ok", "A.npy"),
])
def test_recorder_refuses_path_like_names(client, datasets, sandbox, vocabulary, label):
    frames = [hand_slots(h) for h in asl_frames(datasets, "C", 0, 3)]
    response = client.post("/api/recordings", json={"vocabulary": vocabulary, "label": label, "frames": frames})
    assert response.status_code == 400 and "only letters, digits" in response.json()["detail"]
    written = [p for p in sandbox.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(sandbox / "recordings") for p in written)


@pytest.mark.parametrize("frames, error", [
    ([], "1 to 600 frames"),
    ([[None, None]] * 4, "no hand in any frame"),
    ([[None]], "bad frame"),
    ([[None, [[1, 2, 3]] * 5]], "bad frame"),
])
def test_recorder_refuses_bad_frames(client, frames, error):
    response = client.post("/api/recordings", json={"vocabulary": "v", "label": "A", "frames": frames})
    assert response.status_code == 400 and error in response.json()["detail"]


def test_recordings_folder_is_shown_without_its_absolute_path(tmp_path, monkeypatch):
    from isyarat.server.recorder import shown_root

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert shown_root(tmp_path / "home" / ".local/share/isyarat/recordings") == "~/.local/share/isyarat/recordings"
    monkeypatch.chdir(tmp_path)
    assert shown_root(tmp_path / "data" / "recordings") == "data/recordings"
    assert shown_root(Path("/somewhere/else/recordings")) == "recordings"


def test_recorder_path_traversal_in_the_url(client):
    assert client.get("/api/recordings/..%2F..").status_code in (400, 404)
    assert client.get("/api/recordings/a.b").status_code == 400


def test_each_worker_process_builds_the_same_app(monkeypatch, sandbox):
    """`isyarat serve --workers N`: every worker rebuilds the app from the settings serve() left."""
    from isyarat.server.app import SERVE_ENV, app_from_environment

    monkeypatch.setenv(SERVE_ENV, json.dumps({"models": ["bisindo-letters"], "data_dir": str(sandbox)}))
    with TestClient(app_from_environment(), base_url="http://localhost") as worker:
        assert [m["name"] for m in worker.get("/api/models").json()] == ["bisindo-letters"]
