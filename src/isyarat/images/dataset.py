"""A torch Dataset over image samples: file -> RGB -> optional hand crop -> transform."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from isyarat.errors import IsyaratError
from isyarat.images.crop import Box, crop_image
from isyarat.landmarks.media import read_pil_image


def crop_and_transform(img: Image.Image, box: Box | None, transform: Callable[[Image.Image], torch.Tensor]) -> torch.Tensor:
    """One photo's model input: cropped to `box` (None: the whole photo), then transformed. Training's
    datasets and the runtime's Recognizer both go through here, with the same box rule
    (`hand_crop_box`) and the same evaluation transform (`build_transform(config, train=False)`)."""
    return transform(crop_image(img, box) if box is not None else img)


class ImageSampleDataset(Dataset):
    """(image tensor, class index) pairs; `crop_boxes[i]`, when not None, crops sample i first."""

    def __init__(
        self,
        paths: Sequence[Path],
        targets: Sequence[int],
        transform: Callable[[Image.Image], torch.Tensor],
        crop_boxes: Sequence[Box | None] | None = None,
    ) -> None:
        if len(paths) != len(targets) or (crop_boxes is not None and len(crop_boxes) != len(paths)):
            raise IsyaratError("ImageSampleDataset needs as many targets (and crop boxes) as paths")
        self.paths = [Path(p) for p in paths]
        self.targets = [int(t) for t in targets]
        self.transform = transform
        self.crop_boxes = list(crop_boxes) if crop_boxes is not None else [None] * len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img = read_pil_image(self.paths[index])
        return crop_and_transform(img, self.crop_boxes[index], self.transform), self.targets[index]
