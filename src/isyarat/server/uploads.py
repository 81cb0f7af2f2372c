"""Uploaded files: a request-size limit enforced before parsing, and decoding of images and videos."""
from __future__ import annotations

import asyncio
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
from fastapi import HTTPException

from isyarat.errors import IsyaratError
from isyarat.landmarks import media


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
    """Bytes of a JPEG/PNG/WebP/BMP -> BGR array; a pixel count over the limit (read from the
    header, before decoding) is a 413, anything that is not such an image a 415."""
    try:
        return media.decode_image(data, filename or "the upload")
    except media.ImageTooLarge as err:
        raise HTTPException(413, str(err)) from None
    except IsyaratError as err:
        raise HTTPException(415, f"{err}".replace(": not a readable image", " is not an image", 1)) from None


@contextmanager
def video_file(data: bytes, filename: str) -> Iterator[Path]:
    """The upload written to a temporary file named after the container its first bytes show
    (MP4/MOV, AVI, WebM; never a playlist or anything naming other files or URLs); else a 415."""
    name = filename or "the upload"
    container = media.video_container(data[:12])
    if container is None:
        raise HTTPException(415, f"{name} is not a readable video: send an MP4, MOV, AVI or WebM file "
                                 "(playlists and links are not read)")
    suffix = {"MP4/MOV": ".mp4", "AVI": ".avi", "WebM": ".webm"}[container]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        try:
            ok = capture.isOpened() and capture.read()[0]
        except cv2.error:
            ok = False
        capture.release()
        if not ok:
            raise HTTPException(415, f"{name} is not a readable video: send an MP4, MOV, AVI or WebM file")
        yield path


class UploadQueue:
    """Photo and video uploads run on threads of their own, a few at a time, with a bounded
    queue: decoding and MediaPipe never hold up /api/health or the live WebSockets, and a flood
    of uploads gets 429 + Retry-After instead of memory and latency for everyone."""

    def __init__(self, workers: int = 1, max_waiting: int = 8, retry_after_s: int = 2) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="isyarat-upload")
        self.capacity = workers + max_waiting
        self.retry_after_s = retry_after_s
        self.in_flight = 0

    async def run(self, function: Callable, *args):
        """function(*args) on an upload thread; IsyaratError and decoder errors become 415."""
        if self.in_flight >= self.capacity:
            raise HTTPException(429, f"the server is busy with {self.in_flight} uploads: try again in "
                                     f"{self.retry_after_s} s", headers={"Retry-After": str(self.retry_after_s)})
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)
        except HTTPException:
            raise
        except media.ImageTooLarge as err:
            raise HTTPException(413, str(err)) from None
        except (IsyaratError, cv2.error) as err:
            raise HTTPException(415, f"cannot read the upload: {err}".splitlines()[0]) from None
        finally:
            self.in_flight -= 1

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
