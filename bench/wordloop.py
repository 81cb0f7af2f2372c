"""The recorder's word loop, timed: samples written through the recorder's HTTP API, trained by
the train button's endpoint (`quick-words` / `quick-words-pose`: train && export in one child
process as on a real server), and the model served at once; held-out clips are then read through the live WebSocket
as a signer would sign them on the page: the clip's frames, then the hands lowered (0.5 s without a
hand); a clip counts as right when the word decoder wrote exactly its word, once.

Rows:
- WL-BISINDO (pose + hands, Holistic, 258 values/frame; the Kata Kolok layout): the 4 words of the
  shared data, --per-word clips each recorded, the rest of each word's clips held out and streamed
  live (30 frames of each, the model's window).
- synthetic ASL letters (hands only): `isyarat synth asl` sequences (moving J/Z and held letters
  with drift and tremor, from the ASL landmark frames), --signs signs x --per-word samples recorded:
  the "5-10 words, 10 samples each" size of the issue, for the time; its live column reads
  held-out synthetic sequences.
The job's wall time covers child process start, training, export and loading into the server; its
CPU time (the child process's user + system seconds) is about what it takes on an idle machine
with a single core (the recipe trains with one torch thread; the wall time on a loaded machine is
longer, and the load average is printed before and after).

    PYTHONPATH=src python bench/wordloop.py [--per-word 7] [--signs 10] [--synth /tmp/synth-asl]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from isyarat.data.layouts import load_dataset
from isyarat.features.pipeline import resample_indices
from isyarat.landmarks.extract import extract_dataset
from isyarat.landmarks.settings import ExtractSettings
from isyarat.server.app import create_app
from isyarat.server.guards import LOCAL_HOSTS

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REST_FRAMES = 6  # frames without hands after each live clip (0.54 s: over the word decoder's rest_s)


def slots(hands: np.ndarray) -> list:
    return [None if np.isnan(h).any() else h.tolist() for h in hands]


def pose_json(pose: np.ndarray) -> list | None:
    return None if np.isnan(pose).all() else np.nan_to_num(pose).tolist()


def frame_message(lm, t: int, n: int) -> dict:
    message = {"hands": slots(lm.hands[t]), "t": 1000 + 90 * n}
    if lm.pose is not None:
        message["pose"] = pose_json(lm.pose[t])
    return message


def run_loop(name: str, by_word: dict[str, list], per_word: int, data_dir: Path) -> str:
    client = TestClient(create_app(["bisindo-words"], data_dir=data_dir, allowed_hosts=[*LOCAL_HOSTS, "testserver"]))
    for word, samples in by_word.items():
        for i, lm in enumerate(samples[:per_word]):
            body = {"vocabulary": name, "label": word, "sample_id": f"s{i:07d}", "tags": {"signer": "bench"},
                    "frames": [slots(h) for h in lm.hands]}
            if lm.pose is not None:
                body["pose"] = [pose_json(p) for p in lm.pose]
            response = client.post("/api/recordings", json=body)
            assert response.status_code == 200, response.text
    start = time.monotonic()
    job = client.post("/api/train", json={"vocabulary": name}).json()
    while job["state"] == "running":
        time.sleep(0.5)
        job = client.get(f"/api/train/{name}").json()
    wall = time.monotonic() - start
    if job["state"] != "done":
        return f"| {name} | failed: {job['error']} |"
    right = total = 0
    misses: list[str] = []
    with client.websocket_connect(f"/ws/{job['model']}") as ws:
        for word, samples in by_word.items():
            for lm in samples[per_word:]:
                ws.send_json({"reset": True})
                ws.receive_json()
                written = []
                frames = [frame_message(lm, int(t), n) for n, t in enumerate(resample_indices(lm.n_frames, 30))]
                rest = [{"hands": [None, None], "t": 1000 + 90 * n} for n in range(len(frames), len(frames) + REST_FRAMES)]
                for message in frames + rest:  # the signer lowers the hands after the sign, as on the page
                    ws.send_json(message)
                    added = (ws.receive_json().get("added") or "").strip()
                    written += [added] if added else []
                right, total = right + (written == [word]), total + 1
                if written != [word]:
                    misses.append(f"{word} -> {' + '.join(written) or 'nothing'}")
    n_samples = per_word * len(by_word)
    values = 258 if next(iter(by_word.values()))[0].pose is not None else 126
    return (f"| {name} | {len(by_word)} x {per_word} = {n_samples} | {values} | {wall:.1f} | {job['cpu_seconds']:.1f} | "
            f"{job['epoch']}/{job['epochs']} | "
            f"{job['accuracy']:.3f} ({job['test_samples']}) | {right}/{total} |"
            + (f"\n#   live misses: {'; '.join(misses)}" if misses else ""))


def wl_bisindo() -> dict[str, list]:
    dataset = load_dataset(DATA / "bisindo-words-wlbisindo")
    dataset.samples = sorted(dataset.samples, key=lambda s: (s.label, len(s.path.name), s.path.name))
    result = extract_dataset(dataset, ExtractSettings(mode="holistic"), workers=2, progress=False)
    by_word: dict[str, list] = {}
    for sample in result.dataset:
        by_word.setdefault(sample.label, []).append(sample.landmarks)
    return by_word


def synthetic(folder: Path, signs: int, per_word: int, held_out: int) -> dict[str, list]:
    if not folder.is_dir():
        subprocess.run([sys.executable, "-m", "isyarat.cli.main", "synth", "asl", "--data",
                        str(DATA / "asl-alphabet-landmarks-graudt"), "--out", str(folder), "--per-letter",
                        str(per_word + held_out), "--quiet"], check=True)
    dataset = load_dataset(folder)
    by_word: dict[str, list] = {}
    for sample in dataset:
        by_word.setdefault(sample.label, []).append(sample.landmarks)
    chosen = sorted(by_word)[:signs]
    return {word: by_word[word][:per_word + held_out] for word in chosen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-word", type=int, default=5, help="WL-BISINDO clips recorded per word (Belajar has 6, the others 10)")
    parser.add_argument("--signs", type=int, default=10, help="synthetic signs to record")
    parser.add_argument("--synth-per-word", type=int, default=10, help="synthetic samples recorded per sign")
    parser.add_argument("--synth", type=Path, default=Path(tempfile.gettempdir()) / "isyarat-bench-synth-asl")
    args = parser.parse_args()
    print(f"# cores {os.cpu_count()}, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("| data | signs x samples | values/frame | job wall s | job CPU s | epochs run | held-out accuracy (n) | live held-out clips |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        print(run_loop("wl-bisindo", wl_bisindo(), args.per_word, Path(tmp) / "a"), flush=True)
        print(run_loop("synth-asl", synthetic(args.synth, args.signs, args.synth_per_word, 3), args.synth_per_word,
                       Path(tmp) / "b"), flush=True)
    print(f"# load average after {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
