"""Real-time speed: (a) model latency, ONNX Runtime vs PyTorch; (b) photo -> prediction, MediaPipe
vs the rest of the pipeline; (c) the server's CPU time per live frame, step by step; (d) the live
WebSocket under N concurrent 30 fps streams, and the floor of its stack.

(a) and (b) use untrained models built from the recipes (weights do not change the speed) unless
--bundle gives a trained letter bundle. (c) runs the server's per-frame code (message -> features
-> model -> reply) without the network, in this process, for the --message form, for 1 viewer and
for N viewers whose frames come together (--viewers; the server reads them as one batch); with
--before SRC also with another checkout's code, alternated in one run. (d) starts the real app
(`isyarat serve`'s code) with uvicorn in its own process on 127.0.0.1 (1 and 2 worker processes:
`isyarat serve --processes N`) and streams real ASL landmark frames to it from this one, as the
page sends them, with the least costly client (RawClient, on uvloop; --client websockets for the
websockets library's), with --before SRC first with that checkout's server; then the floor: the
same stack answering a fixed reply of the same size.
Every row prints the load average and the steal (the share of CPU time the hypervisor gave to other
machines): rerun when either is high.
Targets on 2 cores: 200 streams at 30 fps, every frame answered, p99 under 20 ms; project overhead
under 10% of MediaPipe's time.

    python bench/realtime.py --bundle src/isyarat/shipped/sibi-letters   # everything -> bench/results/realtime.txt
    python bench/realtime.py --quick                  # shorter runs
    python bench/realtime.py --only websocket --bundle src/isyarat/shipped/sibi-letters   # -> realtime-websocket.txt
    python bench/realtime.py --only frame --bundle src/isyarat/shipped/sibi-letters --before ../main/src
    python bench/realtime.py --only websocket --workers --clients 200 --floor-ws websockets --out bench/results/realtime-floor-ws.json
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections import deque
from pathlib import Path

import numpy as np
import orjson
import uvloop

os.environ.setdefault("GLOG_minloglevel", "2")
warnings.filterwarnings("ignore")

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
RESULTS = Path(__file__).resolve().parent / "results" / "realtime.json"
ASL = "asl-alphabet-landmarks-graudt/raw_gestures"
PHOTOS = "bisindo-alphabet-binus/images"
MODELS = [("isyarat-letters", "resmlp, 1 frame"), ("isyarat-words", "transformer, 30 frames"),
          ("sibi-lstm", "sibi_lstm, 50 frames")]
LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
FPS = 30


def percentiles(values_s: list[float]) -> dict:
    """p50 / p99 / mean in milliseconds."""
    ms = np.asarray(values_s) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()),
            "n": len(ms)}


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells[1:]]
    return "\n".join(lines)


def asl_landmarks(letters: list[str], per_letter: int):
    """The first `per_letter` consecutive webcam frames of each letter: hands (N, 2, 21, 3)."""
    from isyarat.landmarks.arrays import from_flat

    frames = []
    for letter in letters:
        files = sorted((DATA / ASL / letter).glob("*.npy"), key=lambda p: int(p.stem.split("_")[1]))
        frames += [from_flat(np.load(f)).hands[0] for f in files[:per_letter]]
    return np.stack(frames)


def signing_landmarks(seed: int = 0) -> np.ndarray:
    """The 26 SIBI letters fingerspelled one after another, as a camera sees a signer: each still
    letter a real ASL hand held with drift and tremor (sometimes entering or leaving the view, or
    shaking), J and Z their start handshape drawing the letter's path (isyarat.synth, the moving
    letters' generator): hands (N, 2, 21, 3). In the webcam frames the hand mostly rests; here it
    moves into and out of each letter, as a signer's does, and the motion gate opens far more often."""
    from isyarat.synth import SynthSettings, held_sequence, moving_sequence
    from isyarat.vocab import load_vocabulary

    vocab, rng, settings = load_vocabulary("sibi"), np.random.default_rng(seed), SynthSettings(left_handed=0.0)
    clips = []
    for letter in LETTERS:
        moving = vocab.moving.get(letter)
        hand = asl_landmarks([moving.start if moving else letter], 1)[0].copy()
        hand[..., 0] = 1.0 - hand[..., 0]  # the ASL set is mirrored (data/sources.yaml)
        clip = moving_sequence(hand, moving, rng, settings) if moving else held_sequence(hand, rng, settings)
        clips.append(clip.hands)
    return np.concatenate(clips).astype(np.float32)


# ---- (a) model latency -----------------------------------------------------------------------

def build_untrained(recipe_name: str, n_classes: int = 26):
    """The recipe's model as a run rebuilds it (`build_model_for`: with its z-score layer, timed
    as it runs inside the exported model)."""
    from isyarat.models.spec import build_model_for
    from isyarat.training.recipe import load_recipe
    from isyarat.training.run_info import planned_run

    recipe = load_recipe(recipe_name)
    return recipe, build_model_for(planned_run(recipe, LETTERS[:n_classes])).eval()


def time_calls(fn, x, repeats: int) -> list[float]:
    for _ in range(min(20, repeats)):
        fn(x)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - start)
    return out


def model_latency(repeats: int, tmp: Path) -> list[dict]:
    """Batch-1 latency of each model on real ASL landmark features, one thread each."""
    import torch

    from isyarat.export.bundle import OnnxModel
    from isyarat.export.onnx_export import export_onnx
    from isyarat.features import make_features
    from isyarat.landmarks.arrays import Landmarks

    torch.set_num_threads(1)
    hands = asl_landmarks(["A"], 50)
    rows = []
    for name, what in MODELS:
        torch.manual_seed(0)
        recipe, model = build_untrained(name)
        x = make_features(Landmarks(hands[: recipe.features.frames]), recipe.features)[None]
        export_onnx(model, recipe.features.output_shape, tmp / f"{name}.onnx")
        onnx = OnnxModel(tmp / f"{name}.onnx")

        def run_torch(batch):
            with torch.inference_mode():
                return model(torch.from_numpy(batch)).numpy()

        diff = float(np.abs(onnx.logits(x) - run_torch(x)).max())
        n = repeats if recipe.features.shape == "frame" else max(50, repeats // 3)
        rows.append({"model": name, "what": what, "input": list(x.shape), "max_abs_diff": diff,
                     "onnxruntime_ms": percentiles(time_calls(onnx.logits, x, n)),
                     "torch_ms": percentiles(time_calls(run_torch, x, n))})
    return rows


def print_models(rows: list[dict]) -> None:
    print(table("(a) model latency, batch 1, one thread each (ms; untrained weights, real ASL landmark input)",
                ["model", "architecture", "input", "ORT p50", "ORT p99", "torch p50", "torch p99", "speed-up", "max |diff|"],
                [[r["model"], r["what"], "x".join(map(str, r["input"][1:])), r["onnxruntime_ms"]["p50"],
                  r["onnxruntime_ms"]["p99"], r["torch_ms"]["p50"], r["torch_ms"]["p99"],
                  f"{r['torch_ms']['p50'] / r['onnxruntime_ms']['p50']:.1f}x", f"{r['max_abs_diff']:.1e}"]
                 for r in rows]))


# ---- (b) photo -> prediction -----------------------------------------------------------------

class TimedHands:
    """Wraps MediaPipe's Hands object to time its `process` call (the time inside MediaPipe)."""

    def __init__(self, hands) -> None:
        self.hands = hands
        self.last = 0.0

    def process(self, rgb):
        start = time.perf_counter()
        result = self.hands.process(rgb)
        self.last = time.perf_counter() - start
        return result

    def __getattr__(self, name):
        return getattr(self.hands, name)


def letter_bundle(tmp: Path) -> Path:
    """An untrained isyarat-letters bundle with the recipe's features and extraction settings."""
    from isyarat.export.bundle import write_bundle

    recipe, model = build_untrained("isyarat-letters")
    return write_bundle(model, recipe.features.output_shape, LETTERS, recipe.features.to_dict(), "BISINDO",
                        tmp / "letters", "isyarat-letters", {"name": recipe.model, "params": recipe.model_params},
                        {}, "# untrained, for timing only", extract=recipe.extract)


def photos(n: int) -> list[Path]:
    files = sorted((DATA / PHOTOS).glob("*/*.jpg"))
    return files[:: max(1, len(files) // n)][:n]


def image_latency(bundle: Path, n_images: int) -> dict:
    """Per photo: time inside MediaPipe, and everything else from the decoded image to the
    prediction (border + colour conversion, landmark slots, features, model, smoothing, spelling)."""
    from isyarat.landmarks.media import read_image
    from isyarat.runtime.recognizer import Recognizer

    recognizer = Recognizer.load(bundle)
    images = [read_image(p) for p in photos(n_images)]
    out = {"bundle": str(bundle), "n_images": len(images), "image_size": list(images[0].shape[:2]),
           "extract": recognizer.extract_settings.to_dict()}
    with recognizer.stream() as stream:
        recognizer.predict_image(images[0])
        stream.push_frame(images[0])
        modes = {"photo (predict_image, static mode)": (recognizer._image_extractor, recognizer.predict_image),
                 "stream (push_frame, video mode)": (stream._extractor, stream.push_frame)}
        for mode, (extractor, predict) in modes.items():
            out[mode] = split_times(extractor, predict, images)
    out["parts_us"] = project_parts(recognizer, images)
    recognizer.close()
    return out


def split_times(extractor, predict, images: list[np.ndarray]) -> dict:
    timed = extractor._hands = TimedHands(extractor._hands)
    total, inside, hands = [], [], 0
    for image in images:
        start = time.perf_counter()
        answer = predict(image)
        total.append(time.perf_counter() - start)
        inside.append(timed.last)
        hands += getattr(answer, "prediction", answer).has_hand  # a Prediction or a StreamUpdate
    extractor._hands = timed.hands
    rest = [t - m for t, m in zip(total, inside)]
    return {"mediapipe_ms": percentiles(inside), "project_ms": percentiles(rest), "total_ms": percentiles(total),
            "overhead_pct": 100 * sum(rest) / sum(inside), "hand_found": hands / len(images)}


def project_parts(recognizer, images: list[np.ndarray]) -> dict:
    """Median microseconds of each step of the project's share, on the photos' landmarks."""
    from isyarat.features import make_features
    from isyarat.landmarks.arrays import Landmarks
    from isyarat.landmarks.hands import prepare_frame

    with recognizer.new_extractor(static=True) as extractor:
        hands = [extractor.frame(image)[0] for image in images]
    samples = [Landmarks(h[None]) for h in hands if not np.isnan(h).all()]
    features = [make_features(s, recognizer.config) for s in samples]

    def median_us(fn, items) -> float:
        times = []
        for item in items:
            start = time.perf_counter()
            fn(item)
            times.append(time.perf_counter() - start)
        return float(np.median(times)) * 1e6

    with recognizer.stream() as stream:
        push = median_us(lambda h: stream.push_landmarks(h), [s.hands[0] for s in samples])
    return {"prepare_frame (border + RGB)": median_us(lambda im: prepare_frame(im, recognizer.extract_settings), images),
            "features": median_us(lambda s: make_features(s, recognizer.config), samples),
            "model (onnxruntime)": median_us(lambda x: recognizer.bundle.model.predict(x[None]), features),
            "push_landmarks (features + model + smoothing + spelling)": push}


def print_images(result: dict) -> None:
    modes = [k for k in result if "mode" in k]
    rows = [[m, f"{result[m]['hand_found']:.0%}", result[m]["mediapipe_ms"]["p50"], result[m]["project_ms"]["p50"],
             result[m]["project_ms"]["p99"], result[m]["total_ms"]["p50"], f"{result[m]['overhead_pct']:.1f}%"]
            for m in modes]
    h, w = result["image_size"]
    print(table(f"(b) photo -> prediction, {result['n_images']} bisindo-alphabet-binus photos {w}x{h}, "
                f"border {result['extract']['border']} (ms)",
                ["path", "hand found", "MediaPipe p50", "rest p50", "rest p99", "total p50",
                 "project overhead (% of MediaPipe)"], rows))
    print(table("    the project's share, step by step (median, microseconds)", ["step", "us"],
                [[k, f"{v:.0f}"] for k, v in result["parts_us"].items()]))


# ---- (c) the server's cost per live frame, without the network ---------------------------------

def live_frames(source: str = "webcam") -> np.ndarray:
    """The frames (N, 2, 21, 3) that (c) and (d) send: "webcam", the ASL set's first 12 webcam frames of
    each letter, one letter after another (the hand mostly still: the motion gate opens where the next
    letter's hand appears); or "signing", the 26 letters fingerspelled with synthetic holds and paths
    (signing_landmarks: the hand moves into and out of letters and draws J and Z, so the gate opens
    far more often). (c) prints how often the motion model reads a window for each."""
    return asl_landmarks(LETTERS, 12) if source == "webcam" else signing_landmarks()


def page_messages(rounds: int, source: str = "webcam") -> dict[str, list[str]]:
    """The frames of live_frames(source) `rounds` times over, 30 a second, in each message format the
    server reads: "nested" (the page's message before: 21 [x, y, z] lists per hand, numbers at full
    precision) and, where the server has it, "compact" (live.compact_message, what the page sends)."""
    from isyarat.server import live

    frames = list(live_frames(source)) * rounds
    times = [1000.0 + 1000 * k / FPS for k in range(len(frames))]
    out = {"nested": [json.dumps({"hands": [None if np.isnan(h).any() else h.tolist() for h in frame], "t": t, "id": k})
                      for k, (frame, t) in enumerate(zip(frames, times))]}
    if hasattr(live, "compact_message"):
        out["compact"] = [json.dumps(live.compact_message(frame, t=t, id=k), separators=(",", ":"))
                          for k, (frame, t) in enumerate(zip(frames, times))]
    return out


class CpuTimer:
    """Wraps a function to add up the CPU time (this thread's) spent inside it."""

    def __init__(self, owner, name: str) -> None:
        self.owner, self.name, self.fn, self.ns, self.calls = owner, name, getattr(owner, name), 0, 0
        setattr(owner, name, self)

    def __call__(self, *args, **kwargs):
        start = time.thread_time_ns()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.ns += time.thread_time_ns() - start
            self.calls += 1

    def restore(self) -> None:
        setattr(self.owner, self.name, self.fn)


class CollectorTimer:
    """`with CollectorTimer() as c:` adds up the CPU time of the garbage collector's passes inside
    (c.ns): the passes run inside whichever step allocates when one is due, so the steps' rows hold
    them; this row says how much of the total they are."""

    def __init__(self) -> None:
        self.ns, self._start = 0, 0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.thread_time_ns()
        else:
            self.ns += time.thread_time_ns() - self._start

    def __enter__(self) -> "CollectorTimer":
        import gc

        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc) -> None:
        import gc

        gc.callbacks.remove(self._callback)


def frame_cost(bundle: Path, rounds: int, viewers: list[int], message: str = "compact",
               source: str = "webcam") -> dict:
    """CPU microseconds per frame of `live.reply` (message text in, reply dict out) + `to_json`, the
    server's whole share of a live frame except the WebSocket and ASGI stack, split by step, with
    `viewers` viewers whose frames come together (one batch per frame time, as the server reads
    the frames that arrive in one event-loop turn). Real ASL frames one letter after another, so the
    motion gate opens where the hand moves to the next letter, as it does live; each viewer starts
    at another frame. Runs with older checkouts too (--before): their steps where they exist."""
    from isyarat.runtime import stream as stream_module
    from isyarat.runtime.recognizer import Recognizer
    from isyarat.server import batching, live

    from isyarat.server import app as app_module

    recognizer = Recognizer.load(bundle)
    if hasattr(app_module, "steady_collector"):  # what the server process does once its models are loaded
        app_module.steady_collector()
    if hasattr(batching, "LiveBatcher"):
        batcher = batching.LiveBatcher(recognizer)
    else:  # before the batched path: one model call for the frames of one turn
        batcher = batching.BatchedModel(recognizer.bundle.model)
    out = {}
    for fmt, messages in [(message, page_messages(rounds + 1, source)[message])]:
        for n in viewers:
            warm_up, timed = messages[:len(messages) // (rounds + 1)], messages[len(messages) // (rounds + 1):]
            ticks = len(timed) if n == 1 else len(timed) // rounds  # every viewer signs all 26 letters
            shifted = [timed[(31 * v) % len(timed):] + timed for v in range(n)]

            async def run(streams, texts: list[list[str]], k_range) -> None:
                for k in k_range:
                    for reply in await asyncio.gather(*(live.reply(s, t[k], batcher) for s, t in zip(streams, texts))):
                        live.to_json(reply)

            uvloop.run(run([recognizer.stream()], [warm_up], range(len(warm_up))))  # the server's event loop
            streams = [recognizer.stream() for _ in range(n)]
            places = {"parse message": [(live, name) for name in ("decode", "parse_frame")  # older: parse_frame in reply
                                        if hasattr(live, name)]
                      + [(batching, "read_frames")] * hasattr(batching, "read_frames"),  # the batch's messages at once
                      "motion gate": [(stream_module, "wrist_points")] * hasattr(stream_module, "wrist_points")
                      + ([(stream_module, "push_wrists")] if hasattr(stream_module, "push_wrists") else
                         [(s.gate, name) for s in streams if s.gate is not None for name in ("push", "push_wrist")
                          if name in vars(type(s.gate))]),
                      "motion model (moving frames)": [(recognizer, name) for name in
                                                       ("motion_probabilities", "motion_probabilities_many")
                                                       if hasattr(recognizer, name)],
                      "features": [(recognizer, name) for name in ("features", "frame_inputs") if hasattr(recognizer, name)]
                      + [(stream_module, "_hand_shapes")] * hasattr(stream_module, "_hand_shapes"),
                      "model": [(recognizer.bundle.model, "predict")],
                      "smoothing, decoder (end_frame)": end_frame_steps(stream_module, streams)}
            timers = {step: [CpuTimer(o, name) for o, name in where] for step, where in places.items()}
            collector = CollectorTimer()
            start = time.thread_time_ns()
            with collector:
                uvloop.run(run(streams, shifted, range(ticks)))
            total_ns = time.thread_time_ns() - start
            for step_timers in timers.values():
                for timer in step_timers:
                    timer.restore()
            frames = ticks * n
            us = {step: sum(t.ns for t in step_timers) / frames / 1000 for step, step_timers in timers.items()}
            us["reply, event loop (the rest)"] = total_ns / frames / 1000 - sum(us.values())
            moving = sum(t.calls for t in timers["motion model (moving frames)"])
            out[f"{fmt}, {n} viewer{'s' * (n > 1)}"] = {
                "frames": frames, "viewers": n, "message_bytes": int(np.mean([len(m) for m in timed])),
                "moving_calls_per_frame": moving / frames, "us_per_frame": total_ns / frames / 1000, "steps_us": us,
                "gc_us_per_frame": collector.ns / frames / 1000}
    return out


def end_frame_steps(stream_module, streams) -> list[tuple]:
    """Where a letter frame's smoothing, decision and decoder run: every stream's at once
    (_letter_predictions) then each stream's own (_end_letter_frame); before that, end_frame."""
    if hasattr(stream_module, "_letter_predictions"):
        return [(stream_module, "_letter_predictions")] + [(s, "_end_letter_frame") for s in streams]
    return [(s, "end_frame") for s in streams]


def frame_cost_of(src: Path, bundle: Path, rounds: int, viewers: list[int], message: str, tmp: Path,
                  source: str = "webcam") -> dict:
    """frame_cost with the isyarat package of another checkout (`src`), in a process of its own."""
    out = tmp / "before.json"
    env = {**os.environ, "PYTHONPATH": str(src.resolve())}
    subprocess.run([sys.executable, __file__, "--only", "frame", "--bundle", str(bundle), "--rounds", str(rounds),
                    "--passes", "1", "--viewers", *map(str, viewers), "--message", message, "--frames", source,
                    "--out", str(out)],
                   env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["frame"]["this checkout"]


def best_pass(passes: list[dict]) -> dict:
    """Per message form, the pass with the least CPU time per frame (the one least disturbed)."""
    return {fmt: min((p[fmt] for p in passes), key=lambda r: r["us_per_frame"]) for fmt in passes[0]}


FRAMES_TEXT = {"webcam": "the ASL set's webcam frames one letter after another",
               "signing": "the 26 letters fingerspelled (synthetic holds and paths from real hands)"}


def print_frame_cost(result: dict, bundle: Path, frames: str = "webcam") -> None:
    columns = [(source, fmt, r) for source, by_format in result.items() for fmt, r in by_format.items()]
    steps = list(columns[-1][2]["steps_us"])
    rows = [[step] + [f"{r['steps_us'].get(step, 0.0):.0f}" for _, _, r in columns] for step in steps]
    rows.append(["total per frame"] + [f"{r['us_per_frame']:.0f}" for _, _, r in columns])
    rows.append(["message bytes"] + [str(r["message_bytes"]) for _, _, r in columns])
    rows.append(["motion model calls per frame"] + [f"{r['moving_calls_per_frame']:.3f}" for _, _, r in columns])
    rows.append(["garbage collector (in the rows above)"] + [f"{r.get('gc_us_per_frame', 0.0):.0f}" for _, _, r in columns])
    print(table(f"(c) the server's CPU time per live frame without the network (microseconds; live.reply + to_json, "
                f"{Path(bundle).name}, {FRAMES_TEXT[frames]}; N viewers: their frames read "
                "together, one batch per frame time)", ["step"] + [f"{source}: {fmt}" for source, fmt, _ in columns], rows))


# ---- (d) the live WebSocket under load ---------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(code: str, port: int, log: Path, *args: str, src: Path | None = None) -> subprocess.Popen:
    """Run `code` (which serves on `port`) in its own Python process, with the isyarat package under
    `src` when given (another checkout's); return once it answers."""
    env = {**os.environ, "GLOG_minloglevel": "2", **({"PYTHONPATH": str(src.resolve())} if src else {})}
    server = subprocess.Popen([sys.executable, "-c", code, *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                              env=env)
    try:
        wait_ready(server, port, log)
    except BaseException:
        stop(server)
        raise
    return server


def app_code(bundle: Path, port: int, tmp: Path, workers: int) -> str:
    """`isyarat serve --processes N`'s code path: create_app + uvicorn with its settings."""
    return (f"from isyarat.server.app import serve; serve(host='127.0.0.1', port={port}, "
            f"models=[{str(bundle)!r}], data_dir={str(tmp / 'rec')!r}, processes={workers})")


# The floor: the same stack (FastAPI, uvicorn, JSON in and out with orjson, as the server's) answering
# a fixed reply of the size the server's reply has for that message, no recognition; what is left of
# the latency without the project's own work.
FLOOR_APP = """
import json, orjson, sys, uvicorn
from fastapi import FastAPI, WebSocket
app = FastAPI()
REPLY = json.loads(sys.argv[1])
app.get("/api/health")(lambda: {"status": "ok"})
@app.websocket("/ws/floor")
async def floor(websocket: WebSocket):
    await websocket.accept()
    while (raw := await websocket.receive())["type"] != "websocket.disconnect":
        await websocket.send_text(orjson.dumps({**REPLY, "id": orjson.loads(raw["text"]).get("id")}).decode())
uvicorn.run(app, host="127.0.0.1", port=PORT, ws_per_message_deflate=False, log_level="warning", loop="uvloop",
            http="httptools", ws=WS)
"""
FLOOR_REPLIES = {  # as isyarat.server.live answers each message form
    "nested": {"label": "B", "confidence": 0.9123456789012345, "has_hand": True, "text": "AB", "added": None,
               "probabilities": {chr(65 + i): 0.012345678901234567 for i in range(26)}, "latency_ms": 0.512},
    "compact": {"label": "B", "confidence": 0.912, "top": [[chr(65 + i), 0.012] for i in range(5)],
                "has_hand": True, "text": "AB", "added": None, "latency_ms": 0.512},
}


def wait_ready(server: subprocess.Popen, port: int, log: Path, timeout: float = 180) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not start in {timeout} s")


def frame_messages(message: str = "compact", source: str = "webcam") -> list[str]:
    """live_frames(source) as the page sends them (one letter after another, so the text gets
    spelled), each missing its id, which the client appends: compact (live.compact_message) or the
    older nested {"hands": [left|null, right|null]} with every number at full precision."""
    from isyarat.server import live

    texts = []
    for frame in live_frames(source):
        if message == "compact":
            body = live.compact_message(frame)
        else:
            body = {"hands": [None if np.isnan(h).any() else h.tolist() for h in frame]}
        texts.append(json.dumps(body, separators=(",", ":"))[:-1] + ',"id":')
    return texts


async def client(url: str, messages: list[str], seconds: float, phase: float, kind: str = "raw") -> dict:
    """One viewer: a frame every 1/30 s (at once when a reply came late), one reply per frame;
    `kind` the client: "raw" (RawClient), "page" (RawClient as the live page sends: a camera frame
    every 1/30 s, skipped while two await their reply) or "websockets" (the websockets library's)."""
    await asyncio.sleep(phase)
    if kind in ("raw", "page"):
        try:
            async with connect_raw(url) as ws:
                return await (ws.play_page if kind == "page" else ws.play)(messages, seconds)  # load() gives up on a server that stops answering
        except Exception as err:  # a refused connection is counted, not fatal
            return {"rtts": [], "reply_ms": [], "errors": [f"{type(err).__name__}: {err}"], "skipped": 0}
    from websockets.asyncio.client import connect

    rtts, reply_ms, errors = [], [], []
    try:
        async with connect(url, max_size=2**20) as ws:
            start = time.perf_counter()
            k = 0
            while (now := time.perf_counter()) - start < seconds:
                await asyncio.sleep(max(0.0, start + k / FPS - now))
                sent = time.perf_counter()
                await ws.send(messages[k % len(messages)] + str(k) + "}")
                reply = orjson.loads(await ws.recv())
                rtts.append(time.perf_counter() - sent)
                if "error" in reply or reply.get("id") != k:
                    errors.append(reply.get("error", f"reply id {reply.get('id')} for frame {k}"))
                reply_ms.append(reply.get("latency_ms", 0.0))
                k += 1
    except Exception as err:  # a refused or dropped connection is counted, not fatal
        errors.append(f"{type(err).__name__}: {err}")
    return {"rtts": rtts, "reply_ms": reply_ms, "errors": errors, "skipped": 0}


PAGE_IN_FLIGHT = 2  # the live page (static/app.js sendHands): at most two frames await a reply, others are skipped


class RawClient(asyncio.Protocol):
    """The least a load client can do per frame (RFC 6455 by hand, on the event loop's own
    transport, as callbacks: no coroutine, task or future per frame): write one masked text
    frame, read one unmasked text frame, schedule the next frame. The mask key is zero (the masked
    bytes are the message's own), so a frame costs a header and a write: the load generator shares
    the server's cores, and the `websockets` client costs more CPU per frame (see --client). It
    plays a viewer as `client` does with the websockets library: a frame every 1/FPS s, at once
    when the reply came late, one reply awaited per frame. A load generator only: no fragments or
    close handshake; pings answered."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.buffer = b""
        self.handshake: asyncio.Future = self.loop.create_future()
        self.finished: asyncio.Future | None = None  # play()'s run
        self.waiting: deque[tuple[int, float]] | None = None  # play_page's frames awaiting a reply
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.handshake.done():
            head, sep, self.buffer = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = head
                return
            self.handshake.set_result(head)
        while len(self.buffer) >= 2:
            size, at = self.buffer[1] & 0x7F, 2
            if size == 126:
                size, at = int.from_bytes(self.buffer[2:4], "big"), 4
            elif size == 127:
                size, at = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < at + size:
                return
            opcode, payload, self.buffer = self.buffer[0] & 0x0F, self.buffer[at:at + size], self.buffer[at + size:]
            if opcode == 9:  # the server's keepalive ping (uvicorn: every 20 s): answer, or it closes
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 1:
                self._reply(payload)
            elif opcode != 10:
                self._end("ConnectionError: the server closed the connection")

    def connection_lost(self, exc) -> None:
        self._end("ConnectionError: the server closed the connection")

    async def play(self, messages: list[str], seconds: float) -> dict:
        """Send frames for `seconds`; their round trips, the server's reply times and the errors."""
        self._begin(messages, seconds)
        self._send()
        await self.finished
        return {"rtts": self.rtts, "reply_ms": self.reply_ms, "errors": self.errors, "skipped": 0}

    async def play_page(self, messages: list[str], seconds: float) -> dict:
        """play() as the live page sends: a camera frame every 1/FPS s whatever the replies do, sent
        unless PAGE_IN_FLIGHT frames await their reply (then skipped, its landmarks never sent)."""
        self._begin(messages, seconds)
        self.waiting: deque[tuple[int, float]] = deque()  # (frame, time sent) of the frames awaiting a reply
        self.skipped = 0
        self._camera()
        await self.finished
        return {"rtts": self.rtts, "reply_ms": self.reply_ms, "errors": self.errors, "skipped": self.skipped}

    def _begin(self, messages: list[str], seconds: float) -> None:
        self.messages, self.seconds, self.k, self.waiting = messages, seconds, 0, None
        self.rtts, self.reply_ms, self.errors = [], [], []
        self.finished = self.loop.create_future()
        self.start = time.perf_counter()

    def _camera(self) -> None:
        if self.finished.done():
            return
        if time.perf_counter() - self.start >= self.seconds:
            self.finished.set_result(None)  # replies still on their way are not counted
            return
        if len(self.waiting) < PAGE_IN_FLIGHT:
            self.waiting.append((self.k, self._write(self.k)))
        else:
            self.skipped += 1
        self.k += 1
        self.loop.call_later(max(0.0, self.start + self.k / FPS - time.perf_counter()), self._camera)

    def _send(self) -> None:
        if self.finished.done():
            return
        self.sent = self._write(self.k)

    def _write(self, k: int) -> float:
        """Frame k as a masked text frame (id k); the time it was written."""
        data = (self.messages[k % len(self.messages)] + str(k) + "}").encode()
        n = len(data)
        head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        sent = time.perf_counter()
        self.transport.write(head + b"\0\0\0\0" + data)
        return sent

    def _reply(self, payload: bytes) -> None:
        now = time.perf_counter()
        if self.finished is None or self.finished.done():
            return
        reply = orjson.loads(payload)
        k, sent = self.waiting.popleft() if self.waiting is not None else (self.k, self.sent)
        self.rtts.append(now - sent)
        if "error" in reply or reply.get("id") != k:
            self.errors.append(reply.get("error", f"reply id {reply.get('id')} for frame {k}"))
        self.reply_ms.append(reply.get("latency_ms", 0.0))
        if self.waiting is not None:
            return  # play_page: the camera's clock sends the frames
        self.k += 1
        if now - self.start >= self.seconds:
            self.finished.set_result(None)
        elif (wait := self.start + self.k / FPS - now) > 0:
            self.loop.call_later(wait, self._send)
        else:
            self._send()  # the reply came late: the next frame at once

    def _end(self, error: str) -> None:
        if self.finished is not None and not self.finished.done():
            self.errors.append(error)
            self.finished.set_result(None)


class connect_raw:
    """`async with connect_raw("ws://127.0.0.1:PORT/path") as ws`: a RawClient after the HTTP upgrade."""

    def __init__(self, url: str) -> None:
        self.host, _, rest = url.removeprefix("ws://").partition(":")
        port, _, path = rest.partition("/")
        self.port, self.path = int(port), "/" + path

    async def __aenter__(self) -> RawClient:
        loop = asyncio.get_running_loop()
        _, self.ws = await loop.create_connection(RawClient, self.host, self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.ws.transport.write(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                                .encode())
        head = await asyncio.wait_for(self.ws.handshake, timeout=10)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n")[0].decode())
        return self.ws

    async def __aexit__(self, *exc) -> None:
        self.ws.transport.write(b"\x88\x82\0\0\0\0\x03\xe8")  # close, 1000
        self.ws.transport.close()


async def load(url: str, n_clients: int, seconds: float, messages: list[str], kind: str = "raw") -> dict:
    rng = random.Random(n_clients)
    jobs = [client(url, messages[i * 7 % len(messages):] + messages, seconds, rng.random() / FPS, kind)
            for i in range(n_clients)]
    start = time.perf_counter()
    results = await asyncio.wait_for(asyncio.gather(*jobs), timeout=seconds + 60)
    elapsed = time.perf_counter() - start
    rtts = [r for res in results for r in res["rtts"]]
    errors = [e for res in results for e in res["errors"]]
    replies = [s / 1000 for res in results for s in res["reply_ms"]]
    skipped = sum(res["skipped"] for res in results)
    return {"clients": n_clients, "seconds": elapsed, "offered_fps": n_clients * FPS,
            "skipped_percent": 100 * skipped / max(1, skipped + len(rtts)),
            "answered_fps": len(rtts) / elapsed, "answered": len(rtts), "rtt_ms": percentiles(rtts or [0.0]),
            "reply_ms": percentiles(replies or [0.0]), "errors": len(errors), "error_examples": errors[:3]}


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU time so far of a process and (children=True) its live child processes
    (Linux): the server's worker processes are children of the process we started."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or (children and fields[1] == str(pid)):  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def cpu_times() -> list[int] | None:
    """The machine's CPU time so far by kind (Linux /proc/stat: user, nice, system, idle, iowait, irq,
    softirq, steal), or None where it cannot be read."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None


def steal_percent(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of the machine's CPU time that its hypervisor gave to other machines between two
    cpu_times(): a virtual machine's 2 cores are only 2 while that is near 0, so runs are
    comparable only at a similar steal."""
    if before is None or after is None:
        return None
    spent = [b - a for a, b in zip(before, after)]
    return 100 * spent[7] / max(1, sum(spent))


def websocket_load(bundle: Path, clients: list[int], seconds: float, tmp: Path, floor: bool,
                   workers: list[int], message: str, kind: str = "raw", floor_ws: str | None = None,
                   before: Path | None = None, source: str = "webcam") -> dict:
    """(d): the server under load (with `before`: the server of that checkout's src first, then
    this one's, for each process count), then the floor: on the server's own WebSocket
    implementation unless `floor_ws` names another of uvicorn's (to compare them)."""
    import httpx

    from isyarat.server.app import WS_PROTOCOL

    floor_ws = floor_ws or WS_PROTOCOL

    messages = frame_messages(message, source)
    result = {"bundle": str(bundle), "message_bytes": len(messages[0]) + 4, "runs": []}
    sources = [("before", before), ("this checkout", None)] if before else [("this checkout", None)]
    for n_workers in workers:
        for source, src in sources:
            print(f"isyarat serve --processes {n_workers}" + (f" ({source})" if before else ""))
            port = free_port()
            server = start_server(app_code(bundle, port, tmp, n_workers), port, tmp / "server.log", src=src)
            try:
                model = httpx.get(f"http://127.0.0.1:{port}/api/models").json()[0]["name"]
            except Exception:
                stop(server)
                raise
            result["model"] = model
            for run in load_runs(server, f"ws://127.0.0.1:{port}/ws/{model}", clients, seconds, messages, kind):
                result["runs"].append({"workers": n_workers, "source": source, **run})
    if floor:
        print(f"floor: the same clients and stack (uvicorn ws={floor_ws}) answering a fixed reply of the same size, "
              "no recognition")
        port = free_port()
        server = start_server(FLOOR_APP.replace("PORT", str(port)).replace("ws=WS", f"ws={floor_ws!r}"), port, tmp / "floor.log",
                              json.dumps(FLOOR_REPLIES[message]))
        result["floor"] = load_runs(server, f"ws://127.0.0.1:{port}/ws/floor", clients, seconds, messages, kind)
    return result


def load_runs(server: subprocess.Popen, url: str, clients: list[int], seconds: float, messages: list[str],
              kind: str = "raw") -> list[dict]:
    """One load run per client count against a started server, which is stopped at the end."""
    runs = []
    try:
        for n in clients:
            counts = live_counts(url)
            server_cpu, client_cpu = cpu_seconds(server.pid), cpu_seconds(os.getpid(), children=False)
            machine_before = cpu_times()
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # the loop the server runs on too
                run = runner.run(load(url, n, seconds, messages, kind))
            answered = max(1, run["answered"])
            run["server_cpu_ms_per_frame"] = (cpu_seconds(server.pid) - server_cpu) * 1000 / answered
            run["client_cpu_ms_per_frame"] = (cpu_seconds(os.getpid(), children=False) - client_cpu) * 1000 / answered
            after = live_counts(url)
            run["frames_per_batch"] = frames_per_batch(counts, after)
            run["frames_by_process"] = sorted((f - counts.get(p, (0, 0))[0] for p, (f, _) in after.items()), reverse=True)
            run["load_average"] = os.getloadavg()[0]
            run["steal_percent"] = steal_percent(machine_before, cpu_times())
            runs.append(run)
            print_load_row(run)
            time.sleep(0.5)
    finally:
        stop(server)
    return runs


def live_counts(url: str, asks: int = 12) -> dict[int, tuple[int, int]]:
    """Each server process's live (frames, batches) so far, from /api/health (a new connection
    per ask, so the processes of serve --processes N all answer, most likely); {} for the floor."""
    import httpx

    health = url.replace("ws://", "http://").split("/ws/")[0] + "/api/health"
    counts = {}
    for _ in range(asks):
        live = httpx.get(health, timeout=10).json().get("live")
        if live:
            counts[live["process"]] = (live["frames"], live["batches"])
    return counts


def frames_per_batch(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> float | None:
    """The mean frames per batch the server processes read during a run (None: unknown)."""
    frames = sum(f - before.get(p, (0, 0))[0] for p, (f, _) in after.items())
    batches = sum(b - before.get(p, (0, 0))[1] for p, (_, b) in after.items())
    return frames / batches if batches > 0 else None


def stop(server: subprocess.Popen) -> None:
    """Stop a started server: its worker processes get a minute to close (a loaded machine is slow)."""
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


LOAD_HEADER = ["clients", "offered fps", "answered fps", "RTT p50", "RTT p99", "reply p50", "reply p99",
               "CPU/frame server", "clients", "frames/batch", "split %", "skipped %", "errors", "load avg", "steal %"]


def split(frames: list[int] | None) -> str:
    """Each server process's share of the run's live frames, largest first ("-": the floor, or one process)."""
    total = sum(frames or [])
    return "/".join(f"{100 * f / total:.0f}" for f in frames) if total and len(frames) > 1 else "-"


def print_load_row(run: dict) -> None:
    row = [run["clients"], run["offered_fps"], f"{run['answered_fps']:.0f}", run["rtt_ms"]["p50"],
           run["rtt_ms"]["p99"], run["reply_ms"]["p50"], run["reply_ms"]["p99"],
           run["server_cpu_ms_per_frame"], run["client_cpu_ms_per_frame"],
           "-" if run.get("frames_per_batch") is None else f"{run['frames_per_batch']:.1f}",
           split(run.get("frames_by_process")), f"{run.get('skipped_percent', 0.0):.1f}", run["errors"],
           run["load_average"], "-" if run.get("steal_percent") is None else f"{run['steal_percent']:.0f}"]
    print("  ".join(str(c if not isinstance(c, float) else f"{c:.2f}").ljust(len(h)) for c, h in zip(row, LOAD_HEADER)),
          flush=True)


# ---- main --------------------------------------------------------------------------------------

SECTIONS = ["models", "images", "frame", "websocket"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS)
    p.add_argument("--bundle", type=Path, help="a letter bundle for (b), (c) and (d) (default: an untrained isyarat-letters)")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 50, 100, 200])
    p.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                   help="server processes (isyarat serve --processes); none: the floor alone")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each WebSocket load run")
    p.add_argument("--frames", choices=["webcam", "signing"], default="webcam",
                   help="what (c) and (d) send (live_frames): webcam, the ASL set's webcam frames one letter "
                        "after another; signing, the 26 letters fingerspelled with synthetic holds and paths from "
                        "real hands, where the hand moves as a signer's does")
    p.add_argument("--message", choices=["compact", "nested"], default="compact",
                   help="what (c) times and (d)'s clients send: the page's compact message, or the older nested one")
    p.add_argument("--floor-ws", choices=["websockets", "websockets-sansio", "wsproto"],
                   help="(d): the floor on this uvicorn WebSocket implementation (default: the server's)")
    p.add_argument("--client", choices=["raw", "page", "websockets"], default="raw",
                   help="(d)'s load clients: RawClient (the least CPU per frame; every frame sent, the next one at once "
                   "when a reply came late), page (RawClient sending as the live page does: a frame every 1/30 s, "
                   "skipped while two await their reply: what a viewer sees when the server is short of CPU) or "
                   "the websockets library's")
    p.add_argument("--repeats", type=int, default=1000, help="model calls timed per frame model (a third for sequences)")
    p.add_argument("--images", type=int, default=100, help="photos timed in (b)")
    p.add_argument("--rounds", type=int, default=5, help="passes over the 312 frames timed in (c)")
    p.add_argument("--passes", type=int, default=2, help="timed passes of (c), the best one kept")
    p.add_argument("--viewers", type=int, nargs="+", default=[1, 50, 200],
                   help="(c): viewers whose frames the server reads together (one batch per frame time)")
    p.add_argument("--before", type=Path, metavar="SRC",
                   help="also time (c), and run (d)'s server, with the isyarat package under SRC (e.g. an older "
                   "checkout's src/), same run")
    p.add_argument("--no-floor", action="store_true", help="skip the no-recognition reference runs in (d)")
    p.add_argument("--quick", action="store_true", help="3 s load runs, 300 model calls, 40 photos, 2 rounds, 1 pass")
    p.add_argument("--out", type=Path, help="the JSON results (default: bench/results/realtime.json, or "
                   "realtime-SECTION.json with --only SECTION); the printed tables go beside it as .txt")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.repeats, args.images, args.rounds, args.passes = 3.0, 300, 40, 2, 1
    if args.out is None:
        args.out = RESULTS if set(args.only) == set(SECTIONS) else RESULTS.with_name(f"realtime-{'-'.join(args.only)}.json")
    return args


def machine() -> dict:
    import onnxruntime
    import torch

    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
            "load_average_at_start": os.getloadavg()[0]}


class Tee:
    """stdout, kept as well: the tables printed are written beside the JSON results."""

    def __init__(self, stream) -> None:
        self.stream, self.parts = stream, []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def main() -> None:
    args = parse_args()
    sys.stdout = tee = Tee(sys.stdout)
    results = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    if results["machine"]["load_average_at_start"] > 0.5:
        print(f"note: load average {results['machine']['load_average_at_start']:.1f}: other processes use these "
              f"{os.cpu_count()} cores too, so every time below is pessimistic\n")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        bundle = args.bundle or letter_bundle(tmp)
        if "models" in args.only:
            results["models"] = model_latency(args.repeats, tmp)
            print_models(results["models"])
            print()
        if "images" in args.only:
            results["images"] = image_latency(bundle, args.images)
            print_images(results["images"])
            print()
        if "frame" in args.only:
            passes = {"before": [], "this checkout": []}
            for _ in range(args.passes):  # alternated, so both see the same load; the best pass of each is kept
                if args.before:
                    passes["before"].append(frame_cost_of(args.before, bundle, args.rounds, args.viewers,
                                                          args.message, tmp, args.frames))
                passes["this checkout"].append(frame_cost(bundle, args.rounds, args.viewers, args.message, args.frames))
            results["frame"] = {source: best_pass(runs) for source, runs in passes.items() if runs}
            print_frame_cost(results["frame"], bundle, args.frames)
            print()
        if "websocket" in args.only:
            print(f"(d) live WebSocket on 127.0.0.1, every client at {FPS} fps for {args.seconds:g} s, {args.message} "
                  f"messages of {FRAMES_TEXT[args.frames]}, {args.client} clients (ms; reply: the server's own time per message; CPU ms per frame "
                  f"answered; frames/batch: the mean frames a server process read per batch; split: each process's share "
                  f"of the frames; clients and server share the "
                  f"{os.cpu_count()} cores)")
            print("  ".join(LOAD_HEADER))
            results["websocket"] = websocket_load(bundle, args.clients, args.seconds, tmp, not args.no_floor,
                                                  args.workers, args.message, args.client, args.floor_ws, args.before,
                                                  args.frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.txt')}")
    args.out.with_suffix(".txt").write_text("".join(tee.parts))


if __name__ == "__main__":
    main()
