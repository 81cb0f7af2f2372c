"""The live WebSocket: the browser sends landmarks (never video), the server answers predictions.

Client -> server, one JSON text message per camera frame, in either of two forms:
  compact (what the page sends; the cheapest for the server to read):
    {"left": L, "right": R, "pose": P (optional), "t": MS (optional), "id": any (optional, echoed back)}
    where L and R are the signer's left and right hand as 63 numbers x0, y0, z0, ... x20, y20, z20
    in the un-mirrored image's normalized coordinates (4 decimals are plenty: 1/10,000 of the
    image), or null when that hand is not seen (at least one of the two keys must be there), and
    P the pose as 132 numbers (33 points of x, y, z, visibility). `compact_message` writes it.
  nested (the first form, still read):
    {"hands": [LEFT, RIGHT], "pose": POSE, "t": MS, "id": any}
    where LEFT/RIGHT are 21 [x, y, z] lists or null, and POSE 33 [x, y, z, visibility] lists.
MS is the frame's capture time in milliseconds on any steady clock (the page's performance.now()):
the spelling decoder counts seconds of these times (without it, the time the message arrives).
A model that reads the body (GET /api/models says "pose": true) needs "pose" in every message
(null in a frame where the body was not found): a model never gets input it was not trained on.
{"reset": true} clears the spelled text.

Server -> client, one reply per message:
  to a compact message: {"label", "confidence", "top": [[label, probability], ...] (the TOP_K most
    likely, best first), "has_hand", "text", "added", "latency_ms", "id"} with probabilities
    rounded to 3 decimals (and "variant" for a model with variants);
  to a nested message: the same with "probabilities" (every label) instead of "top", unrounded;
  {"error": "..."} for a bad message (the connection stays open).
Coordinates beyond +-MAX_COORDINATE are refused; a hand whose points all coincide (all zero, say)
counts as absent ("no sign"). Every reply is strict JSON: never NaN or Infinity.
"""
from __future__ import annotations

import json
import logging
import math
import time

import numpy as np
import orjson
from fastapi import WebSocket, WebSocketDisconnect

from isyarat.runtime.recognizer import Recognizer
from isyarat.runtime.stream import RecognizerStream, StreamUpdate
from isyarat.server.batching import LiveBatcher
from isyarat.server.frames import BadMessage

MAX_MESSAGE_BYTES = 64 * 1024
UNKNOWN_MODEL = 1008  # WebSocket close code: policy violation
MAX_ID_CHARS = 128
TOP_K = 5  # labels in a compact reply: the page shows five bars
log = logging.getLogger("isyarat.live")


def compact_message(hands: np.ndarray, pose: np.ndarray | None = None, t: float | None = None,
                    id: object = None) -> dict:
    """The compact frame message for hands (2, 21, 3) (NaN where absent), as the page sends it:
    flat lists of numbers rounded to 4 decimals; "t" and "id" only when given."""
    def flat(points: np.ndarray) -> list | None:
        return None if np.isnan(points).any() else np.round(points.astype(np.float64).reshape(-1), 4).tolist()

    message = {"left": flat(hands[0]), "right": flat(hands[1])}
    if pose is not None and np.isfinite(pose).all():
        message["pose"] = flat(pose)
    if t is not None:
        message["t"] = t
    if id is not None:
        message["id"] = id
    return message


def decode(text: str | None) -> dict:
    """A message's JSON object. orjson reads it (a quarter of the stdlib's time for a frame); what
    orjson refuses goes to the stdlib's reader, which reads NaN, 1e400 and lone surrogates (refused
    later, each with its own words) and names a syntax error as it always has."""
    if text is None:
        raise BadMessage("send JSON text messages, not binary")
    if len(text) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message of {len(text)} characters is over the {MAX_MESSAGE_BYTES} limit; send one frame per message")
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        message = _stdlib_decode(text)
    if not isinstance(message, dict):
        raise BadMessage('send a JSON object like {"hands": [null, [[x, y, z], ...]]}')
    check_id(message.get("id"))
    return message


def _stdlib_decode(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise BadMessage(f"not valid JSON ({err.msg})") from None
    except (RecursionError, ValueError):  # nested too deeply; an integer of thousands of digits
        raise BadMessage("not usable JSON (nested too deeply or a number too long): send one frame per message") from None


def check_id(value) -> None:
    """The echoed `id`: null, a finite number, or a short string of valid Unicode (no lone surrogates)."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value) or abs(value) > 2 ** 53:
            raise BadMessage('"id" must be a finite number below 2^53, or a short string')
        return
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS:
        try:
            value.encode("utf-8")
            return
        except UnicodeEncodeError:
            raise BadMessage('"id" holds invalid Unicode (a lone surrogate): send a valid string') from None
    raise BadMessage(f'"id" must be a number or a string of at most {MAX_ID_CHARS} characters')


def to_json(reply: dict) -> str:
    """The reply (as reply() builds it) as strict JSON, written by orjson (a tenth of the stdlib's
    time). orjson writes a float that is not finite as null, so the reply's numbers are checked
    first: one that is not finite (it should never happen) makes the reply an error."""
    try:
        if _finite_numbers(reply):
            return orjson.dumps(reply, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except (TypeError, ValueError):
        pass
    log.warning("a reply held a non-finite or unwritable value: %r", reply)
    return orjson.dumps({"error": "no usable prediction for this frame", "id": reply.get("id")}).decode()


def _finite_numbers(reply: dict) -> bool:
    """Whether every number reply() puts in a reply is finite ("id" was checked when read); a NaN
    or an infinity in any of them makes their sum NaN or infinite."""
    total = reply.get("confidence", 0.0) + reply.get("latency_ms", 0.0)
    total += sum(p for _, p in reply.get("top", ())) + sum(reply.get("probabilities", {}).values())
    return math.isfinite(total)


async def live_session(websocket: WebSocket, recognizer: Recognizer, batcher: LiveBatcher | None = None) -> None:
    """Serve one viewer until it disconnects; every message gets exactly one reply. `batcher`
    reads this viewer's frames together with the other viewers' of the same model (one is made
    when None)."""
    stream = recognizer.stream()
    batcher = batcher or LiveBatcher(recognizer)
    try:
        while True:
            raw = await websocket.receive()
            if raw["type"] == "websocket.disconnect":
                return
            await websocket.send_text(to_json(await safe_reply(stream, raw.get("text"), batcher)))
    except WebSocketDisconnect:
        return
    finally:
        stream.close()


async def safe_reply(stream: RecognizerStream, text: str | None, batcher: LiveBatcher) -> dict:
    """reply(), with any unexpected failure turned into an error reply: the connection stays usable."""
    try:
        return await reply(stream, text, batcher)
    except Exception:
        log.exception("live frame failed")
        return {"error": "the server could not use this frame; the connection stays open"}


async def reply(stream: RecognizerStream, text: str | None, batcher: LiveBatcher) -> dict:
    start = time.perf_counter()
    try:
        message = decode(text)
        if message.get("reset"):
            stream.reset()
            return {"text": stream.text, "reset": True, "id": message.get("id")}
        update = await batcher.push(stream, message)  # its hands read with the batch's (read_frames)
    except BadMessage as err:
        return {"error": str(err)}
    out = update.to_dict() if "hands" in message else compact_reply(update)
    out["latency_ms"] = round((time.perf_counter() - start) * 1000, 3)
    out["id"] = message.get("id")
    return out


def compact_reply(update: StreamUpdate) -> dict:
    """The reply to a compact message: the TOP_K most likely labels, probabilities to 3 decimals."""
    prediction = update.prediction
    out = {"label": prediction.label, "confidence": round(prediction.confidence, 3),
           "top": [[label, round(p, 3)] for label, p in prediction.top(TOP_K)],
           "has_hand": prediction.has_hand, "text": update.text, "added": update.added}
    if prediction.variant is not None:
        out["variant"] = prediction.variant
    return out
