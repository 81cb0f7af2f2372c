"""isyarat: Indonesian sign language recognition."""
import os as _os

# ONNX Runtime writes a device id and a telemetry database under ~/.cache when it is imported
# (before any of our code runs); isyarat writes only in the folders it is given.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
