"""The live page in a real browser: Debian's Chromium, headless, with a fake camera that plays a
real WL-BISINDO video. MediaPipe Hands runs in the page (software WebGL: ~1.3 s per frame), only
landmarks travel over the WebSocket, and a prediction must come back and show on the page."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import cv2
import pytest
import uvicorn

from isyarat.landmarks.media import iter_video_frames
from isyarat.runtime.recognizer import Recognizer
from isyarat.server.app import create_app, find_browser_hands
from test_runtime import WORD_VIDEO, build_letter_bundle

CHROMIUM = Path("/usr/bin/chromium")
# Without the network flags Chromium stalls on this closed network (see shared/docs/PLATFORM.md).
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
         "--use-fake-ui-for-media-stream"]


def write_y4m(video: Path, out: Path, max_frames: int = 90) -> Path:
    """The video as raw YUV 4:2:0 frames in a .y4m file, the format Chromium's fake camera plays."""
    frames = list(iter_video_frames(video, max_frames=max_frames))
    height, width = frames[0].shape[:2]
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def recordings(tmp_path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture()
def server(datasets, tmp_path_factory, recordings):
    letters = Recognizer.load(build_letter_bundle(datasets, tmp_path_factory.getbasetemp()))
    port = free_port()
    config = uvicorn.Config(create_app({"letters": letters}, data_dir=recordings),
                            host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.slow
def test_live_page_recognizes_a_fake_camera(server, recordings, datasets, tmp_path):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs it (apt-get install -y chromium)")
    if find_browser_hands() is None:
        pytest.fail("@mediapipe/hands is not installed: `make test` installs it (npm ci in the project root)")
    from playwright.sync_api import sync_playwright

    camera = write_y4m(datasets / WORD_VIDEO, tmp_path / "camera.y4m")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=[*FLAGS, f"--use-file-for-fake-video-capture={camera}"])
        try:
            page = browser.new_page()
            sent: list[str] = []
            page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
            page.goto(server)
            shown = page.wait_for_function(SHOWN_PREDICTION, timeout=120_000).json_value()
            error = page.locator("#error")
            assert error.is_hidden(), error.text_content()
            page.close()
            saved = record_a_sample(browser.new_page(), server)
        finally:
            browser.close()
    assert shown["label"] and shown["bars"] == 5 and shown["text"] is not None
    assert sent and all(s.startswith('{"hands":[') for s in sent)       # landmarks only, never video
    assert max(len(s) for s in sent) < 4_000
    assert saved["counts"] == {"Belajar": 1} and "isyarat train" in saved["command"]
    assert (recordings / "kata" / "Belajar" / "0.npy").is_file()


def record_a_sample(page, server: str) -> dict:
    """The recorder page: record 5 frames (the form's minimum) of the fake camera as 'Belajar'."""
    page.set_default_timeout(120_000)  # the page is busy while MediaPipe starts
    page.goto(f"{server}/recorder")
    page.fill("#vocabulary", "kata")
    page.fill("#sign", "Belajar")
    page.fill("#frames", "5")
    page.wait_for_selector("#status:text('tracking')")
    page.click("#record")
    page.wait_for_selector("#progress:text('saved')")
    return page.evaluate("""() => ({
      counts: Object.fromEntries([...document.querySelectorAll("#counts tbody tr")].map(
        (row) => [row.cells[0].textContent, Number(row.cells[1].textContent)])),
      command: document.querySelector("#command").textContent,
    })""")


# The page state at the moment it shows a prediction for a frame with a hand.
SHOWN_PREDICTION = """() => {
  const label = document.querySelector("#label");
  const bars = document.querySelectorAll("#bars .bar").length;
  if (label.dataset.hasHand !== "true" || bars === 0) return null;
  return {label: label.textContent, bars, text: document.querySelector("#text").textContent};
}"""
