"""The recognition CPU of a live frame (`push_many`: gates, features, models, smoothing, decisions,
decoders; no message parsing, no reply), this checkout against another one's src, interleaved.

Bench (c) times each checkout in turn, so on a shared machine a change of load between the two
halves moves whole columns by 10-30%. Here two worker processes, one per checkout, push the same
frames (--frames: the ASL set's webcam frames one letter after another, or the 26 letters
fingerspelled with synthetic holds and paths; each viewer starting at another frame, 30 fps) in
chunks of 26 batches, taking turns chunk by chunk: both see the same load. CPU time per frame
(thread_time) over all chunks, and the median of the chunk-by-chunk ratios.

    python bench/push_many_ab.py --before ../main/src --viewers 1 5 25 50
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHUNK = 26  # batches per turn: 12 turns cover the 312 webcam frames once


def worker(bundle: str, source: str) -> None:
    """Answer 'n k' lines: push k more batches of n viewers' frames, print the CPU nanoseconds."""
    sys.path.insert(0, str(HERE))
    from realtime import FPS, LETTERS, asl_landmarks, signing_landmarks

    from isyarat.runtime.recognizer import Recognizer
    from isyarat.runtime.stream import push_many

    frames = asl_landmarks(LETTERS, 12) if source == "webcam" else signing_landmarks()
    recognizer = Recognizer.load(bundle)
    viewers: dict[int, list] = {}  # n -> its n streams
    ticks: dict[int, int] = {}  # n -> the next frame time

    def push(n: int, tick: int) -> None:
        push_many(viewers[n], [frames[(31 * v + tick) % len(frames)] for v in range(n)], None, [tick / FPS] * n)

    print("ready", flush=True)
    for line in sys.stdin:
        n, k = map(int, line.split())
        if n not in viewers:  # new viewers, warmed up over one pass of the frames
            viewers[n], ticks[n] = [recognizer.stream() for _ in range(n)], len(frames)
            for tick in range(len(frames)):
                push(n, tick)
        start = time.thread_time_ns()
        for tick in range(ticks[n], ticks[n] + k):
            push(n, tick)
        ticks[n] += k
        print(time.thread_time_ns() - start, flush=True)


class Worker:
    def __init__(self, src: Path, bundle: str, source: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(src.resolve())}
        self.process = subprocess.Popen([sys.executable, __file__, "--worker", "--bundle", bundle, "--frames", source],
                                        env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit(f"the worker with {src} did not start")

    def push(self, n: int, k: int) -> int:
        self.process.stdin.write(f"{n} {k}\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=Path, help="the other checkout's src folder (required)")
    p.add_argument("--bundle", default=str(HERE.parent / "src/isyarat/shipped/sibi-letters"))
    p.add_argument("--viewers", type=int, nargs="+", default=[1, 5, 25, 50], help="frames per batch")
    p.add_argument("--cycles", type=int, default=3, help="12 turns of 26 batches each")
    p.add_argument("--frames", choices=["webcam", "signing"], default="webcam",
                   help="webcam: the ASL set's webcam frames, one letter after another (bench (d)'s); signing: "
                        "the 26 letters fingerspelled with synthetic holds and paths from real hands "
                        "(realtime.signing_landmarks), where the hand moves as a signer's does")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.bundle, args.frames)
    if args.before is None or not (args.before / "isyarat").is_dir():
        p.error(f"--before: give the src folder of another checkout (one holding isyarat/), got {args.before}")
    sys.path.insert(0, str(HERE))
    from realtime import table

    before, this = Worker(args.before, args.bundle, args.frames), Worker(HERE.parent / "src", args.bundle, args.frames)
    rows = []
    for n in args.viewers:
        spent = {"before": [], "this": []}
        for turn in range(12 * args.cycles):
            order = [("before", before), ("this", this)][::1 if turn % 2 == 0 else -1]
            for name, w in order:
                spent[name].append(w.push(n, CHUNK))
        a, b = (sum(spent[k]) / (len(spent[k]) * CHUNK * n) / 1000 for k in ("before", "this"))
        ratio = statistics.median(y / x for x, y in zip(spent["before"], spent["this"]))
        rows.append([n, f"{a:.0f}", f"{b:.0f}", f"{b / a - 1:+.1%}", f"{ratio - 1:+.1%}"])
    before.close(), this.close()
    print(table(f"push_many CPU time per frame (microseconds), {Path(args.bundle).name}, {args.frames} frames; "
                f"before: {args.before}, interleaved in chunks of {CHUNK} batches",
                ["viewers (frames per batch)", "before", "this checkout", "change", "median chunk change"], rows))


if __name__ == "__main__":
    main()
