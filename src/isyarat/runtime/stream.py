"""A live stream of frames (or landmarks) -> smoothed predictions -> spelled text."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from isyarat.landmarks.arrays import Landmarks, empty_hands, empty_pose
from isyarat.runtime.smoothing import Prediction, ProbabilitySmoother, no_hand, to_prediction
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
    """A frame pushed into a stream whose model input `x` awaits the model (None: no call needed)."""

    hands: np.ndarray
    pose: np.ndarray | None
    has_hand: bool
    x: np.ndarray | None
    t: float = 0.0


class RecognizerStream:
    """Per-viewer state: the sliding window of the last `frames` landmarks (sequence models),
    probability smoothing, the fingerspelling decoder and a MediaPipe tracker in video mode."""

    def __init__(self, recognizer: "Recognizer", **decoder_settings: float) -> None:
        self.recognizer = recognizer
        self.smoother = ProbabilitySmoother(recognizer.smoothing)
        self.decoder = FingerspellingDecoder(**decoder_settings)
        self._window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=recognizer.config.frames)
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
        needs_model = frame_has_hand or self.recognizer.is_sequence
        x = self.recognizer.features(self._window_landmarks()) if needs_model else None
        if x is not None and not np.isfinite(x).all():  # extreme points: no usable input, so "no sign"
            x = None
        return PendingFrame(hands, pose, frame_has_hand, x, time.monotonic() if t is None else float(t))

    def end_frame(self, frame: PendingFrame, probs: np.ndarray | None) -> StreamUpdate:
        """The second half: the model's probabilities for frame.x (None when frame.x is None)
        -> smoothing -> prediction -> spelled text."""
        if probs is not None and not np.isfinite(probs).all():
            probs = None
        prediction = self._predict(frame.has_hand, probs, frame.t)
        added = self.decoder.push(prediction.label, frame.has_hand, frame.t)
        return StreamUpdate(prediction, self.decoder.text, added, frame.hands, frame.pose)

    def _predict(self, frame_has_hand: bool, probs: np.ndarray | None, t: float) -> Prediction:
        smoothed = self.smoother.push(probs, t)
        if smoothed is None:
            return no_hand()
        prediction = to_prediction(smoothed, self.recognizer.labels, self.recognizer.threshold)
        prediction.has_hand = frame_has_hand
        return prediction

    def _window_landmarks(self) -> Landmarks:
        hands = np.stack([h for h, _ in self._window])
        pose = np.stack([p for _, p in self._window]) if self.recognizer.config.pose else None
        return Landmarks(hands=hands, pose=pose)

    def reset(self) -> None:
        """Forget the text, the window and the smoothing (a new sentence)."""
        self.smoother.reset()
        self.decoder.reset()
        self._window.clear()

    def close(self) -> None:
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None

    def __enter__(self) -> "RecognizerStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
