"""The one object users need: `Recognizer.load(name_or_path)` then predict images, videos, streams.

A bundle's model reads landmark features or pixels (its `input`); the Recognizer runs both: for
a pixel model it crops the photo around the hands MediaPipe finds when the bundle says so, then
applies the training run's evaluation transform (`isyarat.images.crop_and_transform`).
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isyarat.errors import IsyaratError
from isyarat.export.bundle import Bundle, load_bundle
from isyarat.features import FeatureConfig, has_signal, make_features
from isyarat.features.pipeline import frame_features, same_frame_vectors, sequence_features
from isyarat.landmarks.arrays import Landmarks
from isyarat.landmarks.settings import ExtractSettings
from isyarat.runtime.inputs import list_inputs, media_of
from isyarat.runtime.motion import clip_moved
from isyarat.runtime.smoothing import Prediction, no_hand, to_prediction, to_predictions
from isyarat.runtime.stream import RecognizerStream, StreamUpdate
from isyarat.shipped_models import SHIPPED_DIR, list_shipped, resolve_bundle  # noqa: F401  (re-exported)


@dataclass
class VideoResult:
    """A whole video: per-frame (streamed) predictions, the text they spell, and one label for the
    video (sequence models: the clip resampled to the model's length; frame models: the mean)."""

    frames: list[Prediction]
    text: str
    label: str | None
    confidence: float = 0.0
    probabilities: dict[str, float] = field(default_factory=dict)
    unknown: bool = False  # the clip is a sign outside the model's vocabulary (open-set bundles)

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "text": self.text, "unknown": self.unknown,
                "probabilities": self.probabilities, "n_frames": len(self.frames),
                "frames_with_hand": sum(p.has_hand for p in self.frames)}


def _extract_settings(bundle: Bundle, config: FeatureConfig) -> ExtractSettings:
    """The extraction settings the model's training data was read with (border, confidence)."""
    return bundle.extract.for_model(pose=config.pose and not bundle.input.pixels)


def predict_rows(model, x: np.ndarray) -> np.ndarray:
    """model.predict(x) for a batch whose every row gets the probabilities it gets in any other
    batch: ONNX Runtime rounds some models' batch of one differently in the last bits (the
    motion model's convolutions), so one row is read as a batch of two, the row twice."""
    return model.predict(np.concatenate([x, x]) if len(x) == 1 else x)[:len(x)]


class Recognizer:
    """Landmarks, images, videos or a live stream -> predictions, with an explicit "no sign"."""

    def __init__(self, bundle: Bundle, threshold: float = 0.5, smoothing: int = 5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise IsyaratError(f"threshold must be between 0 and 1, got {threshold}")
        if smoothing < 1:
            raise IsyaratError(f"smoothing must be at least 1 frame, got {smoothing}")
        self.bundle = bundle
        self.input = bundle.input
        self.config = FeatureConfig() if self.input.pixels else bundle.features
        if not self.input.pixels and tuple(self.config.output_shape) != tuple(bundle.input_shape):
            raise IsyaratError(f"{bundle.path}: its features make {self.config.output_shape} but the model "
                               f"takes {bundle.input_shape}; re-export the bundle")
        self.extract_settings = _extract_settings(bundle, self.config)
        self.motion = bundle.motion  # reads a moving hand (J, Z ...) when the bundle has one
        self._motion_index = None if self.motion is None else np.array(
            [bundle.labels.index(label) for label in self.motion.labels])
        self.threshold = threshold
        self.open_set = bundle.open_set  # "unknown sign" for signs outside the vocabulary (None: never)
        self.smoothing = smoothing
        self._image_extractor = None
        self._transform = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, name_or_path: str | Path, threshold: float = 0.5, smoothing: int = 5) -> "Recognizer":
        """Load a bundle folder or .zip, or a shipped model by name (see `list_shipped()`)."""
        return cls(load_bundle(resolve_bundle(name_or_path)), threshold, smoothing)

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def labels(self) -> list[str]:
        """The signs it can answer (the model's outputs less an open-set unknown class)."""
        return self.bundle.signs

    @property
    def outputs(self) -> list[str]:
        """The model's outputs in order: what every probability vector lines up with."""
        return self.bundle.labels

    def decide(self, probs: np.ndarray) -> Prediction:
        """The one decision from a probability vector over `outputs` to a Prediction: the best
        sign, "no sign" below the threshold, "unknown sign" where the bundle's open-set record
        says so. recognize, serve (REST and WebSocket) and evaluate all answer through here."""
        return to_prediction(probs, self.outputs, self.threshold, self.open_set)

    def decide_many(self, probs: np.ndarray) -> list[Prediction]:
        """decide() of every row of probs (R, outputs), in one call (many live viewers' frames)."""
        return to_predictions(probs, self.outputs, self.threshold, self.open_set)

    @property
    def is_sequence(self) -> bool:
        return self.config.shape == "sequence"

    @property
    def takes_pixels(self) -> bool:
        """True when the model reads the photo's pixels, not landmarks."""
        return self.input.pixels

    def predict(self, source: str | Path) -> "Prediction | VideoResult | dict[Path, Prediction | VideoResult]":
        """A photo -> Prediction, a video -> VideoResult, a folder -> {file: result} for every
        image and video under it (a file that cannot be read raises, naming it)."""
        path = Path(source)
        files = list_inputs(path)
        if path.is_dir():
            return {f: self.predict(f) for f in files}
        return self.predict_image(path) if media_of(path) == "image" else self.predict_video(path)

    def features(self, lm: Landmarks) -> np.ndarray | None:
        """The model input of one sample, or None when it holds no hand (or pose)."""
        self._check_reads_landmarks()
        if not has_signal(lm, self.config):
            return None
        return make_features(lm, self.config)

    def frame_inputs(self, hands: np.ndarray, pose: np.ndarray | None = None) -> np.ndarray:
        """The model inputs of many one-frame samples at once (frame models; the frames of all
        a server's viewers): hands (B, 2, 21, 3) each with a hand, pose (B, 33, 4) or None ->
        (B, *input_shape); row b is features(Landmarks(hands[b:b + 1], pose[b:b + 1]))."""
        self._check_reads_landmarks()
        if self.is_sequence:
            raise IsyaratError(f"model '{self.name}' reads whole signs (sequences), not one frame at a time")
        return frame_features(hands, pose if self.config.pose else None, self.config)

    def _check_reads_landmarks(self) -> None:
        if self.takes_pixels:
            raise IsyaratError(f"model '{self.name}' reads photos (pixels), not landmarks: give it images, "
                               "videos or camera frames, or use a landmark model")

    def probabilities(self, lm: Landmarks) -> np.ndarray | None:
        """Raw class probabilities of one sample, or None when it holds no hand (or pose)."""
        x = self.features(lm)
        return None if x is None else self.bundle.model.predict(x[None])[0]

    def motion_probabilities(self, lm: Landmarks) -> np.ndarray | None:
        """The motion model's probabilities for a window or clip, in the order of `labels` (0 for
        a label it does not read), or None without a motion model or a hand."""
        if self.motion is None or not has_signal(lm, self.motion.features):
            return None
        return self.motion_probabilities_many([lm])[0]

    @property
    def reuses_frame_rows(self) -> bool:
        """Whether the motion model's windows can take their frames' vectors from the frame
        model's inputs (the same per-frame settings; see sequence_features' `rows`)."""
        return self.motion is not None and same_frame_vectors(self.motion.features, self.config)

    def motion_probabilities_many(self, windows: list[Landmarks],
                                  rows: list[Sequence[np.ndarray] | None] | None = None) -> np.ndarray:
        """motion_probabilities of many windows, each with a hand, in one model call: (len(windows),
        outputs). `rows`: each window's frame model inputs, where the stream kept them (frame_inputs)."""
        x = sequence_features(windows, self.motion.features, rows)
        out = np.zeros((len(windows), len(self.outputs)))
        out[:, self._motion_index] = predict_rows(self.motion.model, x)
        return out

    def clip_probabilities(self, lm: Landmarks) -> np.ndarray | None:
        """One probability vector for a whole clip (a recorded sequence or a video's landmarks):
        a sequence model reads it resampled to its length; a motion-aware letter bundle gives it
        to its motion model when the hand moved, else to its frame model; a frame model
        averages its frames with a hand. None when no frame has a hand."""
        if self.is_sequence:
            return self.probabilities(lm)
        if self.motion is not None and clip_moved(lm.hands, self.motion.gate):
            return self.motion_probabilities(lm)
        frames = [t for t in range(lm.n_frames) if has_signal(Landmarks(lm.hands[t:t + 1]), self.config)]
        if not frames:
            return None
        x = np.stack([make_features(Landmarks(lm.hands[t:t + 1], None if lm.pose is None else lm.pose[t:t + 1]),
                                    self.config) for t in frames])
        return self.bundle.model.predict(x).mean(axis=0)

    def predict_clip(self, lm: Landmarks) -> Prediction:
        """One prediction for a whole clip (see clip_probabilities)."""
        probs = self.clip_probabilities(lm)
        return no_hand() if probs is None else self.decide(probs)

    def predict_landmarks(self, lm: Landmarks) -> Prediction:
        """One prediction for one sample (frame models read its last frame with a hand)."""
        probs = self.probabilities(lm)
        if probs is None:
            return no_hand()
        return self.decide(probs)

    def predict_image(self, image: str | Path | np.ndarray) -> Prediction:
        """A photo (path, or a BGR array as OpenCV reads it), un-mirrored."""
        if self.takes_pixels:
            return self._predict_photo_pixels(image)
        from isyarat.landmarks.media import read_image

        if self.is_sequence:  # one frame cannot show a moving sign: its answer would be a guess
            where = f"{image}: " if isinstance(image, (str, Path)) else ""
            raise IsyaratError(f"{where}model '{self.name}' recognizes moving signs (words) and needs a video, "
                               "not a photo: give a video, or a letter model for photos")
        bgr = read_image(Path(image)) if isinstance(image, (str, Path)) else image
        hands, pose = self._detect_still(bgr)
        return self.predict_landmarks(Landmarks(hands=hands[None], pose=None if pose is None else pose[None]))

    def _detect_still(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        with self._lock:
            if self._image_extractor is None:
                self._image_extractor = self.new_extractor(static=True)
            return self.extract(self._image_extractor, bgr)

    def _predict_photo_pixels(self, image: str | Path | np.ndarray) -> Prediction:
        from PIL import Image

        if isinstance(image, (str, Path)):
            from isyarat.landmarks import media

            rgb = media.read_pil_image(image)  # the pixels as training read them (PIL, upright by EXIF)
            bgr = media.read_image(Path(image)) if self.input.crops_hands else None  # as extraction reads it
        else:
            bgr, rgb = image, Image.fromarray(np.ascontiguousarray(image[..., ::-1]))
        hands = self._detect_still(bgr)[0] if self.input.crops_hands else None
        return self.decide(self.pixel_probabilities(rgb, hands))

    def pixel_probabilities(self, rgb, hands: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities of a pixel model for one RGB photo (PIL image): cropped around
        `hands` (2, 21, 3) when the bundle crops to the hands and one was found, then the
        training run's evaluation transform."""
        from isyarat.images import build_transform, crop_and_transform, hand_crop_box

        if not self.takes_pixels:
            raise IsyaratError(f"model '{self.name}' reads landmarks, not pixels; use predict_image or predict_landmarks")
        if self._transform is None:
            self._transform = build_transform(self.input.image, train=False)
        box = None
        if self.input.crops_hands and hands is not None:
            box = hand_crop_box(hands, *rgb.size, self.input.crop_margin)
        x = crop_and_transform(rgb, box, self._transform).numpy()
        return self.bundle.model.predict(x[None])[0]

    def predict_video(self, path: str | Path, max_frames: int | None = None) -> VideoResult:
        """Stream the video's frames through the recognizer, then decide one label for the clip."""
        from isyarat.landmarks.media import iter_video_frames, video_fps

        fps = video_fps(path)  # the spelling decoder counts in seconds of the video
        frames = iter_video_frames(Path(path), max_frames=max_frames)
        with self.stream() as stream:
            updates = [stream.push_frame(frame, i / fps) for i, frame in enumerate(frames)]
            stream.finish()  # a word still being signed when the video ends
        if not updates:
            raise IsyaratError(f"{path}: no frames could be read; give an .mp4/.avi/.mov video")
        clip = self._clip_prediction(updates)
        return VideoResult(frames=[u.prediction for u in updates], text=stream.text, label=clip.label,
                           confidence=clip.confidence, probabilities=clip.probabilities, unknown=clip.unknown)

    def _clip_prediction(self, updates: list[StreamUpdate]) -> Prediction:
        if self.motion is not None or (self.open_set is not None and not self.takes_pixels):
            pose = np.stack([u.pose for u in updates]) if self.config.pose else None
            return self.predict_clip(Landmarks(np.stack([u.hands for u in updates]), pose))
        if self.is_sequence:
            pose = np.stack([u.pose for u in updates]) if self.config.pose else None
            return self.predict_landmarks(Landmarks(np.stack([u.hands for u in updates]), pose))
        seen = [u.prediction for u in updates if u.prediction.probabilities]
        if not seen:
            return no_hand()
        names = list(seen[0].probabilities)  # the signs (variants already summed per frame)
        mean = np.mean([[p.probabilities[k] for k in names] for p in seen], axis=0)
        return to_prediction(mean, names, self.threshold)

    def stream(self, **decoder_settings: float) -> RecognizerStream:
        """A live stream; `decoder_settings` go to FingerspellingDecoder (hold_s, release_s,
        space_after_s, in seconds)."""
        return RecognizerStream(self, **decoder_settings)

    def new_extractor(self, static: bool):
        """A MediaPipe extractor with the bundle's extraction settings: Holistic when the features
        use pose, else Hands; `static=False` tracks hands across the frames of a stream."""
        if self.config.pose and not self.takes_pixels:
            from isyarat.landmarks.holistic import HolisticExtractor

            return HolisticExtractor(self.extract_settings, video=not static)
        from isyarat.landmarks.hands import HandsExtractor

        return HandsExtractor(self.extract_settings, video=not static)

    def extract(self, extractor, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Landmarks of one frame: hands (2, 21, 3) and pose (33, 4) or None."""
        if self.config.pose and not self.takes_pixels:
            return extractor.frame(bgr)
        hands, _scores = extractor.frame(bgr)
        return hands, None

    def close(self) -> None:
        with self._lock:
            if self._image_extractor is not None:
                self._image_extractor.close()
                self._image_extractor = None

