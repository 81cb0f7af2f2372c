"""Sign systems as data: each vocabulary is a YAML file (built-in ones in vocab/data/)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from isyarat.errors import IsyaratError
from isyarat.vocab.variants import SEPARATOR

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Motion:
    """How a moving letter travels, as data (isyarat.synth.motion draws sequences from it).

    path: 2-D waypoints of the wrist in hand sizes (wrist to middle knuckle), starting at [0, 0],
    in the un-mirrored camera image of the signer's right hand: x to the image's right (the
    signer's left), y down. start: the letter whose still handshape makes the movement.
    twist: degrees the wrist turns about the forearm over the path (+: the palm turns toward
    the signer's body); roll: degrees the hand tilts in the image plane over the path.
    setoff_s: how long a signer may show the start handshape before the path sets off: a stream
    that wrote the start letter at most this long before the hand set off on the path takes it
    back when the moving letter is read, so the I that begins a J is not written as an I."""

    start: str
    path: tuple[tuple[float, float], ...]
    twist: float = 0.0
    roll: float = 0.0
    description: str = ""
    setoff_s: float = 0.4

    def __post_init__(self) -> None:
        path = tuple(tuple(float(v) for v in point) for point in self.path)
        if len(path) < 2 or any(len(point) != 2 for point in path):
            raise IsyaratError(f"motion path {self.path}: give at least 2 waypoints, each [x, y]")
        if not 0.0 <= float(self.setoff_s) <= 3.0:
            raise IsyaratError(f"motion setoff_s {self.setoff_s}: give seconds between 0 and 3")
        object.__setattr__(self, "path", path)


@dataclass(frozen=True)
class Sign:
    """One sign. `variants` maps a variant id to how that form differs: a dataset labels a sample
    of that form `<name>~<id>` (e.g. C~2), a model learns it as its own class and reports the sign."""

    name: str
    dynamic: bool = False
    hands: int = 1
    gloss: str = ""
    variants: tuple[tuple[str, str], ...] = ()
    motion: Motion | None = None

    @property
    def variant_labels(self) -> list[str]:
        return [f"{self.name}{SEPARATOR}{vid}" for vid, _ in self.variants]


@dataclass(frozen=True)
class Vocabulary:
    name: str
    title: str
    unit: str  # what a sign of it is: "letters" or "words"
    signs: tuple[Sign, ...]
    description: str = ""
    pose: bool = False  # its signs need the body (MediaPipe Holistic), not the hands alone


    @property
    def labels(self) -> list[str]:
        return [s.name for s in self.signs]

    def sign(self, name: str) -> Sign:
        for s in self.signs:
            if s.name == name:
                return s
        raise IsyaratError(f"'{name}' is not a sign of {self.name}; its signs: {', '.join(self.labels)}")

    @property
    def variant_labels(self) -> list[str]:
        """Every class a model of this vocabulary may learn: the signs and their variants."""
        return [label for s in self.signs for label in (s.name, *s.variant_labels)]

    @property
    def moving(self) -> dict[str, Motion]:
        """The signs whose movement is described, by name."""
        return {s.name: s.motion for s in self.signs if s.motion is not None}

    @property
    def dynamic(self) -> list[str]:
        return [s.name for s in self.signs if s.dynamic]

    @property
    def two_handed(self) -> list[str]:
        return [s.name for s in self.signs if s.hands == 2]


def _sign(raw: dict) -> Sign:
    variants = raw.get("variants") or {}
    if not isinstance(variants, dict):
        raise TypeError(f"variants of {raw.get('name')} must map a variant id to its description")
    bad = [str(v) for v in variants if not str(v) or SEPARATOR in str(v) or "/" in str(v)]
    if bad:
        raise TypeError(f"variant ids of {raw.get('name')} must be short names without '{SEPARATOR}' or '/': {bad}")
    motion = raw.get("motion")
    return Sign(**{**raw, "variants": tuple((str(k), str(v)) for k, v in variants.items()),
                   "motion": Motion(**motion) if motion else None})


def list_vocabularies() -> list[str]:
    return sorted(p.stem for p in DATA_DIR.glob("*.yaml"))


def load_vocabulary(name_or_path: str | Path) -> Vocabulary:
    """A built-in vocabulary by name (sibi, bisindo, asl, kolok, bisindo-words) or a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = DATA_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise IsyaratError(f"no vocabulary '{name_or_path}': use one of {', '.join(list_vocabularies())} "
                           "or the path of a YAML file like those in isyarat/vocab/data/")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise IsyaratError(f"{path}: not a YAML text file ({str(err).splitlines()[0][:80]}); "
                           "see isyarat/vocab/data/sibi.yaml for the format") from None
    if not isinstance(raw, dict):
        raise IsyaratError(f"{path}: a vocabulary is a YAML mapping with name and signs; "
                           "see isyarat/vocab/data/sibi.yaml")
    try:
        signs = tuple(_sign(s) for s in raw["signs"])
        names = {s.name for s in signs}
        for s in signs:
            if s.motion is not None and s.motion.start not in names:
                raise IsyaratError(f"{path}: sign {s.name} starts from '{s.motion.start}', which is not one of its signs")
        unit = raw.get("unit", raw.get("kind", "words"))  # kind: its older name
        return Vocabulary(name=raw["name"], title=raw.get("title", raw["name"]), unit=unit,
                          signs=signs, description=raw.get("description", ""),
                          pose=bool(raw.get("pose", False)))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise IsyaratError(f"{path}: not a vocabulary file ({err}); see isyarat/vocab/data/sibi.yaml") from None
