"""The motion part of a letter bundle: a sequence model (motion.onnx) that reads a moving hand.

A motion-aware bundle stays one folder: model.onnx reads a still hand, motion.onnx reads the
recent window of frames while the wrist travels (J, Z ...), and bundle.json's "motion" record
(this dataclass) says how: its labels, input shape, feature settings, the still handshape each
moving letter starts from, and when a hand counts as moving (GateSettings).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from isyarat.errors import IsyaratError
from isyarat.features.config import FeatureConfig
from isyarat.models.spec import ModelSpec

MOTION_FILE = "motion.onnx"
DEFAULT_SETOFF_S = 0.4  # vocab.Motion's default, for bundles exported before it was recorded


@dataclass(frozen=True)
class GateSettings:
    """When the motion model reads the hand: the wrist's path over the last `window` frames
    (lightly smoothed, in hand sizes) reaching `start`; the frame model again once it falls
    below `stop`. The gap between them (hysteresis) keeps tremor from flipping it."""

    window: int = 15   # half a second at 30 fps
    start: float = 1.0
    stop: float = 0.6  # above synthetic tremor and drift (at most ~0.56 over 15 frames, bench/motion.py's data)

    def __post_init__(self) -> None:
        if self.window < 3 or not 0 < self.stop < self.start:
            raise IsyaratError(f"motion gate {self}: needs window >= 3 and 0 < stop < start")


@dataclass
class MotionPart:
    """What bundle.json says of motion.onnx; `model` is the loaded ONNX model (not saved)."""

    labels: list[str]
    input_shape: tuple[int, ...]
    features: FeatureConfig
    model_info: ModelSpec | None = None  # the registry model and its recipe
    metrics: dict = field(default_factory=dict)
    starts: dict[str, str] = field(default_factory=dict)  # moving letter -> still handshape it starts from
    setoff_s: dict[str, float] = field(default_factory=dict)  # moving letter -> its vocabulary's setoff_s
    gate: GateSettings = field(default_factory=GateSettings)
    model: object | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        if isinstance(self.model_info, dict):
            self.model_info = ModelSpec.from_dict(self.model_info, "motion.model")
        if self.features.shape != "sequence":
            raise IsyaratError("the motion model of a bundle must read sequences (features.shape: sequence)")
        if tuple(self.features.output_shape) != self.input_shape:
            raise IsyaratError(f"motion model: its features make {self.features.output_shape} but it takes "
                               f"{self.input_shape}; export it again")
        if not self.labels or not all(isinstance(x, str) for x in self.labels):
            raise IsyaratError("motion model: 'labels' must be a non-empty list of strings")

    def setoff(self, letter: str) -> float:
        """How long a signer may show moving `letter`'s start handshape before its path sets
        off (its vocabulary's setoff_s; bundles made before: DEFAULT_SETOFF_S)."""
        return self.setoff_s.get(letter, DEFAULT_SETOFF_S)

    def to_dict(self) -> dict:
        return {"file": MOTION_FILE, "labels": list(self.labels), "input_shape": list(self.input_shape),
                "features": self.features.to_dict(), "model": None if self.model_info is None else self.model_info.to_dict(), "metrics": self.metrics,
                "starts": dict(self.starts), "setoff_s": dict(self.setoff_s), "gate": asdict(self.gate)}

    @classmethod
    def from_dict(cls, data: dict) -> "MotionPart":
        if not isinstance(data, dict):
            raise IsyaratError("bundle.json 'motion' must be a JSON object")
        known = {f.name for f in fields(GateSettings)}
        gate = data.get("gate") or {}
        if not isinstance(gate, dict) or set(gate) - known:
            raise IsyaratError(f"bundle.json motion.gate must be an object with {sorted(known)}")
        try:
            return cls(labels=list(data["labels"]), input_shape=tuple(data["input_shape"]),
                       features=FeatureConfig.from_dict(data["features"]), model_info=data.get("model"),
                       metrics=dict(data.get("metrics") or {}), starts=dict(data.get("starts") or {}),
                       setoff_s={str(k): float(v) for k, v in (data.get("setoff_s") or {}).items()},
                       gate=GateSettings(**gate))
        except (KeyError, TypeError, ValueError) as err:
            raise IsyaratError(f"bundle.json 'motion' is incomplete ({err}); export the bundle again") from err
