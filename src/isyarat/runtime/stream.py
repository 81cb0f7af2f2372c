"""A live stream of frames (or landmarks) -> smoothed predictions -> spelled text."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from isyarat.features import FeatureConfig, make_features
from isyarat.landmarks.arrays import Landmarks, empty_hands, empty_pose
from isyarat.runtime.motion import MotionGate
from isyarat.runtime.smoothing import Prediction, ProbabilitySmoother, no_hand
from isyarat.runtime.spelling import FingerspellingDecoder

if TYPE_CHECKING:
    from isyarat.runtime.recognizer import Recognizer


@dataclass
class StreamUpdate:
    """The result of one frame: its prediction, the text so far, what this frame added, and the
    frame's landmarks (for drawing)."""

    prediction: Prediction
    text: str
    added: str | None
    hands: np.ndarray
    pose: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {**self.prediction.to_dict(), "text": self.text, "added": self.added}


@dataclass
class PendingFrame:
    """A frame pushed into a stream whose model input `x` awaits the model (None: no call needed).
    A moving hand was read by the bundle's motion model already: its probabilities are `probs`."""

    hands: np.ndarray
    pose: np.ndarray | None
    has_hand: bool
    x: np.ndarray | None
    t: float = 0.0
    probs: np.ndarray | None = None
    moving: bool = False


class RecognizerStream:
    """Per-viewer state: the sliding window of the last `frames` landmarks (sequence models),
    probability smoothing, the fingerspelling decoder and a MediaPipe tracker in video mode.

    With a motion-aware bundle, a gate watches the wrist: while the hand travels, the motion
    model reads the window; once it stops, the frame model reads the hand again, and a moving
    letter just read stays the answer while its end handshape is held (the hand that wrote J
    rests in the I handshape: that is still the J, not a new I)."""

    def __init__(self, recognizer: "Recognizer", **decoder_settings: float) -> None:
        self.recognizer = recognizer
        self.smoother = ProbabilitySmoother(recognizer.smoothing)
        self.decoder = FingerspellingDecoder(**decoder_settings)
        motion = recognizer.motion
        frames = max(recognizer.config.frames, motion.features.frames if motion else 1)
        self._window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=frames)
        self.gate = MotionGate(motion.gate) if motion else None
        self._moved_letter: str | None = None  # the moving letter just read
        self._rest_shape: np.ndarray | None = None  # the hand's shape when it was last moving
        self._start_run = 0  # frames in a row read as a moving letter's start handshape
        self._shown: str | None = None  # the last letter this stream reported while a hand was in view
        self._extractor = None

    @property
    def text(self) -> str:
        return self.decoder.text

    def push_frame(self, bgr: np.ndarray, t: float | None = None) -> StreamUpdate:
        """Find the landmarks of one camera frame (BGR, un-mirrored) and push them; `t` is the
        frame's capture time in seconds (None: now), which the spelling decoder counts in."""
        if self.recognizer.takes_pixels:
            return self._push_pixels(bgr, t)
        hands, pose = self.recognizer.extract(self._tracker(), bgr)
        return self.push_landmarks(hands, pose, t)

    def _tracker(self):
        if self._extractor is None:
            self._extractor = self.recognizer.new_extractor(static=False)
        return self._extractor

    def _push_pixels(self, bgr: np.ndarray, t: float | None = None) -> StreamUpdate:
        """A pixel model's frame: hands tracked only when the bundle crops to them; the model
        always sees the frame (the whole frame when no hand was found)."""
        from PIL import Image

        crops = self.recognizer.input.crops_hands
        hands = self.recognizer.extract(self._tracker(), bgr)[0] if crops else empty_hands()[0]
        rgb = Image.fromarray(np.ascontiguousarray(bgr[..., ::-1]))
        probs = self.recognizer.pixel_probabilities(rgb, hands if crops else None)
        return self.end_frame(PendingFrame(hands, None, True, None, time.monotonic() if t is None else float(t)), probs)

    def push_landmarks(self, hands: np.ndarray, pose: np.ndarray | None = None,
                       t: float | None = None) -> StreamUpdate:
        """Push one frame of landmarks: hands (2, 21, 3) NaN where absent, pose (33, 4) or None,
        `t` the frame's capture time in seconds (None: now)."""
        frame = self.begin_frame(hands, pose, t)
        probs = None if frame.x is None else self.recognizer.bundle.model.predict(frame.x[None])[0]
        return self.end_frame(frame, probs)

    def begin_frame(self, hands: np.ndarray, pose: np.ndarray | None = None,
                    t: float | None = None) -> PendingFrame:
        """The first half of push_landmarks: add the frame to the window and make the model's
        input. The server runs the model for many streams' pending frames in one call."""
        hands = np.asarray(hands, dtype=np.float32).reshape(2, 21, 3)
        pose = None if pose is None else np.asarray(pose, dtype=np.float32).reshape(33, 4)
        self._window.append((hands, empty_pose()[0] if pose is None else pose))
        frame_has_hand = bool(np.isfinite(hands).all(axis=(1, 2)).any())
        now = time.monotonic() if t is None else float(t)
        if self.gate is not None and self.gate.push(hands) and frame_has_hand:
            window = self._window_landmarks(self.recognizer.motion.features.frames)
            return PendingFrame(hands, pose, True, None, now, self.recognizer.motion_probabilities(window), moving=True)
        needs_model = frame_has_hand or self.recognizer.is_sequence
        x = self.recognizer.features(self._window_landmarks(self.recognizer.config.frames)) if needs_model else None
        if x is not None and not np.isfinite(x).all():  # extreme points: no usable input, so "no sign"
            x = None
        return PendingFrame(hands, pose, frame_has_hand, x, now)

    def end_frame(self, frame: PendingFrame, probs: np.ndarray | None) -> StreamUpdate:
        """The second half: the model's probabilities for frame.x (None when frame.x is None)
        -> smoothing -> prediction -> spelled text."""
        if probs is not None and not np.isfinite(probs).all():
            probs = None
        prediction = self._predict(frame.has_hand, frame.probs if frame.moving else probs, frame.t)
        if self.gate is not None:
            self._keep_moving_letter(prediction, frame)
            self._shown = prediction.label or self._shown  # the letter on screen (still held: no new delay)
        added = self.decoder.push(prediction.label, frame.has_hand, frame.t)
        return StreamUpdate(prediction, self.decoder.text, added, frame.hands, frame.pose)

    def _predict(self, frame_has_hand: bool, probs: np.ndarray | None, t: float) -> Prediction:
        smoothed = self.smoother.push(probs, t)
        if smoothed is None:
            return no_hand()
        prediction = self.recognizer.decide(smoothed)
        prediction.has_hand = frame_has_hand
        return prediction

    def _keep_moving_letter(self, prediction: Prediction, frame: PendingFrame) -> None:
        """Two rules around moving letters. After the motion model read one, it stays the answer
        while the hand keeps the shape it ended in (the hand that wrote J rests, turned, in the I
        handshape: that is still the J). And a moving letter's start handshape (I for J, D for
        Z) is passed on only once it has been seen for the gate's window with the wrist not
        setting off (net travel over the window below STARTING): the I that begins a J is not
        written as an I."""
        starts = self.recognizer.motion.starts
        shape = _hand_shape(frame.hands)
        self._shown = self._shown if prediction.has_hand else None
        if frame.moving:
            if prediction.label is not None:  # a moving hand read as a still letter clears it
                self._moved_letter = prediction.label if prediction.label in starts else None
            self._rest_shape, self._start_run = shape, 0
            return
        if self._moved_letter is not None:
            if _same_shape(shape, self._rest_shape):
                prediction.label = self._moved_letter
                return
            self._moved_letter = None
        if prediction.label in starts.values() and prediction.label != self._shown:
            self._start_run += 1
            settling = self._start_run < self.gate.settings.window or self.gate.travel >= STARTING
            if settling:  # seen too briefly, or the wrist is already travelling: maybe a J starting
                prediction.label = None
        else:
            self._start_run = 0

    def _window_landmarks(self, frames: int | None = None) -> Landmarks:
        recent = list(self._window)[-frames:] if frames else list(self._window)
        hands = np.stack([h for h, _ in recent])
        pose = np.stack([p for _, p in recent]) if self.recognizer.config.pose else None
        return Landmarks(hands=hands, pose=pose)

    def reset(self) -> None:
        """Forget the text, the window and the smoothing (a new sentence)."""
        self.smoother.reset()
        self.decoder.reset()
        self._window.clear()
        self._moved_letter, self._rest_shape, self._start_run, self._shown = None, None, 0, None
        if self.gate is not None:
            self.gate.reset()

    def close(self) -> None:
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None

    def __enter__(self) -> "RecognizerStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_SHAPE = FeatureConfig(kind="frame", hands="one")  # the signing hand, wrist-centred, in hand sizes
STARTING = 0.3  # net wrist travel (hand sizes) over the gate's window that may be a path setting off
SAME_SHAPE = 0.25  # mean landmark distance (hand sizes) below which a hand kept its shape


def _hand_shape(hands: np.ndarray) -> np.ndarray | None:
    """(21, 3) shape of the signing hand (left hands mirrored), or None without a hand."""
    if not np.isfinite(hands).all(axis=(1, 2)).any():
        return None
    return make_features(Landmarks(hands[None]), _SHAPE).reshape(21, 3)


def _same_shape(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is not None and b is not None and float(np.linalg.norm(a - b, axis=1).mean()) < SAME_SHAPE
