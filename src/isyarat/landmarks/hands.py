"""MediaPipe Hands (the legacy solution bundled in the wheel, so it runs offline) -> hand slots."""
from __future__ import annotations

import cv2
import numpy as np
from mediapipe.python.solutions import hands as mp_hands

from isyarat.landmarks.arrays import LEFT, N_HAND_POINTS, RIGHT
from isyarat.landmarks.media import add_border, remove_border
from isyarat.landmarks.settings import ExtractSettings

# The legacy API labels handedness as if the image were a mirrored selfie: in an un-mirrored
# image its "Left" is the signer's right hand (checked on bisindo-alphabet-binus: "Left" hands
# lie at smaller x, where the signer's right hand appears).
LABEL_TO_SLOT = {"Left": RIGHT, "Right": LEFT}
# Two detections closer than this (mean point distance / palm length) are one hand reported
# twice, which video mode does; measured: duplicates 0.06-0.3, real pairs of hands 0.6-2.
DUPLICATE_DISTANCE = 0.3


def prepare_frame(bgr: np.ndarray, settings: ExtractSettings, border: float | None = None) -> np.ndarray:
    """The RGB image MediaPipe sees: flipped back to un-mirrored when `mirrored`, then bordered
    (by `border`, default the settings' one). Converted before the border is added: the same
    pixels, on 2.25x fewer of them (border 0.25)."""
    if settings.mirrored:
        bgr = cv2.flip(bgr, 1)
    return add_border(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), settings.border if border is None else border)


def points_array(landmark_list, with_visibility: bool = False) -> np.ndarray:
    """A MediaPipe NormalizedLandmarkList as an (N, 3) or (N, 4) float32 array."""
    rows = [(p.x, p.y, p.z, p.visibility) if with_visibility else (p.x, p.y, p.z) for p in landmark_list.landmark]
    return np.asarray(rows, dtype=np.float32)


def same_hand(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two (21, 3) detections are one hand: closer than DUPLICATE_DISTANCE palm lengths."""
    palm = (np.linalg.norm(a[0, :2] - a[9, :2]) + np.linalg.norm(b[0, :2] - b[9, :2])) / 2
    return bool(np.linalg.norm(a[:, :2] - b[:, :2], axis=-1).mean() < DUPLICATE_DISTANCE * palm)


def read_detections(result) -> tuple[list[np.ndarray], list[str], list[float]]:
    """Points, handedness labels and scores of the detected hands; a hand reported twice is
    kept once, with its more confident label."""
    points = [points_array(lms) for lms in result.multi_hand_landmarks]
    labels = [h.classification[0].label for h in result.multi_handedness]
    scores = [h.classification[0].score for h in result.multi_handedness]
    if len(points) == 2 and same_hand(*points):
        keep = int(np.argmax(scores))
        return [points[keep]], [labels[keep]], [scores[keep]]
    return points, labels, scores


def assign_slots(points: list[np.ndarray], labels: list[str]) -> list[int]:
    """Slot per detected hand: from the handedness label, or, when two hands get the same
    label, by position: in an un-mirrored image the signer's right wrist has the smaller x (the
    wrist, not the mean x: fingers cross over in letters like BISINDO G, wrists rarely do)."""
    if len(points) == 2 and labels[0] == labels[1]:
        right_first = points[0][0, 0] <= points[1][0, 0]
        return [RIGHT, LEFT] if right_first else [LEFT, RIGHT]
    return [LABEL_TO_SLOT[label] for label in labels]


def _mediapipe_hands(video: bool, complexity: int, confidence: float):
    return mp_hands.Hands(static_image_mode=not video, max_num_hands=2, model_complexity=complexity,
                          min_detection_confidence=confidence)


class HandsExtractor:
    """Up to two hands per frame as ((2, 21, 3) landmarks, NaN where absent; (2,) handedness
    scores, 0 where absent). `video=True` tracks hands across consecutive frames."""

    def __init__(self, settings: ExtractSettings, video: bool = False) -> None:
        self.settings = settings
        self._static = not video
        self._hands = _mediapipe_hands(video, settings.model_complexity, settings.min_detection_confidence)
        self._retries: list | None = None

    def _retry_models(self) -> list:
        """The low-confidence retries of still images (built on first use: most photos never need them)."""
        if self._retries is None:
            confidence = self.settings.fallback_confidence
            self._retries = [] if confidence is None or not self._static else [
                _mediapipe_hands(False, complexity, confidence) for complexity in (self.settings.model_complexity, 0)]
        return self._retries

    def frame(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hands = np.full((2, N_HAND_POINTS, 3), np.nan, dtype=np.float32)
        scores = np.zeros(2, dtype=np.float32)
        border = self.settings.border
        result = self._hands.process(prepare_frame(bgr, self.settings))
        if not result.multi_hand_landmarks and self._static and self.settings.fallback_border is not None:
            border = self.settings.fallback_border
            padded = prepare_frame(bgr, self.settings, border)
            result = self._hands.process(padded)
            for retry in self._retry_models() if not result.multi_hand_landmarks else []:
                result = retry.process(padded)
                if result.multi_hand_landmarks:
                    break
        if result.multi_hand_landmarks:
            points, labels, confidences = read_detections(result)
            for slot, found, confidence in zip(assign_slots(points, labels), points, confidences):
                hands[slot] = remove_border(found, bgr.shape, border)
                scores[slot] = confidence
        return hands, scores

    def reset(self) -> None:
        """Forget tracked hands before the next video."""
        self._hands.reset()

    def close(self) -> None:
        for model in [self._hands, *(self._retries or [])]:
            model.close()

    def __enter__(self) -> "HandsExtractor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
