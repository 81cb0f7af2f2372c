"""What a bundle's model reads: landmark features, or pixels (with their transform and hand crop).

Saved in bundle.json as `input`, so the runtime prepares a photo exactly as the training run's
evaluation did. A bundle without `input` (made before it existed) reads landmarks.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from isyarat.errors import IsyaratError
from isyarat.images.transforms import ImageTransformConfig

LANDMARKS, PIXELS = "landmarks", "pixels"


@dataclass
class ModelInput:
    """`reads` "landmarks": the model reads the features of bundle.json's `features`
    (a FeatureConfig). `reads` "pixels": it reads `image` (an ImageTransformConfig, its
    evaluation transform) of the photo, first cropped to a square around the hands MediaPipe
    finds when `crop_margin` is a number (the whole photo when no hand is found)."""

    reads: str = LANDMARKS
    image: ImageTransformConfig | None = None
    crop_margin: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.image, dict):
            self.image = ImageTransformConfig.from_dict(self.image)
        if self.reads not in (LANDMARKS, PIXELS):
            raise IsyaratError(f"input reads must be '{LANDMARKS}' or '{PIXELS}', got {self.reads!r}")
        if self.reads == PIXELS and self.image is None:
            raise IsyaratError("a pixel input needs its 'image' transform settings")
        if self.reads == LANDMARKS and (self.image is not None or self.crop_margin is not None):
            raise IsyaratError("a landmark input takes no 'image' or 'crop_margin' settings")
        if self.crop_margin is not None:
            if isinstance(self.crop_margin, bool) or not isinstance(self.crop_margin, (int, float)) \
                    or self.crop_margin < 0:
                raise IsyaratError(f"input crop_margin must be a number >= 0 or null, got {self.crop_margin!r}")
            self.crop_margin = float(self.crop_margin)

    @property
    def pixels(self) -> bool:
        return self.reads == PIXELS

    @property
    def crops_hands(self) -> bool:
        return self.crop_margin is not None

    def to_dict(self) -> dict[str, Any]:
        return {"reads": self.reads, "image": None if self.image is None else self.image.to_dict(),
                "crop_margin": self.crop_margin}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ModelInput:
        """None (an older bundle) reads landmarks; `kind` is the older name of `reads`."""
        if values is None:
            return cls()
        if not isinstance(values, dict):
            raise IsyaratError(f"input must be a JSON object, got {type(values).__name__}")
        if "kind" in values and "reads" not in values:
            values = {("reads" if k == "kind" else k): v for k, v in values.items()}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise IsyaratError(f"unknown input setting(s) {unknown}; known: {sorted(known)}")
        return cls(**values)
