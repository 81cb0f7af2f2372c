"""The live frames of many viewers that arrive together go through the recognizer as one batch.

Each frame message a viewer sends waits until the event loop has run the other callbacks already
queued and those of one more turn (BATCH_TURNS), which are the other viewers' frames that arrived
meanwhile; then the batch's hands are read as one array (`read_frames`) and one `push_many` reads
them all: the motion gates, the features and each model in one call for the batch (numpy and ONNX
Runtime pay their per-call overhead once, and the model's weights are read from memory once
instead of once per viewer), every viewer's smoothing in one sum and the decisions in one call,
and each viewer's own decoder after that. A lone viewer is a batch of one, a few microseconds later.
"""
from __future__ import annotations

import asyncio

from isyarat.runtime.recognizer import Recognizer
from isyarat.runtime.stream import RecognizerStream, StreamUpdate, push_many
from isyarat.server.frames import read_frames


# A batch runs BATCH_TURNS event-loop turns after its first frame, so the frames whose messages are
# read in the next turn join it too (each turn runs the callbacks queued before it: the viewers
# whose messages arrived). Bench (d), 2 server processes, 200 viewers, alternated runs: one turn
# read ~21 frames a batch at 0.38-0.41 ms of server CPU a frame, two ~48-51 at 0.29-0.31, three
# ~53-58 at 0.29-0.31; a lone viewer's replies took the same time.
BATCH_TURNS = 2


class LiveBatcher:
    """Collects the frame messages of one recognizer's live streams for BATCH_TURNS event-loop
    turns, then reads and pushes them together."""

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self._pending: list[tuple[RecognizerStream, dict, asyncio.Future]] = []
        self.batches = 0  # batches run so far, and the frames they pushed (the bench reads these)
        self.frames = 0

    def push(self, stream: RecognizerStream, message: dict) -> asyncio.Future[StreamUpdate]:
        """A future of the frame message's StreamUpdate (its hands pushed into `stream`), run in a
        batch with the other streams' messages of this turn; a message the server cannot use sets
        the error `read_frame` raises for it (a BadMessage)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((stream, message, future))
        if len(self._pending) == 1:
            self._after_turns(loop, BATCH_TURNS)
        return future

    def _after_turns(self, loop: asyncio.AbstractEventLoop, turns: int) -> None:
        """_run after `turns` more turns of the event loop (each: the callbacks queued before it)."""
        if turns <= 1:
            loop.call_soon(self._run)
        else:
            loop.call_soon(self._after_turns, loop, turns - 1)

    def _run(self) -> None:
        batch, self._pending = _one_frame_per_stream(self._pending)
        if self._pending:  # a stream's second frame (not from live_session, which awaits each reply): next batch
            self._after_turns(asyncio.get_running_loop(), 1)
        try:
            self._push(batch)
        except Exception as err:  # every waiting viewer gets the error, none waits forever
            for *_, future in batch:
                if not future.done():
                    future.set_exception(err)

    def _push(self, batch: list[tuple[RecognizerStream, dict, asyncio.Future]]) -> None:
        """Read the batch's messages, answer the bad ones with their error, push the others together."""
        read = read_frames([message for _, message, _ in batch], self.recognizer.config.pose)
        good = []
        for (stream, _, future), frame in zip(batch, read):
            if isinstance(frame, Exception):
                if not future.done():  # done: cancelled, its viewer left
                    future.set_exception(frame)
            else:
                good.append((stream, frame, future))
        if not good:
            return
        self.batches, self.frames = self.batches + 1, self.frames + len(good)
        updates = push_many([s for s, _, _ in good], [f.hands for _, f, _ in good],
                            [f.pose for _, f, _ in good], [f.t for _, f, _ in good])
        for (*_, future), update in zip(good, updates):
            if not future.done():
                future.set_result(update)


def _one_frame_per_stream(pending: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """The batch (each stream's first frame) and what waits for the next one (a stream's later
    frames, in order): a stream's frames are pushed one after the other, as they are alone."""
    seen, batch, later = set(), [], []
    for item in pending:
        key = id(item[0])
        (later if key in seen else batch).append(item)
        seen.add(key)
    return batch, later
