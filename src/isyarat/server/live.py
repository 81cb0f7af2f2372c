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
from fastapi import WebSocket, WebSocketDisconnect

from isyarat.runtime.recognizer import Recognizer
from isyarat.runtime.stream import RecognizerStream, StreamUpdate
from isyarat.server.batching import LiveBatcher

MAX_MESSAGE_BYTES = 64 * 1024
UNKNOWN_MODEL = 1008  # WebSocket close code: policy violation
MAX_COORDINATE = 100.0  # normalized image coordinates: a hand partly out of view is a little outside 0..1
MAX_ID_CHARS = 128
TOP_K = 5  # labels in a compact reply: the page shows five bars
NEEDS_POSE = ('this model reads the body pose too: send "pose" (33 [x, y, z, visibility], or null when no '
              "body is in view) with each frame; the page tracks with MediaPipe Holistic for such models")
log = logging.getLogger("isyarat.live")


class BadMessage(ValueError):
    """A client message the server cannot use; its text goes back to the client."""


def parse_points(value, n_points: int, n_values: int, what: str) -> np.ndarray:
    """A list of n_points lists of n_values numbers (nested) or of n_points * n_values numbers (flat)."""
    return _points(value, n_points, n_values, what)[0]


def _points(value, n_points: int, n_values: int, what: str) -> tuple[np.ndarray, list[float]]:
    """parse_points, and the points' spread in x and y (a hand with none is degenerate)."""
    try:
        points = np.array(value, dtype=np.float64)  # JSON's numbers as they are: no overflow to catch
    except Exception:  # TypeError, ValueError, OverflowError (a 400-digit integer) ...
        raise BadMessage(f"{what} must be {_shape_words(value, n_points, n_values)}") from None
    if points.shape == (n_points * n_values,):
        points = points.reshape(n_points, n_values)
    if points.shape != (n_points, n_values):
        raise BadMessage(f"{what} must be {_shape_words(value, n_points, n_values)} finite numbers, got shape {points.shape}")
    low, high = points.min(axis=0).tolist(), points.max(axis=0).tolist()  # NaN and infinity show in these too
    if not all(map(math.isfinite, low + high)):
        raise BadMessage(f"{what} must be {_shape_words(value, n_points, n_values)} finite numbers")
    if max(-min(low), max(high)) > MAX_COORDINATE:
        raise BadMessage(f"{what} has a coordinate beyond +-{MAX_COORDINATE:g}: send normalized image "
                         "coordinates (0 to 1 across the image)")
    return points.astype(np.float32), [high[0] - low[0], high[1] - low[1]]


def _shape_words(value, n_points: int, n_values: int) -> str:
    nested = isinstance(value, list) and bool(value) and isinstance(value[0], list)
    return f"{n_points} lists of {n_values}" if nested else f"{n_points * n_values} numbers (or {n_points} lists of {n_values})"


# A "hand" whose points all sit at one spot (all zeros, say) has no shape to recognize: its spread
# in x and y (image widths) is below this.
DEGENERATE = 1e-6


def parse_frame(message: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """A frame message, compact or nested -> hands (2, 21, 3) NaN where absent, pose (33, 4) or None."""
    if "hands" in message:
        slots = message["hands"]
        if not isinstance(slots, list) or len(slots) != 2:
            raise BadMessage('"hands" must be a list of two entries: [left hand or null, right hand or null]')
    elif "left" in message or "right" in message:
        slots = [message.get("left"), message.get("right")]
    else:
        raise BadMessage('send the hands: {"left": [63 numbers] or null, "right": [63 numbers] or null} '
                         '(or "hands": [left or null, right or null])')
    hands = np.full((2, 21, 3), np.nan, dtype=np.float32)
    for i, (slot, name) in enumerate(zip(slots, ("left", "right"))):
        if slot is not None:
            points, spread = _points(slot, 21, 3, f"the {name} hand")
            if max(spread) >= DEGENERATE:
                hands[i] = points
    pose = message.get("pose")
    return hands, None if pose is None else parse_points(pose, 33, 4, "pose")


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


def frame_time(message: dict) -> float | None:
    """The frame's capture time in seconds from its "t" (milliseconds), None when not sent."""
    t = message.get("t")
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t):
        raise BadMessage(f'"t" must be the capture time in milliseconds (a number), got {t!r}')
    return float(t) / 1000.0


def decode(text: str | None) -> dict:
    if text is None:
        raise BadMessage("send JSON text messages, not binary")
    if len(text) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message of {len(text)} characters is over the {MAX_MESSAGE_BYTES} limit; send one frame per message")
    try:
        message = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadMessage(f"not valid JSON ({err.msg})") from None
    except (RecursionError, ValueError):  # nested too deeply; an integer of thousands of digits
        raise BadMessage("not usable JSON (nested too deeply or a number too long): send one frame per message") from None
    if not isinstance(message, dict):
        raise BadMessage('send a JSON object like {"hands": [null, [[x, y, z], ...]]}')
    check_id(message.get("id"))
    return message


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


_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))  # made once, not per reply


def to_json(reply: dict) -> str:
    """The reply as strict JSON; a value that is not finite (it should never happen) becomes an error reply."""
    try:
        return _ENCODER.encode(reply)
    except (ValueError, TypeError):
        log.warning("a reply held a non-finite value: %r", reply)
        return json.dumps({"error": "no usable prediction for this frame", "id": reply.get("id")})


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
        hands, pose = parse_frame(message)
        if stream.recognizer.config.pose and "pose" not in message:
            raise BadMessage(NEEDS_POSE)
        t = frame_time(message)
    except BadMessage as err:
        return {"error": str(err)}
    update = await batcher.push(stream, hands, pose, t)
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
