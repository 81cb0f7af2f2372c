"""The one object users need: `Recognizer.load(name_or_path)` then predict images, videos, streams."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isyarat.errors import IsyaratError
from isyarat.export.bundle import META_FILE, Bundle, load_bundle
from isyarat.features import FeatureConfig, has_signal, make_features
from isyarat.landmarks.arrays import Landmarks
from isyarat.landmarks.settings import ExtractSettings
from isyarat.runtime.motion import clip_moved
from isyarat.runtime.smoothing import Prediction, no_hand, to_prediction
from isyarat.runtime.stream import RecognizerStream, StreamUpdate

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "shipped"


@dataclass
class VideoResult:
    """A whole video: per-frame (streamed) predictions, the text they spell, and one label for the
    video (sequence models: the clip resampled to the model's length; frame models: the mean)."""

    frames: list[Prediction]
    text: str
    label: str | None
    confidence: float = 0.0
    probabilities: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "text": self.text,
                "probabilities": self.probabilities, "n_frames": len(self.frames),
                "frames_with_hand": sum(p.has_hand for p in self.frames)}


def list_shipped() -> list[dict]:
    """The bundles shipped inside the package: name, sign system, labels, metrics, path."""
    found = []
    for meta_path in sorted(SHIPPED_DIR.glob(f"*/{META_FILE}")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        found.append({"name": meta_path.parent.name, "sign_system": meta.get("sign_system"),
                      "kind": meta.get("features", {}).get("kind"),
                      "labels": meta.get("labels", []), "metrics": meta.get("metrics", {}),
                      "protocols": meta.get("details", {}).get("protocols", {}),
                      "by_source": meta.get("details", {}).get("held_out_by_source", {}),
                      "path": str(meta_path.parent)})
    return found


def resolve_bundle(name_or_path: str | Path) -> Path:
    """A bundle path as given, or the folder of a shipped model of that name."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    shipped = SHIPPED_DIR / str(name_or_path)
    if str(name_or_path) and "/" not in str(name_or_path) and (shipped / META_FILE).is_file():
        return shipped
    names = ", ".join(m["name"] for m in list_shipped()) or "none installed"
    raise IsyaratError(f"{name_or_path}: no bundle at this path and no shipped model of this name "
                       f"(shipped models: {names}); make one with `isyarat export`")


def _extract_settings(bundle: Bundle, config: FeatureConfig) -> ExtractSettings:
    """The extraction settings the model's training data was read with (border, confidence)."""
    values = {**bundle.extract, "mode": "holistic" if config.pose else "hands"}
    try:
        return ExtractSettings(**values)
    except TypeError as err:
        raise IsyaratError(f"{bundle.path}: bad 'extract' settings in its bundle.json ({err}); re-export it") from err


class Recognizer:
    """Landmarks, images, videos or a live stream -> predictions, with an explicit "no sign"."""

    def __init__(self, bundle: Bundle, threshold: float = 0.5, smoothing: int = 5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise IsyaratError(f"threshold must be between 0 and 1, got {threshold}")
        if smoothing < 1:
            raise IsyaratError(f"smoothing must be at least 1 frame, got {smoothing}")
        self.bundle = bundle
        self.config = FeatureConfig.from_dict(bundle.features)
        if tuple(self.config.output_shape) != tuple(bundle.input_shape):
            raise IsyaratError(f"{bundle.path}: its features make {self.config.output_shape} but the model "
                               f"takes {bundle.input_shape}; re-export the bundle")
        self.extract_settings = _extract_settings(bundle, self.config)
        self.motion = bundle.motion  # reads a moving hand (J, Z ...) when the bundle has one
        self._motion_index = None if self.motion is None else np.array(
            [bundle.labels.index(label) for label in self.motion.labels])
        self.threshold = threshold
        self.smoothing = smoothing
        self._image_extractor = None
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
        return self.bundle.labels

    @property
    def is_sequence(self) -> bool:
        return self.config.kind == "sequence"

    def features(self, lm: Landmarks) -> np.ndarray | None:
        """The model input of one sample, or None when it holds no hand (or pose)."""
        if not has_signal(lm, self.config):
            return None
        return make_features(lm, self.config)

    def probabilities(self, lm: Landmarks) -> np.ndarray | None:
        """Raw class probabilities of one sample, or None when it holds no hand (or pose)."""
        x = self.features(lm)
        return None if x is None else self.bundle.model.predict(x[None])[0]

    def motion_probabilities(self, lm: Landmarks) -> np.ndarray | None:
        """The motion model's probabilities for a window or clip, in the order of `labels` (0 for
        a label it does not read), or None without a motion model or a hand."""
        if self.motion is None or not has_signal(lm, self.motion.features):
            return None
        probs = self.motion.model.predict(make_features(lm, self.motion.features)[None])[0]
        out = np.zeros(len(self.labels))
        out[self._motion_index] = probs
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
        return no_hand() if probs is None else to_prediction(probs, self.labels, self.threshold)

    def predict_landmarks(self, lm: Landmarks) -> Prediction:
        """One prediction for one sample (frame models read its last frame with a hand)."""
        probs = self.probabilities(lm)
        if probs is None:
            return no_hand()
        return to_prediction(probs, self.labels, self.threshold)

    def predict_image(self, image: str | Path | np.ndarray) -> Prediction:
        """A photo (path, or a BGR array as OpenCV reads it), un-mirrored."""
        from isyarat.landmarks.media import read_image

        bgr = read_image(Path(image)) if isinstance(image, (str, Path)) else image
        with self._lock:
            if self._image_extractor is None:
                self._image_extractor = self.new_extractor(static=True)
            hands, pose = self.extract(self._image_extractor, bgr)
        return self.predict_landmarks(Landmarks(hands=hands[None], pose=None if pose is None else pose[None]))

    def predict_video(self, path: str | Path, max_frames: int | None = None) -> VideoResult:
        """Stream the video's frames through the recognizer, then decide one label for the clip."""
        from isyarat.landmarks.media import iter_video_frames

        with self.stream() as stream:
            updates = [stream.push_frame(frame) for frame in iter_video_frames(Path(path), max_frames=max_frames)]
        if not updates:
            raise IsyaratError(f"{path}: no frames could be read; give an .mp4/.avi/.mov video")
        clip = self._clip_prediction(updates)
        return VideoResult(frames=[u.prediction for u in updates], text=stream.text, label=clip.label,
                           confidence=clip.confidence, probabilities=clip.probabilities)

    def _clip_prediction(self, updates: list[StreamUpdate]) -> Prediction:
        if self.motion is not None:
            return self.predict_clip(Landmarks(np.stack([u.hands for u in updates])))
        if self.is_sequence:
            pose = np.stack([u.pose for u in updates]) if self.config.pose else None
            return self.predict_landmarks(Landmarks(np.stack([u.hands for u in updates]), pose))
        seen = [u.prediction for u in updates if u.prediction.probabilities]
        if not seen:
            return no_hand()
        mean = np.mean([[p.probabilities[k] for k in self.labels] for p in seen], axis=0)
        return to_prediction(mean, self.labels, self.threshold)

    def stream(self, **decoder_settings: int) -> RecognizerStream:
        """A live stream; `decoder_settings` go to FingerspellingDecoder (min_hold_frames, ...)."""
        return RecognizerStream(self, **decoder_settings)

    def new_extractor(self, static: bool):
        """A MediaPipe extractor with the bundle's extraction settings: Holistic when the features
        use pose, else Hands; `static=False` tracks hands across the frames of a stream."""
        if self.config.pose:
            from isyarat.landmarks.holistic import HolisticExtractor

            return HolisticExtractor(self.extract_settings, video=not static)
        from isyarat.landmarks.hands import HandsExtractor

        return HandsExtractor(self.extract_settings, video=not static)

    def extract(self, extractor, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Landmarks of one frame: hands (2, 21, 3) and pose (33, 4) or None."""
        if self.config.pose:
            return extractor.frame(bgr)
        hands, _scores = extractor.frame(bgr)
        return hands, None

    def close(self) -> None:
        with self._lock:
            if self._image_extractor is not None:
                self._image_extractor.close()
                self._image_extractor = None

