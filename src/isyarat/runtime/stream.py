"""A live stream of frames (or landmarks) -> smoothed predictions -> spelled text."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from isyarat.features import FeatureConfig
from isyarat.features.pipeline import frame_features
from isyarat.landmarks.arrays import Landmarks, empty_hands, empty_pose
from isyarat.runtime.motion import MotionGate, Point, push_wrists, reach, wrist_points
from isyarat.runtime.smoothing import Prediction, ProbabilitySmoother, no_hand, smooth_rows
from isyarat.runtime.spelling import FingerspellingDecoder, lasted
from isyarat.runtime.words import WordDecoder, sign_label

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
    """A frame pushed into a stream: a word model's input `x` when a sign ended (letter frames'
    inputs go to the model as one array, see _read_frames). A moving hand's probabilities are the
    bundle's motion model's, `probs` (its latest read of the stream's window; None: not finite)."""

    hands: np.ndarray
    pose: np.ndarray | None
    has_hand: bool
    x: np.ndarray | None
    t: float = 0.0
    probs: np.ndarray | None = None
    moving: bool = False
    sign_ended: bool = False  # a word model's sign ended with this frame: x holds the whole sign
    shape: np.ndarray | None = None  # the signing hand's shape, after a moving letter (see _compared_shapes)
    bridged: bool = False  # no hand, but the stream kept the hands last seen (RecognizerStream._kept_hands)


class RecognizerStream:
    """Per-viewer state: the recent landmarks, probability smoothing, the decoder that writes
    the text and a MediaPipe tracker in video mode.

    A letter (frame) model reads every frame and the fingerspelling decoder spells its labels.
    A word (sequence) model reads each sign once, when its motion ends (runtime/words.py).
    With a motion-aware letter bundle, a gate watches the wrist: while the hand travels, the
    motion model reads the window (every MOTION_EVERY_S seconds); once it stops, the frame model
    reads the hand again, and a moving letter just read stays the answer while its end handshape
    is held (the hand that wrote J rests in the I handshape: that is still the J, not a new I)."""

    def __init__(self, recognizer: "Recognizer", **decoder_settings: float) -> None:
        self.recognizer = recognizer
        self.smoother = ProbabilitySmoother(recognizer.smoothing)
        self.words = WordDecoder() if recognizer.is_sequence else None
        self.decoder = FingerspellingDecoder(**decoder_settings)
        motion = recognizer.motion
        self._start_letters = {s for m, s in motion.starts.items() if s != m} if motion else set()
        frames = max(recognizer.config.frames, motion.features.frames if motion else 1)
        self._window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=frames)
        # each window frame's frame-model input, for the motion model's window (None: not made)
        self._rows: deque[np.ndarray | None] = deque(maxlen=frames)
        self._seen_row: np.ndarray | None = None  # that of the hands last seen (a bridged frame keeps them)
        self._wrists: deque[Point | None] = deque(maxlen=frames)  # each window frame's signing wrist (the gate's)
        self._no_row = None if recognizer.takes_pixels else np.zeros(recognizer.config.output_shape, np.float32)
        self.gate = MotionGate(motion.gate) if motion else None
        self._moved_letter: str | None = None  # the moving letter just read
        self._rest_hands: np.ndarray | None = None  # the hands when they were last moving
        self._rest_shape: np.ndarray | None = None  # their shape, found when a still frame is compared with it
        self._setting_off = False  # the wrist is travelling (or the gate is open)
        self._set_off_at = -np.inf  # when the latest travel began
        self._traced: str | None = None  # the moving letter read from its path in the latest frame
        self._frames = 0  # frames pushed: the motion model's reads are counted in them (_motion_due)
        self._motion_read: MotionRead | None = None  # the motion model's latest read of this stream's window
        self._last_seen: tuple[np.ndarray, float] | None = None  # the latest hands seen and their time (_kept_hands)
        self._extractor = None

    @property
    def text(self) -> str:
        return self.words.text if self.words is not None else self.decoder.text

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
        `t` the frame's capture time in seconds (None: now). A batch of one of push_many."""
        return push_many([self], [hands], [pose], [t])[0]

    def _take(self, hands: np.ndarray, pose: np.ndarray | None, t: float | None, has_hand: bool) -> PendingFrame:
        """Add the frame (hands (2, 21, 3) float32; has_hand: whether one is complete) to the
        window: what it holds (a word model's input when its sign ended)."""
        pose = None if pose is None else np.asarray(pose, dtype=np.float32).reshape(33, 4)
        self._frames += 1
        now = time.monotonic() if t is None else float(t)
        kept, bridged = self._kept_hands(hands, has_hand, now)
        self._window.append((kept, _EMPTY_POSE if pose is None else pose))
        self._rows.append(self._seen_row if bridged else None if has_hand else self._no_row)  # seen: _keep_row
        if self.words is not None:
            return self._begin_word_frame(hands, pose, has_hand, now)
        return PendingFrame(hands, pose, has_hand, None, now, bridged=bridged)

    def _kept_hands(self, hands: np.ndarray, has_hand: bool, now: float) -> tuple[np.ndarray, bool]:
        """The hands a motion-aware stream keeps for this frame, and whether it bridged a miss: a frame
        in which the tracker missed the hand less than the decoder's bridge_s after it was last seen
        keeps those hands (the hand stayed where it was), so the wrist's path, its reach and the
        motion model's window go on through a blurred frame instead of breaking there. The frame
        itself is still read as no hand."""
        if self.gate is None:
            return hands, False
        if has_hand:
            self._last_seen = (hands, now)
            return hands, False
        if self._last_seen is not None and not lasted(self._last_seen[1], now, self.decoder.bridge_s):
            return self._last_seen[0], True
        return hands, False

    def _begin_word_frame(self, hands: np.ndarray, pose: np.ndarray | None, has_hand: bool,
                          now: float) -> PendingFrame:
        """A word model's frame: the model reads a sign once, when the word decoder says it ended."""
        if self.recognizer.config.pose:
            pose = _EMPTY_POSE if pose is None else pose  # as the sliding window stores it
        sign = self.words.push(hands, pose if self.recognizer.config.pose else None, now)
        x = None if sign is None else self.recognizer.features(Landmarks(*sign))
        if x is not None and not np.isfinite(x).all():
            x = None
        return PendingFrame(hands, pose, has_hand, x, now, sign_ended=sign is not None)

    def end_frame(self, frame: PendingFrame, probs: np.ndarray | None) -> StreamUpdate:
        """The second half: the model's probabilities for frame.x (None when frame.x is None)
        -> smoothing -> prediction -> spelled text."""
        probs = probs if probs is None or np.isfinite(probs).all() else None  # not finite: no usable output
        if self.words is not None:
            return self._end_word_frame(frame, probs)
        if frame.moving and frame.probs is not None and not np.isfinite(frame.probs).all():
            frame.probs = None
        return self._end_letter_frame(frame, _letter_predictions([self], [frame], [probs])[0])

    def _end_letter_frame(self, frame: PendingFrame, prediction: Prediction) -> StreamUpdate:
        """A letter model's frame, its smoothed prediction made: the letter it spells, if any."""
        if self.gate is None:
            added = self.decoder.push(sign_label(prediction), frame.has_hand, frame.t)
            return StreamUpdate(prediction, self.decoder.text, added, frame.hands, frame.pose)
        self._track_setting_off(frame.t)
        settled = self._keep_moving_letter(prediction, frame)
        label = sign_label(prediction)
        traced = label in self.recognizer.motion.starts and (frame.moving or label == self._moved_letter) \
            and self._reached()
        self._traced = label if traced else None
        added = self._push_letter(label, frame.has_hand, frame.t, settled, MOVING_HOLD_S if traced else None)
        return StreamUpdate(prediction, self.decoder.text, added, frame.hands, frame.pose)

    def _push_letter(self, label: str | None, has_hand: bool, t: float, settled: bool,
                     hold_s: float | None) -> str | None:
        """The decoder's push; a moving letter written takes back its start handshape written
        just before the path set off (the I that began the J)."""
        added = self.decoder.push(label, has_hand, t, settled, hold_s)
        if added and label == self._traced:
            motion = self.recognizer.motion
            self.decoder.supersede(motion.starts[label], self._set_off_at - motion.setoff(label))
        return added

    def _reached(self) -> bool:
        """Whether the wrist went somewhere over the motion model's window (MIN_REACH): only then
        is a moving letter written at a glance; one read on a shaking hand needs the usual hold.
        The window's wrists are those the gate saw (_read_frames keeps them)."""
        return reach(list(self._wrists)[-self.recognizer.motion.features.frames:]) >= MIN_REACH

    def _track_setting_off(self, t: float) -> None:
        setting_off = self.gate.moving or self.gate.travel >= STARTING
        if setting_off and not self._setting_off:
            self._set_off_at = t
        self._setting_off = setting_off

    def _end_word_frame(self, frame: PendingFrame, probs: np.ndarray | None) -> StreamUpdate:
        """A sign just ended (frame.sign_ended): its word is written; the frames show it for a
        moment (WordSettings.show_s), else "no sign"."""
        added = self._read_sign(probs) if frame.sign_ended else None
        shown = self.words.shown()
        if shown is None:
            prediction = Prediction(None, 0.0, {}, has_hand=frame.has_hand)
        else:
            prediction = Prediction(shown.label, shown.confidence, dict(shown.probabilities), frame.has_hand,
                                    shown.variant, shown.unknown)
        return StreamUpdate(prediction, self.words.text, added, frame.hands, frame.pose)

    def _read_sign(self, probs: np.ndarray | None) -> str | None:
        """The word model's probabilities for a whole sign -> the text it adds, if any."""
        before = len(self.words.text)
        self.words.decide(None if probs is None else self.recognizer.decide(probs))
        return self.words.text[before:] or None

    def finish(self) -> str | None:
        """The end of a video: a word model reads the sign still going, if any, and a moving
        letter the motion model was reading as the video ended is written (its path is done).
        A live stream needs no finish: the hands rest after a sign. Returns the text it adds."""
        if self._traced is not None and self.decoder.now is not None:
            return self._push_letter(self._traced, True, self.decoder.now, True, 0.0)
        sign = None if self.words is None else self.words.finish()
        if sign is None:
            return None
        x = self.recognizer.features(Landmarks(*sign))
        probs = None if x is None else self.recognizer.bundle.model.predict(x[None])[0]
        return self._read_sign(probs if probs is not None and np.isfinite(probs).all() else None)

    def _keep_moving_letter(self, prediction: Prediction, frame: PendingFrame) -> bool:
        """After the motion model read a moving letter, it stays the answer while the hand keeps
        the shape it ended in (the hand that wrote J rests, turned, in the I handshape: that is
        still the J). Returns whether the hand has settled: False while a moving letter's start
        handshape (I for J, D for Z) sets off on a path, so the decoder does not write the I
        that begins a J (one written just before is superseded when the J is read)."""
        starts = self.recognizer.motion.starts
        shape = frame.shape
        if frame.bridged:  # the tracker missed the hand for a moment: nothing changed
            return True
        if frame.moving:
            if prediction.label is not None:  # a moving hand read as a still letter clears it
                self._moved_letter = prediction.label if prediction.label in starts else None
            self._rest_hands, self._rest_shape = frame.hands, None
            return True
        if self._moved_letter is not None:
            if _same_shape(shape, self._rest_shape):
                prediction.label = self._moved_letter
                return True
            self._moved_letter = None
        setting_off = self.gate.travel >= STARTING
        return not (setting_off and prediction.label in self._start_letters)

    def _motion_due(self, t: float) -> bool:
        """Whether the motion model reads the window of this moving frame (at time t, seconds): on
        the first frame of a moving run, then once MOTION_EVERY_S of frame time has passed since its
        latest read (every 3rd frame at 30 fps, every 2nd at 15-20 fps) or MOTION_EVERY_MAX frames
        (a clock that stalls or jumps back); the frames between take its latest read (nearby
        frames' windows share all frames but a few). Counted in the stream's own frames and times,
        so a stream reads the same frames in any batch; a frame without a hand, a closed gate or a
        reset ends the run."""
        read = self._motion_read
        return (read is None or read.last != self._frames - 1 or t - read.t >= MOTION_EVERY_S
                or self._frames - read.at >= MOTION_EVERY_MAX)

    def _keep_row(self, row: np.ndarray) -> None:
        """The frame model's input for this stream's latest frame (one with a hand)."""
        self._rows[-1] = self._seen_row = row

    def _window_rows(self, frames: int) -> list[np.ndarray] | None:
        """The frame model's inputs of the window's latest `frames` frames, when each frame with a
        hand has one (sequence_features' `rows`)."""
        recent = list(self._rows)[-frames:]
        return None if any(row is None for row in recent) else recent

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
        self._rows.clear()
        self._seen_row = None
        self._wrists.clear()
        self._moved_letter, self._rest_hands, self._rest_shape = None, None, None
        self._setting_off, self._set_off_at, self._traced = False, -np.inf, None
        self._motion_read, self._last_seen = None, None
        if self.words is not None:
            self.words.reset()
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


@dataclass
class MotionRead:
    """The motion model's latest read of a stream's window: the probabilities (None: not finite),
    the stream's frame it was read at and its latest moving frame since (RecognizerStream._frames),
    and that frame's time."""

    probs: np.ndarray | None
    at: int
    last: int
    t: float  # seconds


# A moving hand's window is read every MOTION_EVERY_S of frame time (_motion_due): bench/motion.py,
# held-out hands and paths: at 30 fps every 3rd frame writes the letters every 2nd frame did, at 15 fps
# every 3rd frame missed J's that every 2nd did not, so the stride is time, not frames.
MOTION_EVERY_S = 0.09
MOTION_EVERY_MAX = 6  # frames: the stride's bound when frame times stall
MOVING_HOLD_S = 0.1  # a letter the motion model read from its path: a short hold writes it
MIN_REACH = 0.9  # hand sizes the wrist must get from where it set off for that (a shake: at most ~0.7)


_SHAPE = FeatureConfig(shape="frame", hands="one")  # the signing hand, wrist-centred, in hand sizes
STARTING = 0.3  # net wrist travel (hand sizes) over the gate's window that may be a path setting off
SAME_SHAPE = 0.25  # mean landmark distance (hand sizes) below which a hand kept its shape


def _hand_shapes(hands: np.ndarray) -> np.ndarray:
    """(B, 2, 21, 3) frames, each with a hand -> (B, 21, 3) the shape of each one's signing hand
    (left hands mirrored)."""
    return frame_features(hands, None, _SHAPE).reshape(len(hands), 21, 3)


_EMPTY_POSE = empty_pose()[0]
_EMPTY_POSE.flags.writeable = False  # shared by every window that stores a frame without a pose


def push_many(streams: list[RecognizerStream], hands: list[np.ndarray], poses: list[np.ndarray | None] | None = None,
              times: list[float | None] | None = None) -> list[StreamUpdate]:
    """One frame for each of many streams of one recognizer (the live server's viewers whose frames
    came together; `hands` a list of (2, 21, 3) or one (N, 2, 21, 3) array): the motion gates, the
    features, one call of each model, every stream's smoothing and the decisions for all of them as
    arrays, then each stream's own decoder. Each stream gets what it gets alone; a single stream is
    a batch of one (push_landmarks)."""
    recognizer = streams[0].recognizer
    if any(s.recognizer is not recognizer for s in streams):
        raise ValueError("push_many takes streams of one recognizer")
    n = len(streams)
    poses, times = poses or [None] * n, times or [None] * n
    hands = np.ascontiguousarray(hands, dtype=np.float32).reshape(n, 2, 21, 3)  # each stream's window keeps its row
    present = np.isfinite(hands).all(axis=(2, 3))  # (n, 2): each hand complete
    has_hand = present.any(axis=1).tolist()
    frames = [s._take(h, p, t, seen) for s, h, p, t, seen in zip(streams, hands, poses, times, has_hand)]
    if streams[0].words is not None:
        probs = _run_model(recognizer, [i for i, f in enumerate(frames) if f.x is not None],
                           [f.x for f in frames if f.x is not None], n)
        return [s.end_frame(f, p) for s, f, p in zip(streams, frames, probs)]
    probs = _run_model(recognizer, *_read_frames(recognizer, streams, frames, hands, present), n)
    predictions = _letter_predictions(streams, frames, probs)
    return [s._end_letter_frame(f, p) for s, f, p in zip(streams, frames, predictions)]


def _letter_predictions(streams: list[RecognizerStream], frames: list[PendingFrame],
                        probs: list[np.ndarray | None]) -> list[Prediction]:
    """Letter streams: each frame's probabilities (the motion model's for a moving hand; None: no
    usable input or output, which the callers check finite) -> each stream's smoothing -> the
    recognizer's decision, every stream's in one call."""
    chosen = [f.probs if f.moving else p for f, p in zip(frames, probs)]
    rows, smoothed = smooth_rows([s.smoother for s in streams], chosen, [f.t for f in frames])
    predictions = [no_hand() if p is None else None for p in chosen]
    if rows:
        if not isinstance(smoothed, np.ndarray):  # smoothed one by one (a lone stream): its mean as a row
            smoothed = smoothed[0][None] if len(smoothed) == 1 else np.stack(smoothed)
        for i, prediction in zip(rows, streams[0].recognizer.decide_many(smoothed)):
            prediction.has_hand = frames[i].has_hand
            predictions[i] = prediction
    return predictions


def _read_frames(recognizer: "Recognizer", streams: list[RecognizerStream], frames: list[PendingFrame],
                 hands: np.ndarray, present: np.ndarray) -> tuple[list[int], np.ndarray | None]:
    """Letter streams: each gate sees its frame (hands (N, 2, 21, 3), present (N, 2) its complete
    hands; a frame that bridged a missed hand shows the wrist last seen); moving hands go to the
    motion model (one call, finite rows kept), the other frames with a hand get the frame model's
    input (one features call). Returns the frames whose input is usable and those inputs
    (R, *input_shape), for _run_model."""
    seen = [i for i, f in enumerate(frames) if f.has_hand]
    if seen and len(seen) < len(frames):
        hands, present = hands[seen], present[seen]
    moving = set()
    if recognizer.motion is not None:
        wrists = dict(zip(seen, wrist_points(hands, present))) if seen else {}
        shown = [wrists[i] if i in wrists else _bridged_wrist(stream, frame)
                 for i, (stream, frame) in enumerate(zip(streams, frames))]  # before this frame's is kept
        opened = push_wrists([stream.gate for stream in streams], shown)
        for stream, wrist in zip(streams, shown):
            stream._wrists.append(wrist)
        moving = {i for i, now in enumerate(opened) if now and i in wrists}
        if seen:
            _compared_shapes(streams, frames, seen, hands, moving)
    if not seen:
        return [], None
    pose = np.stack([streams[i]._window[-1][1] for i in seen]) if recognizer.config.pose else None
    x = None
    if moving:
        if len(moving) < len(seen) and recognizer.reuses_frame_rows:  # the still frames' call, the moving ones in it
            x = _frame_inputs(recognizer, streams, seen, hands, pose)
        _read_motion(recognizer, streams, frames, sorted(moving))
    still = [k for k, i in enumerate(seen) if i not in moving]
    if not still:
        return [], None
    if x is None:
        every = len(still) == len(seen)
        x = _frame_inputs(recognizer, streams, [seen[k] for k in still], hands if every else hands[still],
                          None if pose is None or every else pose[still])
    elif len(still) < len(seen):
        x = x[still]
    usable = np.isfinite(x.reshape(len(x), -1)).all(axis=1)  # extreme points: no usable input, so "no sign"
    if usable.all():
        return [seen[k] for k in still], x
    return [seen[k] for k, ok in zip(still, usable.tolist()) if ok], x[usable]


def _frame_inputs(recognizer: "Recognizer", streams: list[RecognizerStream], rows: list[int], hands: np.ndarray,
                  pose: np.ndarray | None) -> np.ndarray:
    """The frame model's inputs of the frames `rows` of a batch (`hands` and `pose` theirs), in one
    call; each is kept with its stream's window where the motion model's windows can take it
    (sequence_features' rows: a window read every other frame then computes only what is new)."""
    x = recognizer.frame_inputs(hands, pose)
    if recognizer.reuses_frame_rows:
        for i, row in zip(rows, x):
            streams[i]._keep_row(row)
    return x


def _read_motion(recognizer: "Recognizer", streams: list[RecognizerStream], frames: list[PendingFrame],
                 rows: list[int]) -> None:
    """The moving frames `rows`: the motion model reads the windows of those due (one call, finite
    rows kept); the others take their stream's latest read (RecognizerStream._motion_due)."""
    due = [i for i in rows if streams[i]._motion_due(frames[i].t)]
    read: dict[int, np.ndarray | None] = {}
    if due:
        frames_read = recognizer.motion.features.frames
        kept = [streams[i]._window_rows(frames_read) for i in due] if recognizer.reuses_frame_rows else None
        probs = recognizer.motion_probabilities_many([streams[i]._window_landmarks(frames_read) for i in due], kept)
        read = {i: p if ok else None for i, p, ok in zip(due, probs, np.isfinite(probs).all(axis=1).tolist())}
    for i in rows:
        stream = streams[i]
        if i in read:
            stream._motion_read = MotionRead(read[i], stream._frames, stream._frames, frames[i].t)
        stream._motion_read.last = stream._frames
        frames[i].probs, frames[i].moving = stream._motion_read.probs, True


def _bridged_wrist(stream: RecognizerStream, frame: PendingFrame) -> Point | None:
    """The wrist a frame that bridged a missed hand shows the gate: where the hand was last seen,
    which the stream's previous frame showed too (that frame, or one that bridged it as well)."""
    return stream._wrists[-1] if frame.bridged else None


def _compared_shapes(streams: list[RecognizerStream], frames: list[PendingFrame], seen: list[int],
                     hands: np.ndarray, moving: set[int]) -> None:
    """The hand shapes _keep_moving_letter compares after a moving letter, in one call: each still
    frame's (hands[k] is frame seen[k]'s) and, once, the shape its stream's hand rested in when it
    last moved. Streams without a moving letter just read need none."""
    compared = [k for k, i in enumerate(seen) if i not in moving and streams[i]._moved_letter is not None]
    if not compared:
        return
    resting = [seen[k] for k in compared if streams[seen[k]]._rest_shape is None]
    shaped = hands[compared]
    if resting:
        shaped = np.concatenate([shaped, np.stack([streams[i]._rest_hands for i in resting])])
    shapes = _hand_shapes(shaped)
    for k, shape in zip(compared, shapes):
        frames[seen[k]].shape = shape
    for i, shape in zip(resting, shapes[len(compared):]):
        streams[i]._rest_shape = shape


def _run_model(recognizer: "Recognizer", rows: list[int], x: np.ndarray | list[np.ndarray] | None,
               n: int) -> list[np.ndarray | None]:
    """The bundle's model for the frames `rows` of a batch of n, inputs x (one row each), in one
    call; a frame without an input, or whose output is not finite, gets None."""
    from isyarat.runtime.recognizer import predict_rows  # recognizer.py imports this module

    probs: list[np.ndarray | None] = [None] * n
    if rows:
        out = predict_rows(recognizer.bundle.model, x if isinstance(x, np.ndarray) else np.stack(x))
        for i, p, ok in zip(rows, out, np.isfinite(out).all(axis=1).tolist()):
            probs[i] = p if ok else None
    return probs


def _same_shape(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is not None and b is not None and float(np.linalg.norm(a - b, axis=1).mean()) < SAME_SHAPE
