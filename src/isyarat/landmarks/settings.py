"""How landmarks are extracted; the settings' dict is part of every cache key."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from isyarat.errors import IsyaratError

MODES = ("hands", "holistic")


@dataclass(frozen=True)
class ExtractSettings:
    """`border` is a fraction of the image size added on every side before detection (tight hand
    crops need it); `mirrored` says the frames are selfie-flipped (a webcam preview), so they are
    flipped back and landmarks come out in un-mirrored coordinates. `every` and `max_frames` pick
    which video frames are read. `fallback_border`: a larger border tried again on a still image
    where no hand was found (measured on the grey 250 px SIBI webcam crops: 31% of them with a 25%
    border, 83% with a 100% one, while on full photos the larger border finds slightly fewer).
    `fallback_confidence`: where that finds nothing either, two more tries at the fallback border
    with this lower detection confidence, with the full and then the light hand model (on 80 grey
    crops of SIBI's crop-2022 group: 84% found before, 94% with 0.1; bench/detection.py)."""

    mode: str = "hands"
    border: float = 0.0
    fallback_border: float | None = None
    min_detection_confidence: float = 0.5
    model_complexity: int = 1
    mirrored: bool = False
    every: int = 1
    max_frames: int | None = None
    fallback_confidence: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise IsyaratError(f"extraction mode {self.mode!r} is unknown: use one of {', '.join(MODES)}")
        if self.mode == "holistic" and self.model_complexity != 1:
            raise IsyaratError("holistic extraction ships only model_complexity=1: set model_complexity to 1")
        if self.model_complexity not in (0, 1):
            raise IsyaratError(f"model_complexity={self.model_complexity} is not bundled offline: use 0 or 1")
        for value in (self.border, self.fallback_border):
            if value is not None and not 0.0 <= value <= 2.0:
                raise IsyaratError(f"border={value} is out of range: use a fraction between 0 and 2 (e.g. 0.25)")
        if self.fallback_confidence is not None and self.fallback_border is None:
            raise IsyaratError("fallback_confidence needs a fallback_border (the border of the retries), e.g. 1.0")
        if not 0.0 <= self.min_detection_confidence <= 1.0 or not 0.0 <= (self.fallback_confidence or 0.0) <= 1.0:
            raise IsyaratError("min_detection_confidence and fallback_confidence must be between 0 and 1")
        if self.every < 1 or (self.max_frames is not None and self.max_frames < 1):
            raise IsyaratError("every and max_frames must be at least 1")

    def for_model(self, pose: bool) -> "ExtractSettings":
        """These settings with the detector a model's input needs: Holistic when its features read
        the pose, else Hands. The one rule, at training (recipes) and at run time (bundles)."""
        return replace(self, mode="holistic" if pose else "hands")

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["fallback_confidence"] is None:  # the cache keys of settings made before it existed stay valid
            del data["fallback_confidence"]
        return data
