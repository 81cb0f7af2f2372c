"""Torch datasets over image samples: the recipe's `image:` transform and its optional hand crop."""
from __future__ import annotations

from pathlib import Path

from isyarat.data.samples import Sample
from isyarat.errors import IsyaratError
from isyarat.export.model_input import PIXELS, ModelInput
from isyarat.images import ImageSampleDataset, ImageTransformConfig, build_transform, hand_crop_box
from isyarat.images.crop import Box
from isyarat.landmarks.media import upright_size
from isyarat.models.image_models import image_normalization
from isyarat.training.recipe import Recipe

# `image:` keys that say what part of the image to use, not how its pixels are transformed.
CROP_KEYS = ("crop_hands", "crop_margin")
DEFAULT_CROP_MARGIN = 0.25


def image_transform_config(recipe: Recipe) -> ImageTransformConfig:
    """The recipe's transform; mean/std default to what the model's pretrained weights expect."""
    values = {k: v for k, v in recipe.image.items() if k not in CROP_KEYS}
    mean, std = image_normalization(recipe.model)
    values.setdefault("mean", mean)
    values.setdefault("std", std)
    return ImageTransformConfig.from_dict(values)


def crop_margin(recipe: Recipe) -> float | None:
    """The margin around the hands when the recipe crops to them (`image.crop_hands`), else None."""
    crop = recipe.image.get("crop_hands", False)
    if not isinstance(crop, bool):
        raise IsyaratError(f"recipe {recipe.name}: image.crop_hands must be true or false, got {crop!r}")
    margin = recipe.image.get("crop_margin", DEFAULT_CROP_MARGIN)
    if not isinstance(margin, (int, float)) or margin < 0:
        raise IsyaratError(f"recipe {recipe.name}: image.crop_margin must be a number >= 0 "
                           f"(a fraction of the hand box, e.g. 0.25), got {margin!r}")
    return float(margin) if crop else None


def model_input(recipe: Recipe) -> ModelInput:
    """What a bundle of this recipe's model reads: pixels, with the evaluation transform and hand crop."""
    return ModelInput(reads=PIXELS, image=image_transform_config(recipe), crop_margin=crop_margin(recipe))


def image_dataset(samples: list[Sample], targets: list[int], recipe: Recipe, train: bool) -> ImageSampleDataset:
    """(image tensor, target) pairs; augmented when `train`, the deterministic eval transform otherwise."""
    transform = build_transform(image_transform_config(recipe), train=train)
    margin = crop_margin(recipe)
    boxes = [hand_box(s, margin) for s in samples] if margin is not None else None
    return ImageSampleDataset([s.path for s in samples], targets, transform, crop_boxes=boxes)


def hand_box(sample: Sample, margin: float) -> Box | None:
    """A square around the hands found in the sample's first frame; None (the whole image) without a hand."""
    if sample.landmarks is None:
        raise IsyaratError(f"{sample.path}: image.crop_hands needs the sample's hand landmarks; "
                           "prepare the dataset with isyarat.training.prepare.prepare, which extracts them")
    width, height = upright_size(sample.path)
    return hand_crop_box(sample.landmarks.hands[0], width, height, margin)

