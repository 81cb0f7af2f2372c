"""Image preprocessing and augmentation; the eval transform is the one the runtime uses too."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

import torch

from isyarat.errors import IsyaratError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ImageTransformConfig:
    """How pixels become a model input `(3, size, size)`; saved in checkpoints and bundles.

    Augmentation strengths of 0 switch that augmentation off; they apply to training only.

    hflip: mirror images at random during training. Off by default: a flip turns a right hand
    into a left hand, so it is only valid for sign systems where handedness does not matter, or
    when signs by mirrored (left-handed) signers are wanted.
    """

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    grayscale: bool = False  # grey replicated to 3 channels, e.g. to mix colour and grey cameras
    brightness: float = 0.2  # colour jitter factor range 1 +- brightness
    contrast: float = 0.2
    rotation: float = 10.0  # degrees, +-
    crop_scale: tuple[float, float] = (0.8, 1.0)  # random resized crop area range; (1, 1) = off
    hflip: bool = False
    blur_sigma: float = 0.0  # Gaussian blur sigma drawn from (0.1, blur_sigma)

    def __post_init__(self) -> None:
        self.mean, self.std = tuple(self.mean), tuple(self.std)
        self.crop_scale = tuple(self.crop_scale)
        if self.size < 16 or len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise IsyaratError(f"bad image transform: size >= 16 and 3 positive std values needed, got {self}")
        if min(self.brightness, self.contrast, self.rotation, self.blur_sigma) < 0:
            raise IsyaratError("bad image transform: brightness, contrast, rotation and blur_sigma must be >= 0")
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise IsyaratError(f"bad image transform: crop_scale must be 0 < low <= high <= 1, got {self.crop_scale}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImageTransformConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise IsyaratError(f"unknown image transform option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


def build_transform(config: ImageTransformConfig, train: bool) -> Callable[[Any], torch.Tensor]:
    """PIL image, HxWx3 uint8 RGB array or uint8 tensor -> normalized float tensor (3, size, size)."""
    from torchvision.transforms import v2  # here, not at import: landmark bundles never need it

    steps: list[Callable] = [v2.ToImage()]
    if config.grayscale:
        steps.append(v2.Grayscale(num_output_channels=3))
    steps += _augmentations(config) if train else [v2.Resize((config.size, config.size))]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(config.mean), list(config.std))]
    return v2.Compose(steps)


def _augmentations(config: ImageTransformConfig) -> list[Callable]:
    from torchvision.transforms import v2

    size = (config.size, config.size)
    steps: list[Callable] = [
        v2.Resize(size) if config.crop_scale == (1.0, 1.0) else v2.RandomResizedCrop(size, scale=config.crop_scale)
    ]
    if config.rotation > 0:
        steps.append(v2.RandomRotation(config.rotation, interpolation=v2.InterpolationMode.BILINEAR))
    if config.hflip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    if config.brightness > 0 or config.contrast > 0:
        steps.append(v2.ColorJitter(brightness=config.brightness, contrast=config.contrast))
    if config.blur_sigma > 0:
        steps.append(v2.GaussianBlur(_odd_kernel(config.blur_sigma), sigma=(0.1, config.blur_sigma)))
    return steps


def _odd_kernel(sigma: float) -> int:
    """A kernel covering +-3 sigma."""
    return 2 * int(3 * sigma + 0.5) + 1
