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
    assert client.get("/openapi.json").status_code == 200
    docs = client.get("/docs")  # served from local assets (test_server.py checks them), never a CDN
    assert docs.status_code == 200 and "cdn" not in docs.text.lower() and "//unpkg" not in docs.text


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
    "400-digit time": '{"hands": [null, null], "t": ' + "9" * 400 + "}",
    "time past 2^64": '{"left": null, "right": null, "t": 100000000000000000000000}',
    "pose huge": json.dumps({"hands": [None, None], "pose": [[3e38, 0, 0, 1]] * 33}),
    "hands string": json.dumps({"hands": "left"}),
    "hands dict": json.dumps({"hands": [{"x": 1}, None]}),
    "bools": json.dumps({"hands": [None, [[True, False, True]] * 21]}),
    "empty": "",
    "null": "null",
}


@pytest.mark.parametrize("name", list(BAD_MESSAGES))
def test_bad_live_messages_get_an_error_reply_and_the_connection_stays_usable(client, name, caplog):
    with client.websocket_connect("/ws/letters") as ws:
        ws.send_text(BAD_MESSAGES[name])
        reply = strict_json(ws.receive_text())
        assert reply.get("error") or reply.get("has_hand") is False, reply
        ws.send_text(json.dumps({"hands": [None, corpus.hand()], "id": 7}))
        reply = strict_json(ws.receive_text())
        assert reply["id"] == 7 and reply["has_hand"], reply
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "answered, but with a traceback in the log"


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


# ==== the CLI ====================================================================================
# Every case: exit code 2 and one line "isyarat <verb>: error: ..." naming the value and the fix.

from isyarat.cli.main import main  # noqa: E402
from isyarat.data.samples import LANDMARKS, Sample  # noqa: E402
from isyarat.data.table import samples_to_table  # noqa: E402
from isyarat.landmarks.arrays import from_flat  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASL = "asl-alphabet-landmarks-graudt/raw_gestures"
GOOD_RECIPE = CORPUS / "recipes" / "no-name.yaml"


def run_cli(capsys, *argv) -> str:
    """Run `isyarat argv...`; assert a clean refusal and return its one line."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "Warning" not in line and not line.startswith("  ")]
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err and len(lines) == 1 and ": error: " in lines[0], err
    return lines[0]


def asl_samples(datasets: Path, letters: str = "ABC", per_letter: int = 6) -> list[Sample]:
    samples = []
    for letter in letters:
        for path in sorted((datasets / ASL / letter).glob("*.npy"))[:per_letter]:
            samples.append(Sample(letter, path, LANDMARKS, landmarks=from_flat(np.load(path))))
    return samples


@pytest.fixture(scope="module")
def table(datasets, tmp_path_factory) -> Path:
    """A small landmark table of real ASL hands: 3 letters x 6 samples."""
    path = tmp_path_factory.mktemp("table") / "asl.csv"
    samples_to_table(asl_samples(datasets)).to_csv(path, index=False)
    return path


def damaged_table(table: Path, tmp_path: Path, row: int, column: str, value) -> Path:
    import pandas as pd

    frame = pd.read_csv(table)
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    out = tmp_path / f"damaged-{column}.csv"
    frame.to_csv(out, index=False)
    return out


RECIPE_ERRORS = {
    "split-int": "recipe.split is 5; it must be text",
    "split-holdout-two": "holdout:2",
    "max-per-class-lots": "max_per_class is 'lots'",
    "batch-size-float": "train.batch_size is 2.5",
    "patience-soon": "train.patience is 'soon'",
    "lr-fast": "train.lr is 'fast'; it must be a number",
    "epochs-zero": "train.epochs is 0",
    "val-fraction-big": "train.val_fraction is 1.5",
    "threads-negative": "train.threads is -1",
    "train-list": "train is [1, 2]",
    "list": "a recipe is a YAML mapping",
    "scalar": "a recipe is a YAML mapping",
    "no-model": "needs 'model'",
    "unknown-model": "model 'not_a_model' is not in the registry",
    "model-number": "recipe.model is 5",
    "unknown-key": "learning_rate",
    "features-frames-many": "features.frames is 'many'",
    "features-kind-bad": "features.shape is 'movie'",
    "augment-copies-text": "augment.copies is 'lots'",
    "extract-border-big": "border=9",
    "extract-border-text": "extract.border is 'wide'",
    "params-dropout-text": "model_params.dropout is 'half'",
    "params-unknown": "takes no layers",
    "compare-bad": "kfold:1",
    "name-list": "recipe.name is ['a', 'b']",
    "extends-loop": "loops back",
    "broken-yaml": "not valid YAML",
    "optimizer-bad": "fastest",
}


@pytest.mark.parametrize("name", list(RECIPE_ERRORS))
def test_bad_recipes_are_refused_at_load(capsys, monkeypatch, table, tmp_path, name):
    monkeypatch.chdir(ROOT)
    recipe = CORPUS / "recipes" / f"{name}.yaml"
    line = run_cli(capsys, "train", recipe, "--data", table, "--out", tmp_path / "run", "--quiet")
    assert RECIPE_ERRORS[name] in line, line
    assert not (tmp_path / "run").exists(), "refused before any work"


def test_binary_and_missing_recipes(capsys, table, tmp_path):
    binary = corpus.write(tmp_path / "binary.yaml", corpus.binary_junk())
    assert "not a text file" in run_cli(capsys, "train", binary, "--data", table, "--out", tmp_path / "r")
    assert "no recipe" in run_cli(capsys, "train", tmp_path / "missing.yaml", "--data", table, "--out", tmp_path / "r")


def test_a_recipe_without_a_name_takes_its_file_name():
    from isyarat.training.recipe import load_recipe

    assert load_recipe(GOOD_RECIPE).name == "no-name"


TRAIN_ARGS = {
    "--set train=5": (["--set", "train=5"], "train is 5"),
    "--set train.lr=fast": (["--set", "train.lr=fast"], "train.lr is 'fast'"),
    "--set batch_size": (["--set", "train.batch_size=2.5"], "train.batch_size is 2.5"),
    "--set unknown": (["--set", "train.speed=3"], "unknown setting(s) speed"),
    "--set no value": (["--set", "train.lr"], "use KEY=VALUE"),
    "--set bad yaml": (["--set", "train.lr=[0.1"], "not valid YAML"),
    "--set val_fraction=1.5": (["--set", "train.val_fraction=1.5"], "train.val_fraction is 1.5"),
    "--split holdout:abc": (["--split", "holdout:abc"], "split 'holdout:abc'"),
    "--split holdout:2": (["--split", "holdout:2"], "split 'holdout:2'"),
    "--split holdout:0": (["--split", "holdout:0"], "split 'holdout:0'"),
    "--split kfold:1": (["--split", "kfold:1"], "split 'kfold:1'"),
    "--split kfold:x": (["--split", "kfold:x"], "split 'kfold:x'"),
    "--split group:": (["--split", "group:"], "split 'group:'"),
    "--split random": (["--split", "random"], "split 'random'"),
    "--compare kfold:0": (["--compare", "kfold:0"], "split 'kfold:0'"),
    "--epochs 0": (["--epochs", "0"], "train.epochs is 0"),
    "--epochs -3": (["--epochs", "-3"], "train.epochs is -3"),
    "--max-per-class 0": (["--max-per-class", "0"], "max_per_class is 0"),
    "--workers 0": (["--workers", "0"], "--workers 0"),
}


@pytest.mark.parametrize("case", list(TRAIN_ARGS))
def test_bad_train_arguments(capsys, table, tmp_path, case):
    extra, expected = TRAIN_ARGS[case]
    line = run_cli(capsys, "train", GOOD_RECIPE, "--data", table, "--out", tmp_path / "run", "--quiet", *extra)
    assert expected in line, line


def test_out_and_cache_that_are_files(capsys, table, tmp_path):
    a_file = corpus.write(tmp_path / "taken", b"x")
    train = ["train", GOOD_RECIPE, "--data", table, "--quiet"]
    assert "is a file, not a folder" in run_cli(capsys, *train, "--out", a_file)
    assert "is a file, not a folder" in run_cli(capsys, *train, "--out", a_file / "run")
    assert "--cache" in run_cli(capsys, *train, "--out", tmp_path / "run", "--cache", a_file)
    extract = ["extract", "--data", table]
    assert "is a folder" in run_cli(capsys, *extract, "--out", tmp_path)
    assert "must end in .parquet or .csv" in run_cli(capsys, *extract, "--out", tmp_path / "x.txt")
    assert "--cache" in run_cli(capsys, *extract, "--out", tmp_path / "x.csv", "--cache", a_file)
    assert "--out" in run_cli(capsys, "evaluate", "--model", "sibi-letters", "--data", table, "--out", a_file)


@pytest.mark.parametrize("row, column, value, expected", [
    (4, "right_x3", "abc", "row 5 (line 6), column right_x3 holds 'abc'"),
    (7, "right_y0", "inf", "row 8 (line 9), column right_y0 is inf"),
    (2, "right_z20", "-1e300", "row 3 (line 4), column right_z20 is -1e+300"),
    (9, "label", "", "row 10 (line 11) has no label"),
    (0, "label", "nan", "row 1 (line 2) has no label"),
])
def test_bad_table_cells_are_refused_naming_the_row(capsys, table, tmp_path, row, column, value, expected):
    bad = damaged_table(table, tmp_path, row, column, value)
    line = run_cli(capsys, "train", GOOD_RECIPE, "--data", bad, "--out", tmp_path / "run", "--quiet")
    assert expected in line and str(bad) in line, line


def test_a_tiny_dataset_is_refused_with_the_fix(capsys, datasets, tmp_path):
    tiny = tmp_path / "tiny.csv"
    samples_to_table(asl_samples(datasets, "AB", 2)).to_csv(tiny, index=False)
    line = run_cli(capsys, "train", GOOD_RECIPE, "--data", tiny, "--out", tmp_path / "run", "--quiet")
    assert "4 samples of 2 classes are too few" in line and "kfold:2" in line


def test_unreadable_npy_files_are_skipped_not_fatal(datasets, tmp_path):
    from isyarat.data.layouts import load_dataset

    root = tmp_path / "mine"
    for letter in "AB":
        for path in sorted((datasets / ASL / letter).glob("*.npy"))[:3]:
            corpus.write(root / letter / path.name, path.read_bytes())
    corpus.write(root / "A" / "crashed.npy", b"")                       # kill -9 during a write
    corpus.write(root / "B" / "cut.npy", (root / "B" / "frame_0.npy").read_bytes()[:90])
    corpus.write(root / "B" / "junk.npy", corpus.binary_junk())
    with pytest.warns(UserWarning, match="skipped 3 unreadable sample"):
        dataset = load_dataset(root)
    assert len(dataset) == 6 and dataset.labels == ["A", "B"]


def test_sequence_frames_of_mixed_sizes(capsys, datasets, tmp_path):
    from isyarat.data.layouts import load_dataset

    frame = np.load(sorted((datasets / ASL / "A").glob("*.npy"))[0]).reshape(-1)

    def sequences(root: Path, layout: dict[str, list[int]]) -> Path:
        for label, sizes in layout.items():
            for i, size in enumerate(sizes):
                (root / label / "take1").mkdir(parents=True, exist_ok=True)
                np.save(root / label / "take1" / f"{i}.npy", np.resize(frame, size).astype(np.float32))
        return root

    root = sequences(tmp_path / "some", {"Halo": [63, 63], "Dua": [63, 126]})
    with pytest.warns(UserWarning, match="different numbers of values"):
        assert [s.label for s in load_dataset(root)] == ["Halo"]
    root = sequences(tmp_path / "all", {"Halo": [126, 63], "Dua": [63, 126]})
    assert "no readable sample" in run_cli(capsys, "train", GOOD_RECIPE, "--data", root, "--out", tmp_path / "r", "--quiet")


def test_binary_metadata_csv(capsys, datasets, tmp_path):
    root = tmp_path / "withmeta"
    for letter in "AB":
        for path in sorted((datasets / ASL / letter).glob("*.npy"))[:3]:
            corpus.write(root / letter / path.name, path.read_bytes())
    corpus.write(root / "metadata.csv", corpus.binary_junk())
    line = run_cli(capsys, "train", GOOD_RECIPE, "--data", root, "--out", tmp_path / "r", "--quiet")
    assert "metadata.csv: not a readable CSV" in line
    corpus.write(root / "metadata.csv", "path,label,signer\nA/frame_0.npy,A,s1\nB/frame_0.npy,,s2\n")
    line = run_cli(capsys, "train", GOOD_RECIPE, "--data", root, "--out", tmp_path / "r", "--quiet")
    assert "metadata.csv: line 3 has no label" in line


def test_truncated_run_json_and_oversized_bundle(capsys, tmp_path):
    run = tmp_path / "run"
    corpus.write(run / "run.json", '{"format": 1, "name": "x", "labels": ["A", "B"')
    assert "corrupt run file" in run_cli(capsys, "export", run, "--out", tmp_path / "bundle")
    corpus.write(tmp_path / "list" / "run.json", "[1, 2]")
    assert "corrupt run file" in run_cli(capsys, "export", tmp_path / "list", "--out", tmp_path / "bundle")
    shipped = Path(Recognizer.load("sibi-letters").bundle.path)
    bundle = tmp_path / "huge"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes((shipped / "model.onnx").read_bytes())
    meta = json.loads((shipped / "bundle.json").read_text())
    meta["input_shape"] = [1_000_000, 1_000_000]
    (bundle / "bundle.json").write_text(json.dumps(meta))
    photo = corpus.write(tmp_path / "p.png", corpus.png_bomb(64, 64))
    assert "claims more than" in run_cli(capsys, "recognize", photo, "--model", bundle)
    meta["input_shape"] = [1e6, 1e6]
    (bundle / "bundle.json").write_text(json.dumps(meta))
    assert "positive integers" in run_cli(capsys, "recognize", photo, "--model", bundle)


def test_binary_vocabulary_and_other_faces(capsys, tmp_path, datasets):
    vocab = corpus.write(tmp_path / "mine.yaml", corpus.binary_junk())
    assert "not a YAML text file" in run_cli(capsys, "vocab", vocab)
    corpus.write(tmp_path / "list.yaml", "- a\n- b\n")
    assert "a vocabulary is a YAML mapping" in run_cli(capsys, "vocab", tmp_path / "list.yaml")
    a_file = corpus.write(tmp_path / "recordings", b"x")
    assert "1 to 65535" in run_cli(capsys, "serve", "--port", "99999")
    assert "1 to 65535" in run_cli(capsys, "serve", "--port", "0")
    assert "is a file, not a folder" in run_cli(capsys, "serve", "--data-dir", a_file)
    photo = sorted((datasets / PHOTO).glob("*.jpg"))[0]
    assert "needs a video" in run_cli(capsys, "recognize", photo, "--model", "bisindo-words")
    assert "between 0 and 1" in run_cli(capsys, "recognize", photo, "--threshold", "5")
    bomb = corpus.write(tmp_path / "bomb.png", corpus.png_bomb(8000, 8000))
    assert "megapixels" in run_cli(capsys, "recognize", bomb)
    playlist = corpus.write(tmp_path / "clip.mp4", corpus.hls_playlist(str(datasets / VIDEO)))
    assert "not an MP4, MOV, AVI or WebM video" in run_cli(capsys, "recognize", playlist)


# ==== training: no NaN weights ==================================================================

def test_a_nan_loss_stops_training_with_an_error():
    import torch
    from torch.utils.data import TensorDataset

    from isyarat.training.loop import fit
    from isyarat.training.recipe import TrainConfig

    x = torch.full((16, 4), float("inf"))  # what a table with one inf cell fed training before
    data = TensorDataset(x, torch.arange(16) % 2)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    with pytest.raises(IsyaratError, match="training diverged.*lower train.lr"):
        fit(model, data, None, TrainConfig(epochs=3, batch_size=8), progress=False)


@pytest.mark.parametrize("body", [
    '{"vocabulary": "v", "label": "A", "frames": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"vocabulary": "v", "label": "A", "frames": [[null, [[1e999, 0, 0]]]]}',
    '{"vocabulary": "\\ud800", "label": "A", "frames": [[null, null]]}',
    '{"vocabulary": "v", "label": "A", "frames": [[null, null]], "sample_id": "\\ud800abcdefgh"}',
    '{"vocabulary": "v", "label": "A", "frames": "lots"}',
    '[1, 2, 3]',
], ids=["nested", "inf", "surrogate-vocabulary", "surrogate-id", "frames-text", "list"])
def test_bad_recording_bodies_get_a_4xx(client, body):
    response = client.post("/api/recordings", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500 and response.json()["detail"], response.text


def test_output_piped_into_a_reader_that_stops_early_is_no_traceback():
    """`isyarat vocab | head -1` ended in a BrokenPipeError traceback."""
    import subprocess
    import sys

    run = subprocess.run(f"'{sys.executable}' -m isyarat.cli.main vocab bisindo | head -1", shell=True,
                         capture_output=True, text=True, timeout=120)
    assert run.stdout.startswith("bisindo:") and "Traceback" not in run.stderr
