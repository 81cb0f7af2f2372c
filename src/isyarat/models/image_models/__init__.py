"""Image models (pixels in, logits out); importing the modules registers them."""
from isyarat.models.image_models import backbones, cnn, stn  # noqa: F401
from isyarat.models.image_models.backbones import image_normalization, load_weights_file
from isyarat.models.image_models.stn import SpatialTransformer, WithSTN

__all__ = ["SpatialTransformer", "WithSTN", "image_normalization", "load_weights_file"]
