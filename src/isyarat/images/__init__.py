"""The image track's pixels: preprocessing and augmentation, hand crops, a torch Dataset."""
from isyarat.images.crop import crop_image, hand_crop_box
from isyarat.images.dataset import ImageSampleDataset, crop_and_transform
from isyarat.images.transforms import ImageTransformConfig, build_transform

__all__ = [
    "ImageSampleDataset",
    "ImageTransformConfig",
    "build_transform",
    "crop_and_transform",
    "crop_image",
    "hand_crop_box",
]
