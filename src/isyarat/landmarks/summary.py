"""What an extraction run did: per-label detection rates, failures, cache use, time."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from isyarat.data.samples import Sample


@dataclass
class LabelCounts:
    """`samples` were read (failed ones are not among them); a sample is `with_hand` when any of
    its frames has a hand."""

    samples: int = 0
    failed: int = 0
    with_hand: int = 0
    frames: int = 0
    frames_with_hand: int = 0

    @property
    def detection_rate(self) -> float:
        return self.with_hand / self.samples if self.samples else 0.0

    @property
    def frame_detection_rate(self) -> float:
        return self.frames_with_hand / self.frames if self.frames else 0.0

    def add(self, sample: Sample) -> None:
        present = sample.landmarks.hand_present().any(axis=1)
        self.samples += 1
        self.with_hand += int(present.any())
        self.frames += len(present)
        self.frames_with_hand += int(present.sum())

    def to_dict(self) -> dict:
        return {**asdict(self), "detection_rate": self.detection_rate,
                "frame_detection_rate": self.frame_detection_rate}


@dataclass
class ExtractionSummary:
    labels: dict[str, LabelCounts] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    cache_hits: int = 0
    cache_misses: int = 0
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    @classmethod
    def build(cls, kept: list[Sample], failed: list[tuple[Sample, str]], **run) -> "ExtractionSummary":
        """Count kept samples (with landmarks) and failed ones per label; `run` holds the rest."""
        summary = cls(failures=[(str(s.path), reason) for s, reason in failed], **run)
        for sample in kept:
            summary.labels.setdefault(sample.label, LabelCounts()).add(sample)
        for sample, _ in failed:
            summary.labels.setdefault(sample.label, LabelCounts()).failed += 1
        summary.labels = dict(sorted(summary.labels.items()))
        return summary

    @property
    def total(self) -> LabelCounts:
        total = LabelCounts()
        for counts in self.labels.values():
            for name, value in asdict(counts).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    @property
    def detection_rate(self) -> float:
        return self.total.detection_rate

    def to_dict(self) -> dict:
        return {
            "labels": {label: counts.to_dict() for label, counts in self.labels.items()},
            "total": self.total.to_dict(),
            "failures": [{"path": path, "reason": reason} for path, reason in self.failures],
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "seconds": self.seconds,
            "settings": self.settings,
        }

    def format(self) -> str:
        """A readable table: per-label detection rates, then cache use, time and failures."""
        width = max([len("label"), *(len(label) for label in self.labels)])
        header = f"{'label':<{width}}  samples  failed  with hand    rate   frames  frame rate"
        rows = [header, "-" * len(header)]
        for label, counts in [*self.labels.items(), ("total", self.total)]:
            rows.append(f"{label:<{width}}  {counts.samples:7d}  {counts.failed:6d}  {counts.with_hand:9d}  "
                        f"{counts.detection_rate:6.1%}  {counts.frames:7d}  {counts.frame_detection_rate:10.1%}")
        rows.append(f"cache: {self.cache_hits} hits, {self.cache_misses} misses; {self.seconds:.1f} s")
        rows.append(f"{len(self.failures)} failed to read" + (":" if self.failures else ""))
        rows += [f"  {reason}" for _, reason in self.failures]
        return "\n".join(rows)
