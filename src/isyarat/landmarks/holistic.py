"""MediaPipe Holistic (legacy, bundled; model_complexity=1 only) -> hand slots and pose."""
from __future__ import annotations

import numpy as np
from mediapipe.python.solutions import holistic as mp_holistic

from isyarat.landmarks.arrays import LEFT, N_HAND_POINTS, N_POSE_POINTS, RIGHT
from isyarat.landmarks.hands import points_array, prepare_frame
from isyarat.landmarks.media import remove_border
from isyarat.landmarks.settings import ExtractSettings


class HolisticExtractor:
    """Per frame: hands (2, 21, 3) and pose (33, 4) = x, y, z, visibility, NaN where absent.

    Unlike Hands, Holistic names hands from the person's own perspective in an un-mirrored
    image, like its pose (checked on bisindo-words-wlbisindo: `right_hand_landmarks` sits at
    pose landmark 16, the right wrist, at the smaller x), so no swap is needed."""

    def __init__(self, settings: ExtractSettings, video: bool = False) -> None:
        self.settings = settings
        self._holistic = mp_holistic.Holistic(
            static_image_mode=not video,
            model_complexity=1,
            min_detection_confidence=settings.min_detection_confidence,
        )

    def frame(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hands = np.full((2, N_HAND_POINTS, 3), np.nan, dtype=np.float32)
        pose = np.full((N_POSE_POINTS, 4), np.nan, dtype=np.float32)
        result = self._holistic.process(prepare_frame(bgr, self.settings))
        border = self.settings.border
        for slot, found in ((LEFT, result.left_hand_landmarks), (RIGHT, result.right_hand_landmarks)):
            if found is not None:
                hands[slot] = remove_border(points_array(found), bgr.shape, border)
        if result.pose_landmarks is not None:
            pose[:] = remove_border(points_array(result.pose_landmarks, with_visibility=True), bgr.shape, border)
        return hands, pose

    def reset(self) -> None:
        """Forget tracked landmarks before the next video."""
        self._holistic.reset()

    def close(self) -> None:
        self._holistic.close()

    def __enter__(self) -> "HolisticExtractor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
