"""Word signs in a stream: each word written once, when its motion ends, and "no sign" between.

A word model (a sequence model) reads a whole sign, the way it was trained on clips. In a
stream the decoder cuts the signs out by time: a sign begins when a hand comes into view or a
resting hand starts to move, and ends once the hands have rested: out of view for `rest_s`
seconds, or held within STILL hand sizes of one spot for `still_s` seconds (longer: a word
sign often holds its hands still for a second, as in the WL-BISINDO clips). The sign, with the moments of rest around
it, is read once by the model; its word is written when it is a sign of the model (see
`sign_label`), and shown for `show_s` seconds, then "no sign" again. Signing on without a
rest is read in pieces of at most `max_sign_s` seconds (a sliding window). The same decoder
serves `isyarat recognize clip.mp4` and the live page's word mode (both go through
RecognizerStream); everything counts seconds, so a slow device writes the same words.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from isyarat.errors import IsyaratError
from isyarat.runtime.motion import signing_wrist
from isyarat.runtime.smoothing import Prediction

STILL = 0.3  # hand sizes: a wrist that stays within this of one spot is resting (jitter, tremor)
EPS = 1e-6


def sign_label(prediction: Prediction) -> str | None:
    """The label a decoder may write for a prediction: None for "no sign" (no hand, nothing
    above the threshold, or a sign the model rejects as unknown). The letter and word decoders
    both ask this: the one place where a rejected ("unknown sign") prediction becomes "no sign"."""
    return prediction.label


@dataclass(frozen=True)
class WordSettings:
    """Seconds that cut a stream into signs (see the module's docstring)."""

    rest_s: float = 0.4      # hands out of view this long end a sign
    still_s: float = 2.0     # hands held still in view this long end a sign (signs hold 1 s and more)
    min_sign_s: float = 0.3  # a shorter stir of the hands is not a sign
    max_sign_s: float = 4.0  # signing on without rest is read in pieces this long
    show_s: float = 1.0      # a written word is shown this long, then "no sign"

    def __post_init__(self) -> None:
        for name in ("rest_s", "still_s", "min_sign_s", "max_sign_s", "show_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise IsyaratError(f"word decoder: {name} must be seconds >= 0, got {value!r}")
        if self.max_sign_s <= self.min_sign_s:
            raise IsyaratError(f"word decoder: max_sign_s ({self.max_sign_s}) must exceed min_sign_s ({self.min_sign_s})")


@dataclass
class Frame:
    t: float
    hands: np.ndarray
    pose: np.ndarray | None
    wrist: np.ndarray | None  # the signing wrist (x, y), None without a hand
    size: float = 1.0  # the signing hand's size


class WordDecoder:
    """Push each frame's landmarks with its time; `push` returns the frames of a sign that just
    ended (to be read by the word model), then `decide` takes the model's prediction for it."""

    MAX_FRAMES = 600  # frames kept at most (20 s at 30 fps): a client's odd times cannot grow it

    def __init__(self, settings: WordSettings = WordSettings()) -> None:
        self.settings = settings
        self.reset()

    @property
    def _pad(self) -> float:
        return max(self.settings.rest_s, self.settings.still_s)

    def reset(self) -> None:
        self.text = ""
        self._frames: deque[Frame] = deque(maxlen=self.MAX_FRAMES)
        self._sign_start: float | None = None  # time the current sign began, None while resting
        self._now: float | None = None
        self._shown: Prediction | None = None  # the word written last
        self._shown_at = -math.inf

    @property
    def signing(self) -> bool:
        return self._sign_start is not None

    def push(self, hands: np.ndarray, pose: np.ndarray | None, t: float) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Add a frame (hands (2, 21, 3) NaN where absent, pose (33, 4) or None, time in seconds);
        the hands (T, 2, 21, 3) and pose of a sign that ended with this frame, else None."""
        t = float(t) if self._now is None else max(float(t), self._now)
        self._now = t
        seen = signing_wrist(hands)
        wrist = None if seen is None else seen[0]
        self._frames.append(Frame(t, hands, pose, wrist, 1.0 if seen is None else seen[1]))
        self._forget_before(t - self._pad - self.settings.max_sign_s)
        if self._sign_start is None:
            if wrist is not None and not self._resting(t):
                self._sign_start = self._rest_began(t)
            return None
        if self._resting(t) or t - self._sign_start >= self.settings.max_sign_s - EPS:
            return self._end_sign(t)
        return None

    def finish(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The end of a video: the frames of a sign still going (then `decide`), else None."""
        if self._sign_start is None or self._now is None:
            return None
        sign = self._end_sign(self._now)
        self._sign_start = None
        return sign

    def decide(self, prediction: Prediction | None) -> str | None:
        """The model's prediction for the sign `push` just returned (None: it could not be
        read); writes its word when it is one. Returns the word written, if any."""
        word = None if prediction is None else sign_label(prediction)
        if word is None:
            if prediction is not None and prediction.unknown:  # "unknown sign" shows for a moment too
                self._shown, self._shown_at = prediction, self._now
            return None
        self.text += (" " if self.text else "") + word
        self._shown, self._shown_at = prediction, self._now
        return word

    def shown(self) -> Prediction | None:
        """The word to show now: the last one written, for show_s seconds (then "no sign", with
        or without a hand in view: a word never stays up)."""
        if self._shown is None or self._now - self._shown_at > self.settings.show_s + EPS:
            return None
        return self._shown

    def _resting(self, t: float) -> bool:
        """The hands rest: out of view for the last rest_s seconds, or in view in every frame of
        the last still_s seconds with the wrist within STILL hand sizes of one spot (a hold
        inside a sign is shorter than still_s)."""
        if self._none_since(t - self.settings.rest_s):
            return True
        since = t - self.settings.still_s
        if self._frames[0].t > since + EPS:  # not still_s seconds seen yet
            return False
        recent = [f for f in self._frames if f.t >= since - EPS]
        if any(f.wrist is None for f in recent):
            return False
        points = np.stack([f.wrist for f in recent])
        size = max(float(np.median([f.size for f in recent])), 1e-9)
        return float(np.linalg.norm(points - points[0], axis=1).max()) / size < STILL

    def _none_since(self, since: float) -> bool:
        """No hand in any frame since `since` (frames before the stream began count as none)."""
        return all(f.wrist is None for f in self._frames if f.t >= since - EPS)

    def _rest_began(self, t: float) -> float:
        """Where a sign that shows now began: its first frame with a hand after a frame without
        one, else (a resting hand that set off) still_s ago."""
        start, first = t - self.settings.still_s, t
        for f in reversed(self._frames):
            if f.t < start - EPS or f.wrist is None:
                break
            first = f.t
        return first

    def _end_sign(self, t: float) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The frames of the sign (with rest_s of rest before it), and start resting."""
        begin = self._sign_start - self.settings.rest_s
        frames = [f for f in self._frames if f.t >= begin - EPS]
        with_hand = [f.t for f in frames if f.wrist is not None]
        self._sign_start = None
        if not with_hand or with_hand[-1] - with_hand[0] < self.settings.min_sign_s - EPS:
            return None
        if not self._resting(t):  # read in pieces while signing on: the next piece starts now
            self._sign_start = t
        hands = np.stack([f.hands for f in frames])
        poses = [f.pose for f in frames]
        pose = None if any(p is None for p in poses) else np.stack(poses)
        return hands, pose

    def _forget_before(self, t: float) -> None:
        keep_from = t if self._sign_start is None else min(t, self._sign_start - self._pad)
        while len(self._frames) > 1 and self._frames[0].t < keep_from - EPS:
            self._frames.popleft()
