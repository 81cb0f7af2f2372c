"""Models over landmark features; importing the package registers them."""
from isyarat.models.landmark_models import gnn, lstm, mlp, transformer  # noqa: F401
