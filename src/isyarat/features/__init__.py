"""Landmarks -> features, the same code at training and at run time."""
from isyarat.features.config import FeatureConfig
from isyarat.features.pipeline import has_signal, make_features

__all__ = ["FeatureConfig", "make_features", "has_signal"]
