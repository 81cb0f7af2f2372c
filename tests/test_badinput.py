"""The bad-input corpus of issue 11, replayed: every case a careless user or a hostile client
tried gets a clear refusal (a 4xx with a message, an error reply, or a one-line CLI error naming
the value and the fix), never a traceback, a 500 or a NaN. Inputs come from tests/badinput/:
small committed files, and generators for the big ones (bombs are made from a few bytes)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from badinput import corpus
from isyarat.errors import IsyaratError
from isyarat.runtime.recognizer import Recognizer
from isyarat.server.app import create_app
from isyarat.server.guards import LOCAL_HOSTS, allowed_hosts, announce, check_port
from isyarat.server.uploads import UploadQueue

CORPUS = Path(__file__).parent / "badinput"
TEST_HOSTS = [*LOCAL_HOSTS, "testserver"]  # TestClient calls itself "testserver"
VIDEO = "bisindo-words-wlbisindo/videos/Belajar/signer0_label1_sample1.mp4"
PHOTO = "bisindo-alphabet-binus/images/B"


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as browsers' JSON.parse does."""
    def refuse(constant):
        raise AssertionError(f"reply holds {constant}: not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def letters() -> Recognizer:
    return Recognizer.load("sibi-letters")


@pytest.fixture(scope="module")
def words() -> Recognizer:
    return Recognizer.load("bisindo-words")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("badinput-server")


@pytest.fixture(scope="module")
def client(letters, words, sandbox) -> TestClient:
    app = create_app({"letters": letters, "words": words}, data_dir=sandbox / "recordings",
                     max_upload_bytes=300_000, allowed_hosts=TEST_HOSTS)
    return TestClient(app)


def upload(client, kind: str, name: str, data: bytes, model: str = "letters"):
    return client.post(f"/api/predict/{kind}?model={model}", files={"file": (name, data)})


# ---- uploads: only the containers they claim, no playlists, no URLs --------------------------------

def playlist_targets(datasets: Path) -> dict[str, str]:
    real = str(datasets / VIDEO)
    return {"absolute path": real, "file URL": f"file://{real}", "missing path": "/nonexistent/x.mp4",
            "missing file URL": "file:///nonexistent/x.mp4", "web URL": "http://127.0.0.1:1/x.mp4"}


@pytest.mark.parametrize("make", [corpus.hls_playlist, corpus.ffconcat], ids=["hls", "ffconcat"])
def test_playlists_are_refused_alike_whether_or_not_their_file_exists(client, datasets, make):
    answers = set()
    for what, target in playlist_targets(datasets).items():
        response = upload(client, "video", "x.mp4", make(target))
        assert response.status_code == 415, (what, response.text)
        answers.add(response.text)
    assert len(answers) == 1, "the reply must not tell whether a file exists on the server"


@pytest.mark.parametrize("name, data", [
    ("notes.mp4", b"hello, not a video"),
    ("photo.mp4", corpus.jpeg_header(64, 64)),
    ("cut.mp4", b"\0\0\0\x18ftypmp42" + b"\0" * 200),  # the right magic, then nothing usable
    ("empty.webm", b""),
    ("junk.avi", b"RIFF\0\0\0\0AVI LIST" + corpus.binary_junk()),
], ids=lambda v: v if isinstance(v, str) else "")
def test_videos_that_are_not_videos_get_415(client, name, data):
    response = upload(client, "video", name, data)
    assert response.status_code == 415 and "not a readable video" in response.json()["detail"]


def test_a_truncated_real_video_is_refused_or_read_never_a_500(client, datasets):
    data = (datasets / VIDEO).read_bytes()
    for cut in (len(data) // 2, 2_000):
        response = upload(client, "video", "cut.mp4", data[:cut])
        assert response.status_code in (200, 415), response.text


# ---- decompression bombs -------------------------------------------------------------------------

@pytest.mark.parametrize("name, make", [
    ("bomb-8000.png", lambda: corpus.png_bomb(8000, 8000)),  # 7.8 KB -> 192 MB decoded
    ("bomb-40000.png", lambda: corpus.png_bomb(40000, 40000, real=False)),
    ("bomb.jpg", lambda: corpus.jpeg_header(60000, 60000)),
])
def test_decompression_bombs_get_413_from_the_header(client, name, make):
    data = make()
    assert len(data) < 20_000
    response = upload(client, "image", name, data)
    assert response.status_code == 413, response.text
    assert "megapixels" in response.json()["detail"] and "smaller photo" in response.json()["detail"]


@pytest.mark.parametrize("name, data", [
    ("tiny.gif", corpus.gif_image()),
    ("header-only.jpg", corpus.jpeg_header(640, 480)),
    ("cut.png", corpus.png_bomb(64, 64)[:40]),
    ("junk.png", corpus.binary_junk()),
    ("playlist.jpg", corpus.hls_playlist("/etc/hostname")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_images_that_cannot_be_decoded_get_415(client, name, data):
    response = upload(client, "image", name, data)
    assert response.status_code == 415 and "is not an image" in response.json()["detail"], response.text


def test_a_large_photo_is_shrunk_before_the_detection_border(letters):
    from isyarat.landmarks.media import MAX_DETECT_SIDE, add_border

    big = np.zeros((4000, 3000, 3), np.uint8)
    bordered = add_border(big, 1.0)
    assert max(bordered.shape[:2]) <= 3 * MAX_DETECT_SIDE + 2 and bordered.size < 3 * big.size


# ---- a photo for a word model -------------------------------------------------------------------

def test_a_photo_sent_to_a_word_model_is_refused(client, datasets):
    photo = sorted((datasets / PHOTO).glob("*.jpg"))[0]
    response = upload(client, "image", photo.name, photo.read_bytes(), model="words")
    assert response.status_code == 415 and "needs a video" in response.json()["detail"]


# ---- uploads have a queue of their own ---------------------------------------------------------

def test_health_answers_while_uploads_are_in_flight_and_a_full_queue_gets_429(datasets, sandbox):
    gate, started = threading.Event(), threading.Semaphore(0)
    recognizer = Recognizer.load("sibi-letters")
    original = recognizer.predict_image

    def slow_predict(image):
        started.release()
        gate.wait(30)
        return original(image)

    recognizer.predict_image = slow_predict
    app = create_app({"letters": recognizer}, data_dir=sandbox / "queue", allowed_hosts=TEST_HOSTS,
                     uploads=UploadQueue(workers=1, max_waiting=1))
    photo = sorted((datasets / PHOTO).glob("*.jpg"))[0].read_bytes()
    with TestClient(app) as c:
        results = []
        threads = [threading.Thread(target=lambda: results.append(upload(c, "image", "p.jpg", photo)))
                   for _ in range(2)]
        for t in threads:
            t.start()
        assert started.acquire(timeout=30), "the first upload never started"
        while app.state.uploads.in_flight < 2:  # the second one waits in the queue
            threading.Event().wait(0.01)
        health = c.get("/api/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        busy = upload(c, "image", "p.jpg", photo)
        assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
        with c.websocket_connect("/ws/letters") as ws:  # live viewers are not behind the uploads either
            ws.send_text(json.dumps({"hands": [None, corpus.hand()]}))
            assert "label" in strict_json(ws.receive_text())
        gate.set()
        for t in threads:
            t.join(60)
    assert [r.status_code for r in results] == [200, 200]


# ---- Host header, paths, announcements ---------------------------------------------------------

def test_foreign_host_headers_are_refused(letters, sandbox):
    app = create_app([letters], data_dir=sandbox / "hosts")  # the default: loopback names only
    local = TestClient(app, base_url="http://127.0.0.1:8000")
    assert local.get("/api/health").status_code == 200
    assert TestClient(app, base_url="http://localhost:8000").get("/api/health").status_code == 200
    foreign = TestClient(app, base_url="http://evil.example")
    assert foreign.get("/api/health").status_code == 400
    assert foreign.post("/api/recordings", json={}).status_code == 400
    with pytest.raises(WebSocketDenialResponse):
        with TestClient(app).websocket_connect("/ws/sibi-letters", headers={"host": "evil.example"}):
            pass


def test_bound_host_and_announcement():
    assert "192.168.1.5" in allowed_hosts("192.168.1.5") and "evil.example" not in allowed_hosts("192.168.1.5")
    everywhere = announce("0.0.0.0", 8000)
    assert "every network interface" in everywhere and "localhost:8000" in everywhere
    assert announce("127.0.0.1", 8001) == "open http://127.0.0.1:8001/ in a browser"
    for port in (0, 99999, -1):
        with pytest.raises(IsyaratError, match="1 to 65535"):
            check_port(port)


def test_no_absolute_paths_and_no_cdn_docs(client, sandbox):
    listing = client.get("/api/recordings")
    assert listing.status_code == 200 and str(sandbox) not in listing.text
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 200


def test_data_dir_that_is_a_file_is_refused_at_start(letters, tmp_path):
    not_a_folder = corpus.write(tmp_path / "recordings", b"a file")
    for data_dir in (not_a_folder, not_a_folder / "inside"):
        with pytest.raises(IsyaratError, match="is a file, not a folder"):
            create_app([letters], data_dir=data_dir)


def test_model_loads_write_nothing_under_home(tmp_path):
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    code = ("from isyarat.runtime.recognizer import Recognizer; r = Recognizer.load('sibi-letters'); "
            "import numpy as np; r.bundle.model.predict(np.zeros((1, *r.bundle.input_shape), np.float32))")
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    written = [str(p.relative_to(home)) for p in home.rglob("*")]
    assert not [w for w in written if "onnxruntime" in w.lower() or "Microsoft" in w], written


# ---- the live WebSocket --------------------------------------------------------------------------

BAD_MESSAGES = {
    "nested 30000 deep": corpus.nested_json(30_000),
    "nested 900 deep": corpus.nested_json(900),
    "lone surrogate id": '{"hands": [null, null], "id": "\\ud800"}',
    "lone low surrogate id": '{"hands": [null, null], "id": "ab\\udfffcd"}',
    "id object": json.dumps({"hands": [None, None], "id": {"a": [1]}}),
    "id too long": json.dumps({"hands": [None, None], "id": "x" * 5000}),
    "id infinite": '{"hands": [null, null], "id": 1e400}',
    "huge coordinates": json.dumps({"hands": [None, corpus.hand(3e38)]}),
    "huge negative coordinates": json.dumps({"hands": [corpus.hand(-3e38), None]}),
    "over float32": json.dumps({"hands": [None, corpus.hand(1e39)]}),
    "one huge point": json.dumps({"hands": [None, [[0.5, 0.5, 0.0]] * 20 + [[3e38, -3e38, 3e38]]]}),
    "NaN": '{"hands": [null, [' + ",".join(["[NaN, 0.5, 0.0]"] * 21) + "]]}",
    "Infinity": '{"hands": [null, [' + ",".join(["[Infinity, 0.5, 0.0]"] * 21) + "]]}",
    "400-digit integer": '{"hands": [null, [' + ",".join(["[" + "9" * 400 + ", 0.5, 0.0]"] * 21) + "]]}",
    "5000-digit integer": '{"hands": [null, null], "id": ' + "9" * 5000 + "}",
    "pose huge": json.dumps({"hands": [None, None], "pose": [[3e38, 0, 0, 1]] * 33}),
    "hands string": json.dumps({"hands": "left"}),
    "hands dict": json.dumps({"hands": [{"x": 1}, None]}),
    "bools": json.dumps({"hands": [None, [[True, False, True]] * 21]}),
    "empty": "",
    "null": "null",
}


@pytest.mark.parametrize("name", list(BAD_MESSAGES))
def test_bad_live_messages_get_an_error_reply_and_the_connection_stays_usable(client, name):
    with client.websocket_connect("/ws/letters") as ws:
        ws.send_text(BAD_MESSAGES[name])
        reply = strict_json(ws.receive_text())
        assert reply.get("error") or reply.get("has_hand") is False, reply
        ws.send_text(json.dumps({"hands": [None, corpus.hand()], "id": 7}))
        reply = strict_json(ws.receive_text())
        assert reply["id"] == 7 and reply["has_hand"], reply


@pytest.mark.parametrize("slots", [
    [None, corpus.hand(0.0)],               # all zero
    [corpus.hand(0.5), None],               # all points equal
    [corpus.hand(0.0), corpus.hand(0.3)],   # both degenerate
], ids=["all-zero", "all-equal", "both"])
@pytest.mark.parametrize("model", ["letters", "words"])
def test_degenerate_hands_are_no_sign(client, slots, model):
    with client.websocket_connect(f"/ws/{model}") as ws:
        for _ in range(3):
            ws.send_text(json.dumps({"hands": slots}))
            reply = strict_json(ws.receive_text())
            assert reply["label"] is None and reply["has_hand"] is False, reply


@pytest.mark.parametrize("value", [99.0, -99.0, 1e-38, 5e-324])
def test_extreme_but_allowed_coordinates_never_give_nan(client, value):
    points = [[0.5 + value * (i % 2), 0.5 - value * (i % 3 == 0), value] for i in range(21)]
    with client.websocket_connect("/ws/letters") as ws:
        for _ in range(3):
            ws.send_text(json.dumps({"hands": [points, corpus.hand()]}))
            strict_json(ws.receive_text())


# ---- the recorder -------------------------------------------------------------------------------

def recording(sample_id: str | None = None, vocabulary: str = "retry") -> dict:
    frames = [[None, corpus.hand()] for _ in range(5)]
    return {"vocabulary": vocabulary, "label": "Halo", "frames": frames,
            **({"sample_id": sample_id} if sample_id else {})}


def test_a_retried_recording_is_saved_once(client, sandbox):
    first = client.post("/api/recordings", json=recording("take-0001-abcdef"))
    again = client.post("/api/recordings", json=recording("take-0001-abcdef"))
    assert first.status_code == again.status_code == 200
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert first.json()["saved"] == again.json()["saved"]
    folder = sandbox / "recordings" / "retry" / "Halo"
    assert [p.name for p in folder.iterdir()] == ["take-0001-abcdef.npy"]
    assert np.load(folder / "take-0001-abcdef.npy").shape == (5, 126)


@pytest.mark.parametrize("sample_id", ["../../x", "short", "a" * 65, "take 0001 abc", "ééééééééé"])
def test_bad_sample_ids_are_refused(client, sample_id):
    response = client.post("/api/recordings", json=recording(sample_id, vocabulary="ids"))
    assert response.status_code == 400 and "sample_id" in response.json()["detail"]


def test_recordings_are_written_whole_and_leave_no_partial_files(client, sandbox):
    for _ in range(3):
        assert client.post("/api/recordings", json=recording(vocabulary="whole")).status_code == 200
    folder = sandbox / "recordings" / "whole" / "Halo"
    assert sorted(p.name for p in folder.iterdir()) == ["0.npy", "1.npy", "2.npy"]
    assert all(np.load(p).shape == (5, 126) for p in folder.iterdir())
