"""Feature settings: saved in every checkpoint and bundle, so runtime and training agree."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from isyarat.errors import IsyaratError

SHAPES = ("frame", "sequence", "graph")
HANDS = ("one", "two")
NORMALIZATIONS = ("wrist", "maxabs", "none")
# mirror: a signer and their mirror twin (a left-handed signer) get the same features: a lone left
#   hand is mirrored into a right one, and with both hands the dominant one (the higher wrist) is
#   put in the right slot, mirroring the frame (pose too) when it was on the left.
# lone: only a lone left hand is mirrored (isyarat before the dominant-hand rule; old bundles).
# keep: hands stay as signed (the SIBI LSTM study's left- and right-hand classes).
HANDEDNESS = ("mirror", "lone", "keep")
N_ANGLES = 19      # 15 finger joints + 4 angles between neighbouring fingers at the wrist
N_DISTANCES = 10   # pairwise distances between the 5 fingertips
N_TRAJECTORY = 4   # wrist x, y from the window's first hand frame, and its x, y velocity


@dataclass
class FeatureConfig:
    """How landmarks become a model's input.

    shape: frame -> (F,), sequence -> (T, F + 1) with the frame mask last, graph -> (V, C + 1) with
    the node mask last. hands: one (the signing hand) or two (left and right slots, 42 points).
    handedness: how a left-handed signer is read (see HANDEDNESS; mirror by default). normalize: wrist (wrist-centred, scaled
    by hand size, z relative to the wrist), maxabs (wrist-relative divided by the largest absolute
    value, the common MLP baseline) or none (raw MediaPipe values, as the Kolok study used).
    zscore: standardize each feature with the training split's mean and std (a first layer of
    the model fitted before training, so the statistics travel with the weights).
    trajectory (sequences only): add per frame where the wrist is, relative to the window's first
    frame with a hand, and how fast it moves, in hand sizes, so a hand tracing a path (J, Z) does
    not look like the same hand held still. Off by default: bundles saved before it existed
    load with the features they were trained on.
    """

    shape: str = "frame"
    hands: str = "one"
    normalize: str = "wrist"
    angles: bool = False
    distances: bool = False
    pose: bool = False
    frames: int = 1
    handedness: str = "mirror"
    zscore: bool = False
    trajectory: bool = False

    def __post_init__(self) -> None:
        for name, value, allowed in (("shape", self.shape, SHAPES), ("hands", self.hands, HANDS),
                                     ("normalize", self.normalize, NORMALIZATIONS),
                                     ("handedness", self.handedness, HANDEDNESS)):
            if value not in allowed:
                raise IsyaratError(f"features.{name} is '{value}'; use one of {', '.join(allowed)}")
        if self.shape != "sequence" and self.frames != 1:
            raise IsyaratError("features.frames > 1 needs features.shape: sequence")
        if self.trajectory and self.shape != "sequence":
            raise IsyaratError("features.trajectory needs features.shape: sequence (a path needs frames)")
        if self.shape == "graph" and (self.angles or self.distances or self.pose):
            raise IsyaratError("graph features are the keypoints only: turn off angles, distances and pose")

    @property
    def mirrors_left(self) -> bool:
        return self.handedness != "keep"

    @property
    def n_points(self) -> int:
        return 21 if self.hands == "one" else 42

    @property
    def hand_dim(self) -> int:
        return 63 + N_ANGLES * self.angles + N_DISTANCES * self.distances

    @property
    def frame_dim(self) -> int:
        """Values per frame, before the sequence mask channel."""
        dim = self.hand_dim if self.hands == "one" else 2 * self.hand_dim + 2
        return dim + 132 * self.pose + N_TRAJECTORY * self.trajectory

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.shape == "frame":
            return (self.frame_dim,)
        if self.shape == "sequence":
            return (self.frames, self.frame_dim + 1)
        return (self.n_points, 4)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def renamed(data: object) -> object:
        """Settings saved or written with an older name: `kind` is `shape` (bundles, runs, recipes)."""
        if not isinstance(data, dict) or "kind" not in data:
            return data
        if "shape" in data:
            raise IsyaratError("features: give shape (frame, sequence or graph), not also its old name kind")
        return {("shape" if k == "kind" else k): v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureConfig":
        data = dict(cls.renamed(data))
        if "mirror_left" in data:  # saved before the handedness setting existed
            if "handedness" in data:
                raise IsyaratError("features: give handedness (mirror, lone or keep), not mirror_left")
            data["handedness"] = "lone" if data.pop("mirror_left") else "keep"
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise IsyaratError(f"unknown feature settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)
