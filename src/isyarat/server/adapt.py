""""Calibrate to me": adapt a served model to the recordings of one vocabulary of the recorder.

POST /api/adapt {"model": "sibi-letters", "vocabulary": "me"} adapts the served model to
data_dir/<vocabulary> (the recorder's <label>/<n>.npy folders), writes the adapted bundle to
data_dir/.adapted/<model>-<vocabulary>/ and serves it from then on under the name
"<model>-<vocabulary>" (GET /api/models lists it; the live page can pick it like any model).
With `serve --workers N`, only the worker that answered serves it until the next restart
(then pass it with `--model`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from isyarat.errors import IsyaratError
from isyarat.runtime.recognizer import Recognizer
from isyarat.server.recorder import check_name, needs_pose, safe_folder

ADAPTED_DIR = ".adapted"


class AdaptRequest(BaseModel):
    model: str
    vocabulary: str


def adapted_name(model: str, vocabulary: str) -> str:
    """A name that is also a safe folder name: the model's and the vocabulary's, joined by '-'."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", f"{model}-{vocabulary}")[:100]


def adapt_router(data_dir: Path, recognizers: dict[str, Recognizer], add_model: Callable[[str, Recognizer], None]) -> APIRouter:
    """The endpoint; `add_model(name, recognizer)` makes the server offer the adapted model."""
    router = APIRouter()

    @router.post("/api/adapt")
    async def adapt(request: AdaptRequest) -> dict:
        from isyarat.adaptation import adapt_bundle

        vocabulary = check_name(request.vocabulary, "vocabulary")
        if request.model not in recognizers:
            raise HTTPException(404, f"unknown model '{request.model}'; models: {', '.join(recognizers)}")
        data = safe_folder(data_dir, vocabulary)
        if not data.is_dir():
            raise HTTPException(404, f"no recordings in vocabulary '{vocabulary}': record a few samples of each "
                                     "sign on the recorder page first")
        if recognizers[request.model].config.pose and not needs_pose(data):
            raise HTTPException(400, f"model '{request.model}' reads the body pose, but vocabulary '{vocabulary}' was "
                                     "recorded without it: record it with the pose switch on, or pick a hand model")
        name = adapted_name(request.model, vocabulary)
        out = safe_folder(data_dir, ADAPTED_DIR, name)
        base = recognizers[request.model].bundle.path
        try:
            _, record = await run_in_threadpool(adapt_bundle, base, data, out, name)
            recognizer = await run_in_threadpool(Recognizer.load, out)
        except IsyaratError as err:
            raise HTTPException(400, str(err)) from None
        add_model(name, recognizer)
        return {"model": name, "base": request.model, "labels": recognizer.labels,
                "new_labels": record.new_labels, "samples": record.samples, "left_out": len(record.left_out),
                "seconds": record.seconds, "path": str(out.relative_to(data_dir.resolve()))}

    return router
