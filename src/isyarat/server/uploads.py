"""Uploaded files: a request-size limit enforced before parsing, and decoding of images and videos."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from fastapi import HTTPException

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".webm", ".mkv"}


class RequestSizeLimit:
    """ASGI middleware: answers 413 when an HTTP request body exceeds `max_bytes`.

    The body is read here (at most max_bytes + one chunk), before the multipart parser spools it
    to disk, and replayed to the app; a Content-Length over the limit is refused without reading."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._too_large(send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._too_large(send)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send) -> None:
        detail = f'{{"detail": "upload too large: the limit is {self.max_bytes // 1_000_000} MB"}}'.encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": detail})


def decode_image(data: bytes, filename: str) -> np.ndarray:
    """Bytes of a JPEG/PNG/... -> BGR array; anything else is a 415."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise HTTPException(415, f"{filename or 'the upload'} is not an image: send a JPEG or PNG photo")
    return image


@contextmanager
def video_file(data: bytes, filename: str) -> Iterator[Path]:
    """The upload written to a temporary file that OpenCV can open; anything else is a 415."""
    suffix = Path(filename or "").suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix if suffix in VIDEO_SUFFIXES else '.mp4'}"
        path.write_bytes(data)
        capture = cv2.VideoCapture(str(path))
        ok = capture.isOpened() and capture.read()[0]
        capture.release()
        if not ok:
            raise HTTPException(415, f"{filename or 'the upload'} is not a readable video: send an MP4, AVI or MOV")
        yield path
