"""One model call for the live frames of many viewers that arrive together.

Under load the model's weights are mostly out of the CPU cache when a frame comes (measured on
2 cores: the letter model takes ~80 us per call when hot, ~500 us when other work evicted it);
a batch reads them once for all the frames that woke up in the same event-loop turn. A lone
viewer gets a batch of one, a few microseconds later.
"""
from __future__ import annotations

import asyncio

import numpy as np

from isyarat.export.bundle import OnnxModel


class BatchedModel:
    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self._pending: list[tuple[np.ndarray, asyncio.Future]] = []

    async def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for one input x (*input_shape), computed in a batch with the other
        inputs submitted in this event-loop turn."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((x, future))
        if len(self._pending) == 1:
            loop.call_soon(self._run)  # after the callbacks already queued: the other viewers
        return await future

    def _run(self) -> None:
        batch, self._pending = self._pending, []
        try:
            probs = self.model.predict(np.stack([x for x, _ in batch]))
        except Exception as err:  # every waiting viewer gets the error, none waits forever
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        for (_, future), p in zip(batch, probs):
            if not future.done():
                future.set_result(p)
