"""A live viewer's frame message -> landmark arrays: one message (`parse_frame`) or the messages of
a whole batch at once (`read_frames`, what the live server runs). The message forms are described in
isyarat.server.live.

Reading a batch: the hands of every message are converted to one float64 array and checked with a
few numpy reductions for all of them (finite, within +-MAX_COORDINATE, the spread of a degenerate
hand), instead of a dozen numpy calls per message. A message that does not pass goes through
`parse_frame` alone, so what it gets (its error text, or its hands) is what it gets one by one.
"""
from __future__ import annotations

import array
import math
from typing import NamedTuple

import numpy as np

MAX_COORDINATE = 100.0  # normalized image coordinates: a hand partly out of view is a little outside 0..1
# A "hand" whose points all sit at one spot (all zeros, say) has no shape to recognize: its spread
# in x and y (image widths) is below this.
DEGENERATE = 1e-6
NEEDS_POSE = ('this model reads the body pose too: send "pose" (33 [x, y, z, visibility], or null when no '
              "body is in view) with each frame; the page tracks with MediaPipe Holistic for such models")
HAND_VALUES = 63  # 21 points of x, y, z


class BadMessage(ValueError):
    """A client message the server cannot use; its text goes back to the client."""


class Frame(NamedTuple):
    """A frame message read: hands (2, 21, 3) float32 NaN where absent, pose (33, 4) or None, the
    capture time in seconds (None when not sent)."""

    hands: np.ndarray
    pose: np.ndarray | None
    t: float | None


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
    return hands, _pose(message)


def frame_time(message: dict) -> float | None:
    """The frame's capture time in seconds from its "t" (milliseconds), None when not sent."""
    t = message.get("t")
    if t is None:
        return None
    if type(t) is float and math.isfinite(t):  # the usual case, answered without numpy
        return t / 1000.0
    try:
        seconds = float(t) / 1000.0 if isinstance(t, (int, float)) and not isinstance(t, bool) else math.nan
    except OverflowError:  # an integer of hundreds of digits
        seconds = math.nan
    if not math.isfinite(seconds):
        raise BadMessage(f'"t" must be the capture time in milliseconds (a number), got {str(t)[:40]}')
    return seconds


def read_frame(message: dict, needs_pose: bool) -> Frame:
    """One message as the live server reads it: parse_frame, then the pose a body model needs, then "t"."""
    hands, pose = parse_frame(message)
    return _frame(message, hands, pose, needs_pose)


def _frame(message: dict, hands: np.ndarray, pose: np.ndarray | None, needs_pose: bool) -> Frame:
    """The checks after the hands and the pose, in read_frame's order: a body model's pose, then "t"."""
    if needs_pose and "pose" not in message:
        raise BadMessage(NEEDS_POSE)
    return Frame(hands, pose, frame_time(message))


def _pose(message: dict) -> np.ndarray | None:
    pose = message.get("pose")
    return None if pose is None else parse_points(pose, 33, 4, "pose")


# Below this many messages a batch's hands are read one message at a time: numpy's per-call
# overhead (~20 calls for the array path) outweighs what the batch saves (measured: 1 message
# ~40 us as an array vs ~20 alone; 200 messages ~9 us each vs ~25).
FEW = 4


def read_frames(messages: list[dict], needs_pose: bool) -> list[Frame | Exception]:
    """read_frame for each message of a batch: its Frame, or the exception it raises one by one
    (a BadMessage with the same text). The hands of all messages are read as one array."""
    hands, alone = _read_hands(messages) if len(messages) >= FEW else (None, [True] * len(messages))
    out: list[Frame | Exception] = []
    for k, message in enumerate(messages):
        try:
            out.append(read_frame(message, needs_pose) if alone[k] else
                       _frame(message, hands[k], _pose(message), needs_pose))
        except Exception as err:  # this message's own error; the batch goes on
            out.append(err)
    return out


def _read_hands(messages: list[dict]) -> tuple[np.ndarray, list[bool]]:
    """The hands (N, 2, 21, 3) of the messages whose hands are all usable numbers in either form,
    and which messages are to be read alone instead (parse_frame: its error, or what it makes of
    numbers this path does not take, like strings)."""
    n = len(messages)
    values: list = []  # the numbers of every hand taken, 63 each, in order
    places: list[int] = []  # each hand taken: its message's index * 2 + its slot
    alone = [False] * n
    for k, message in enumerate(messages):
        slots, start, taken = _slots(message), len(values), len(places)
        if slots is None:
            alone[k] = True
            continue
        for i, slot in enumerate(slots):
            if slot is None:
                continue
            if not _take_hand(values, slot):
                del values[start:], places[taken:]
                alone[k] = True
                break
            places.append(2 * k + i)
    hands = np.full((n, 2, 21, 3), np.nan, dtype=np.float32)
    if places:
        points, usable, seen = _check_hands(values)
        places_at = np.array(places, dtype=np.intp)
        hands.reshape(2 * n, 21, 3)[places_at[usable & seen]] = points[usable & seen]
        for place in places_at[~usable].tolist():
            alone[place // 2] = True  # a bad number: parse_frame gives its error text
    return hands, alone


def _slots(message: dict) -> list | None:
    """The message's two hand slots, None when parse_frame has to read it (no hands, or "hands" not two)."""
    if "hands" in message:
        slots = message["hands"]
        return slots if type(slots) is list and len(slots) == 2 else None
    if "left" in message or "right" in message:
        return [message.get("left"), message.get("right")]
    return None


def _take_hand(values: list, slot) -> bool:
    """Add a hand's 63 numbers (flat, or 21 lists of 3) to `values`; False when it is neither form
    (whether its entries are numbers the array conversion finds out)."""
    if type(slot) is not list:
        return False
    if len(slot) == HAND_VALUES:
        values += slot
        return True
    if len(slot) != 21 or not all(type(p) is list and len(p) == 3 for p in slot):
        return False
    for p in slot:
        values += p
    return True


def _check_hands(values: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hands in `values` as float32 (M, 21, 3), and per hand: usable (every entry a finite number
    within +-MAX_COORDINATE, as _points requires) and seen (not degenerate), (M,) bools each."""
    m = len(values) // HAND_VALUES
    try:
        flat = np.frombuffer(array.array("d", values), dtype=np.float64)  # float, int or bool: as np.array reads them
    except (TypeError, ValueError, OverflowError):  # a string, a list, an integer beyond float: in which hand?
        return _check_each(values, m)
    points = flat.reshape(m, 21, 3)
    if np.abs(flat).max() <= MAX_COORDINATE:  # every hand finite and within range (NaN compares False)
        usable = np.ones(m, dtype=bool)
    else:
        low, high = points.min(axis=1), points.max(axis=1)  # (M, 3): NaN and infinity show in these too
        usable = np.maximum(-low, high).max(axis=1) <= MAX_COORDINATE
        points = np.where(usable[:, None, None], points, 0.0)  # no overflow or NaN warnings below
    xy = np.ascontiguousarray(points[:, :, :2].transpose(1, 0, 2))  # (21, M, 2): reduced over the points fast
    seen = (xy.max(axis=0) - xy.min(axis=0)).max(axis=1) >= DEGENERATE
    return points.astype(np.float32), usable, seen


def _check_each(values: list, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_check_hands when some hand holds an entry that is no number: that hand is unusable, the
    others are checked together."""
    hand = [values[j * HAND_VALUES:(j + 1) * HAND_VALUES] for j in range(m)]
    numeric = [j for j in range(m) if _numbers(hand[j])]
    points, usable, seen = np.zeros((m, 21, 3), np.float32), np.zeros(m, bool), np.zeros(m, bool)
    if numeric:
        points[numeric], usable[numeric], seen[numeric] = _check_hands([v for j in numeric for v in hand[j]])
    return points, usable, seen


def _numbers(hand: list) -> bool:
    try:
        array.array("d", hand)
        return True
    except (TypeError, ValueError, OverflowError):
        return False
