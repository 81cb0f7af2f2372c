"""The live frames of many viewers that arrive together go through the recognizer as one batch.

Each frame a viewer sends waits until the event loop has run the other callbacks already
queued, which are the other viewers' frames that arrived in the same turn; then one
`push_many` reads them all: the motion gates, the features and each model in one call for the
batch (numpy and ONNX Runtime pay their per-call overhead once, and the model's weights are
read from memory once instead of once per viewer), and every viewer's own smoothing and
decoder after that. A lone viewer is a batch of one, a few microseconds later.
"""
from __future__ import annotations

import asyncio

import numpy as np

from isyarat.runtime.recognizer import Recognizer
from isyarat.runtime.stream import RecognizerStream, StreamUpdate, push_many


class LiveBatcher:
    """Collects the frames of one recognizer's live streams for one event-loop turn, then pushes them together."""

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self._pending: list[tuple[RecognizerStream, np.ndarray, np.ndarray | None, float | None, asyncio.Future]] = []
        self.batches = 0  # batches run so far, and the frames they held (the bench reads these)
        self.frames = 0

    async def push(self, stream: RecognizerStream, hands: np.ndarray, pose: np.ndarray | None,
                   t: float | None) -> StreamUpdate:
        """`stream.push_landmarks(hands, pose, t)`, run in a batch with the other streams' frames of this turn."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((stream, hands, pose, t, future))
        if len(self._pending) == 1:
            loop.call_soon(self._run)  # after the callbacks already queued: the other viewers
        return await future

    def _run(self) -> None:
        batch, self._pending = self._pending, []
        self.batches, self.frames = self.batches + 1, self.frames + len(batch)
        try:
            updates = push_many([b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch],
                                [b[3] for b in batch])
        except Exception as err:  # every waiting viewer gets the error, none waits forever
            for *_, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        for (*_, future), update in zip(batch, updates):
            if not future.done():
                future.set_result(update)
