"""Adapting a bundle to a new signer with a few samples (see adapt.py)."""
from isyarat.adaptation.adapt import AdaptationRecord, adapt_bundle, adapt_model
from isyarat.adaptation.fit import FitSettings

__all__ = ["adapt_bundle", "adapt_model", "AdaptationRecord", "FitSettings"]
