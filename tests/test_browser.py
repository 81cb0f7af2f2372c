"""The live page in a real browser: Debian's Chromium, headless, with a fake camera that plays a
real SIBI photo from the shared data (a validation photo of the letter B, held). MediaPipe Hands
runs in the page (software WebGL: from about one processed frame a second on an idle machine to
one in ten seconds on a busy one, a slow device either way), only landmarks travel over the
WebSocket, the server's time-based decoder spells, and the page shows every state: tracking, the
letter and the spelled text, the server lost and back, no camera. It saves the screenshot the
README shows (docs/img/live-page.png).
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import uvicorn

from isyarat.landmarks.hands import assign_slots
from isyarat.runtime.recognizer import Recognizer
from isyarat.server.app import create_app, find_browser_hands, uvicorn_options
from isyarat.server.recorder import shown_root
from test_runtime import asl_files, asl_frames

CHROMIUM = Path("/usr/bin/chromium")
STATIC = Path(__file__).resolve().parents[1] / "src" / "isyarat" / "server" / "static"
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "live-page.png"
# Without the network flags Chromium stalls on this closed network (see shared/docs/PLATFORM.md).
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream"]
SIBI_B = "sibi-alphabet-ajustiago/images/B/IMG_20220221_171235.jpg"  # validation split, not trained on


def camera_frame(image: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """The photo scaled into a 640x480 camera frame, grey at the sides."""
    scale = min(width / image.shape[1], height / image.shape[0])
    small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
    frame = np.full((height, width, 3), 128, np.uint8)
    top, left = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    frame[top:top + small.shape[0], left:left + small.shape[1]] = small
    return frame


def write_y4m(frames: list[np.ndarray], out: Path, fps: int) -> Path:
    """Frames as raw YUV 4:2:0 in a .y4m file, the format Chromium's fake camera plays (looped)."""
    height, width = frames[0].shape[:2]
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The app in a thread on a fixed port, stopped and started again to test reconnection."""

    def __init__(self, models: dict, recordings: Path, **options) -> None:
        """`options`: uvicorn settings over serve's own (a short keepalive ping, say)."""
        self.models, self.recordings, self.port, self.options = models, recordings, free_port(), options
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "LiveServer":
        options = {**uvicorn_options("127.0.0.1", self.port), "log_level": "warning", **self.options}  # serve's stack
        config = uvicorn.Config(create_app(self.models, data_dir=self.recordings), **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.time() + 20
        while not self._server.started and time.time() < deadline:
            time.sleep(0.05)
        assert self._server.started, "the test server did not start"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture()
def server(tmp_path):
    models = {"sibi-letters": Recognizer.load("sibi-letters"), "bisindo-letters": Recognizer.load("bisindo-letters"),
              "bisindo-words": Recognizer.load("bisindo-words")}
    live = LiveServer(models, tmp_path / "recordings").start()
    yield live
    live.stop()


def state(page) -> dict:
    return page.evaluate("""() => ({
      status: document.querySelector("#status").dataset.state,
      statusText: document.querySelector("#status").textContent,
      label: document.querySelector("#label").textContent,
      hasHand: document.querySelector("#label").dataset.hasHand,
      bars: document.querySelectorAll("#bars .bar").length,
      text: document.querySelector("#text").dataset.text || "",
      fps: Number(document.querySelector("#stats").dataset.fps || 0),
      lang: document.documentElement.lang,
      pressed: [...document.querySelectorAll("#models button")].map((b) => [b.textContent, b.getAttribute("aria-pressed")]),
      error: document.querySelector("#error").hidden ? null : document.querySelector("#error-text").textContent,
    })""")


def wait_for(page, condition: str, timeout_s: float) -> None:
    page.wait_for_function(condition, timeout=timeout_s * 1000, polling=200)


@pytest.mark.slow
def test_live_page_spells_and_shows_every_state(server, datasets, tmp_path):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs it (apt-get install -y chromium)")
    if find_browser_hands() is None:
        pytest.fail("@mediapipe/hands is not installed: `make test` installs it (npm install in the project root)")
    from playwright.sync_api import sync_playwright

    clip = write_y4m([camera_frame(cv2.imread(str(datasets / SIBI_B)))] * 5, tmp_path / "camera.y4m", fps=5)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            *FLAGS, "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1020})
            sent: list[str] = []
            page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
            page.goto(server.url)
            wait_for(page, "document.querySelectorAll('#models button').length === 2", 60)
            first = state(page)
            assert first["lang"] == "id" and first["pressed"] == [["SIBI · huruf", "true"], ["BISINDO · huruf", "false"]]
            assert "SIBI (Sistem Isyarat Bahasa Indonesia)" in page.text_content("#model-about")
            # B held: the label shows B and, held for half a second, the server's decoder writes it.
            wait_for(page, "document.querySelector('#text').dataset.text === 'B'", 240)
            shown = state(page)
            assert shown["label"] == "B" and shown["bars"] == 5 and shown["error"] is None
            assert shown["status"] == "tracking" and shown["statusText"] == "Melacak tangan"
            assert 0 < shown["fps"] < 60
            assert page.text_content("#announce") == "B ditulis"           # the polite live region
            # Paused video, paused tracking: the busy page is free to draw the screenshot.
            page.evaluate("document.querySelector('#video').pause()")
            page.screenshot(path=str(tmp_path / "live-page.png"), timeout=120_000)
            page.evaluate("document.querySelector('#video').play()")

            # The server stops: the page says so, clears the prediction, and reconnects by itself.
            server.stop()
            wait_for(page, "document.querySelector('#status').dataset.state === 'server_lost'", 60)
            lost = state(page)
            assert lost["label"] == "–" and lost["hasHand"] == "false" and lost["bars"] == 0
            assert lost["status"] in ("server_lost", "reconnecting") and "server" in lost["statusText"], lost
            server.start()
            wait_for(page, "document.querySelector('#status').dataset.state === 'tracking'", 120)
            assert state(page)["text"].startswith("B")                    # the text survives the restart

            page.evaluate("document.querySelector('#video').pause()")   # a busy page is slow to click
            page.click("button[data-lang=en]", timeout=120_000)
            english = state(page)
            assert english["lang"] == "en" and english["statusText"] == "Tracking hands"
            assert english["pressed"][0] == ["SIBI · letters", "true"]
            # The word mode toggle beside the letter models: BISINDO words, on its own WebSocket.
            page.click("button[data-mode=words]", timeout=120_000)
            wait_for(page, "document.querySelector('button[data-mode=words]').getAttribute('aria-pressed') === 'true'", 60)
            assert state(page)["pressed"] == [["BISINDO · words", "true"]]
            wait_for(page, "document.querySelector('#status').dataset.state === 'tracking'", 120)
            assert "Word mode" in page.text_content("#guide")
            page.click("button[data-mode=letters]", timeout=120_000)
            assert state(page)["pressed"] == [["SIBI · letters", "false"], ["BISINDO · letters", "true"]]
            page.close()

            recorder = browser.new_page()                                 # a new context: ?lang=en
            recorder.goto(f"{server.url}/recorder?lang=en")
            wait_for(recorder, "document.querySelector('#data-dir').textContent !== ''", 30)
            shown = shown_root(server.recordings)  # never an absolute path outside home or the working folder
            assert recorder.text_content("#data-dir") == f"Data folder: {shown}"
            assert recorder.evaluate("document.documentElement.lang") == "en"
            recorder.close()
            # The Kata Kolok list reads the body: the recorder tracks with Holistic, not Hands.
            kolok = browser.new_page()
            kolok.goto(f"{server.url}/recorder?vocabulary=kolok")
            wait_for(kolok, "typeof Holistic !== 'undefined'", 120)
            assert kolok.evaluate("document.querySelector('#pose').checked")
            assert kolok.evaluate("typeof Hands") == "undefined"
            kolok.close()

            no_camera = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
            try:
                bare = no_camera.new_page()
                bare.goto(server.url)
                wait_for(bare, "!document.querySelector('#error').hidden", 60)
                missing = state(bare)
                assert missing["status"] == "error" and "kamera" in missing["error"].lower(), missing
            finally:
                no_camera.close()
        finally:
            browser.close()
    frames = [json.loads(s) for s in sent if s.startswith('{"left":')]       # the compact message
    assert frames and all(set(f) == {"left", "right", "t", "id"} for f in frames)  # landmarks only, never video
    assert any(len(f["left"] or f["right"] or []) == 63 for f in frames)
    assert max(len(s) for s in sent) < 4_000
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / "live-page.png", SCREENSHOT)


# ---- the hand-slot rule: the page's camera.js and Python's assign_slots agree -------------------

def slot_cases(datasets: Path) -> list[tuple[list[np.ndarray], list[str]]]:
    """Real hands (ASL landmark frames) placed as two hands: labels the same, different, one hand,
    and crossed fingers, where the wrists and the mean x disagree about which hand is further left."""
    b = np.load(asl_files(datasets, "B")[0]).reshape(21, 3)
    v = np.load(asl_files(datasets, "V")[0]).reshape(21, 3)

    def at(hand: np.ndarray, wrist_x: float, flip: bool = False) -> np.ndarray:
        moved = hand.copy()
        if flip:
            moved[:, 0] = 2 * moved[0, 0] - moved[:, 0]
        moved[:, 0] += wrist_x - moved[0, 0]
        return moved

    def reaching(hand: np.ndarray, wrist_x: float, direction: int) -> np.ndarray:
        moved = hand.copy()                       # the fingers reach sideways, past the other wrist
        moved[:, 0] = wrist_x + direction * 3 * np.abs(hand[:, 0] - hand[0, 0])
        return moved

    crossed = [reaching(b, 0.45, +1), reaching(v, 0.50, -1)]
    return [([at(b, 0.3), at(v, 0.7)], ["Left", "Left"]), ([at(b, 0.7), at(v, 0.3)], ["Right", "Right"]),
            ([at(b, 0.3), at(v, 0.7)], ["Left", "Right"]), ([at(b, 0.3), at(v, 0.7)], ["Right", "Left"]),
            ([at(b, 0.5)], ["Left"]), ([at(v, 0.5)], ["Right"]), (crossed, ["Left", "Left"]),
            (crossed, ["Right", "Right"])]


def test_page_and_python_put_hands_in_the_same_slots(datasets, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: install Node.js (it also installs the page's npm packages)")
    cases = slot_cases(datasets)
    module = tmp_path / "camera.mjs"
    shutil.copyfile(STATIC / "camera.js", module)
    script = ("import { assignSlots } from './camera.mjs';\n"
              "const cases = JSON.parse(process.argv[2]);\n"
              "console.log(JSON.stringify(cases.map(([hands, labels]) => assignSlots("
              "hands.map((h) => h.map(([x, y, z]) => ({ x, y, z }))), labels))));\n")
    (tmp_path / "run.mjs").write_text(script)
    payload = json.dumps([[[h.tolist() for h in hands], labels] for hands, labels in cases])
    out = subprocess.run([node, "run.mjs", payload], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    in_page = json.loads(out.stdout)
    in_python = [assign_slots(hands, labels) for hands, labels in cases]
    assert in_page == in_python
    crossed = cases[-2][0]
    assert (crossed[0][0, 0] < crossed[1][0, 0]) != (crossed[0][:, 0].mean() < crossed[1][:, 0].mean()), \
        "the crossed case must tell the wrist rule from the mean-x rule"


# ---- the recorder page's buttons, clicked: record a take, train, calibrate ------------------------

def post_json(url: str, body: dict) -> dict:
    import urllib.request

    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def still_take(frames: np.ndarray) -> list:
    """ASL landmark frames (T, 2, 21, 3) as the page sends a take: per frame, each hand slot or null."""
    return [[None if np.isnan(h).any() else h.tolist() for h in hands] for hands in frames]


TRAINING_TEXTS = """() => {
  window.trainTexts = [];
  new MutationObserver(() => window.trainTexts.push(document.querySelector('#train-status').textContent))
    .observe(document.querySelector('#train-status'), { childList: true, characterData: true, subtree: true });
}"""


@pytest.mark.slow
def test_recorder_buttons_record_train_and_calibrate(datasets, tmp_path):
    """The recorder page clicked as a person would: a take of the fake camera's real B photo
    recorded with the record button (MediaPipe Hands in the page), the train button (its request
    given 3 epochs: a tiny training) training, exporting and serving `recorded-tangan`, and the
    calibrate button adapting sibi-letters to the same recordings; the page's messages in Bahasa
    Indonesia, then in English."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs it (apt-get install -y chromium)")
    if find_browser_hands() is None:
        pytest.fail("@mediapipe/hands is not installed: `make test` installs it (npm install in the project root)")
    from playwright.sync_api import sync_playwright

    server = LiveServer({"sibi-letters": Recognizer.load("sibi-letters")}, tmp_path / "recordings").start()
    try:
        for letter in ("B", "V"):  # recorded earlier: real ASL hands, 5 takes of 8 frames per sign
            for take in range(5):
                post_json(f"{server.url}/api/recordings", {"vocabulary": "tangan", "label": letter,
                                                           "frames": still_take(asl_frames(datasets, letter, 10 * take, 8))})
        clip = write_y4m([camera_frame(cv2.imread(str(datasets / SIBI_B)))] * 5, tmp_path / "camera.y4m", fps=5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
                *FLAGS, "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"])
            try:
                page = browser.new_page()
                page.route("**/api/train", lambda route: route.continue_(
                    post_data=json.dumps({**json.loads(route.request.post_data), "epochs": 3})))
                page.goto(f"{server.url}/recorder?vocabulary=tangan")
                wait_for(page, "document.querySelectorAll('#counts tbody tr').length === 2", 60)
                assert page.evaluate("document.documentElement.lang") == "id"
                assert page.text_content("#command").startswith("isyarat train quick-words --data ")

                page.fill("#sign", "B")
                page.fill("#seconds", "0.5")
                page.click("#record")
                wait_for(page, "document.querySelector('#progress').textContent.startsWith('Tersimpan: ')", 240)
                assert page.text_content("#progress").endswith(" frame)")
                assert page.evaluate("[...document.querySelectorAll('#counts tbody tr')].map((r) => r.textContent)") \
                    == ["B6", "V5"]
                assert page.evaluate("document.querySelector('#error').hidden")

                page.evaluate("document.querySelector('#video').pause()")  # the take is saved: free the busy page
                page.evaluate(TRAINING_TEXTS)
                page.click("#train", timeout=120_000)
                wait_for(page, "document.querySelector('#train-status').textContent.includes('siap')", 300)
                done = page.text_content("#train-status")
                assert done.startswith('Model "recorded-tangan" siap dalam ') and " akurasi " in done, done
                assert not page.evaluate("document.querySelector('#train').disabled")
                assert page.evaluate("localStorage.getItem('isyarat.model')") == "recorded-tangan"
                seen = page.evaluate("window.trainTexts")
                assert any(t.startswith(("Menyiapkan pelatihan", "Melatih: epoch", "Mengekspor", "Memuat")) for t in seen), seen
                models = json.loads(page.evaluate("fetch('/api/models').then((r) => r.text())"))
                assert "recorded-tangan" in [m["name"] for m in models]

                page.select_option("#adapt-model", "sibi-letters", timeout=120_000)
                page.click("#adapt", timeout=120_000)
                wait_for(page, "document.querySelector('#adapt-status').textContent.includes('siap')", 300)
                adapted = page.text_content("#adapt-status")
                assert adapted.startswith('Model "sibi-letters-tangan" siap (') and "isyarat baru: –" in adapted, adapted
                assert page.evaluate("localStorage.getItem('isyarat.model')") == "sibi-letters-tangan"

                page.click("button[data-lang=en]", timeout=120_000)
                assert page.text_content("#train-status").startswith('Model "recorded-tangan" ready in ')
                assert page.text_content("#adapt-status").startswith('Model "sibi-letters-tangan" ready (')
                assert page.text_content("#progress").startswith("Saved ")
            finally:
                browser.close()
    finally:
        server.stop()
    saved = sorted((tmp_path / "recordings" / "tangan" / "B").glob("*.npy"))
    assert len(saved) == 6 and all(np.load(f).shape[1] == 126 for f in saved)
