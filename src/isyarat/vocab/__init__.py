"""Sign systems as data: each vocabulary is a YAML file (built-in ones in vocab/data/)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from isyarat.errors import IsyaratError

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Sign:
    name: str
    dynamic: bool = False
    hands: int = 1
    gloss: str = ""


@dataclass(frozen=True)
class Vocabulary:
    name: str
    title: str
    kind: str
    signs: tuple[Sign, ...]
    description: str = ""

    @property
    def labels(self) -> list[str]:
        return [s.name for s in self.signs]

    def sign(self, name: str) -> Sign:
        for s in self.signs:
            if s.name == name:
                return s
        raise IsyaratError(f"'{name}' is not a sign of {self.name}; its signs: {', '.join(self.labels)}")

    @property
    def dynamic(self) -> list[str]:
        return [s.name for s in self.signs if s.dynamic]

    @property
    def two_handed(self) -> list[str]:
        return [s.name for s in self.signs if s.hands == 2]


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
        signs = tuple(Sign(**s) for s in raw["signs"])
        return Vocabulary(name=raw["name"], title=raw.get("title", raw["name"]), kind=raw.get("kind", "words"),
                          signs=signs, description=raw.get("description", ""))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise IsyaratError(f"{path}: not a vocabulary file ({err}); see isyarat/vocab/data/sibi.yaml") from None
