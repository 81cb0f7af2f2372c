"""How often MediaPipe finds a hand, per capture group, under the extraction settings a recipe can
choose: the tight grey webcam crops of the SIBI photos are where hands go missing, and a photo
without a hand is a letter the model never gets to read.

    python bench/detection.py                     # 80 photos per group (seeded), every setting
    python bench/detection.py --per-group 0       # every photo
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from isyarat.data.layouts import load_dataset
from isyarat.landmarks.hands import HandsExtractor
from isyarat.landmarks.media import read_image
from isyarat.landmarks.settings import ExtractSettings

SETTINGS = {
    "border 0.25": ExtractSettings(border=0.25, min_detection_confidence=0.3),
    "+ fallback border 1.0": ExtractSettings(border=0.25, fallback_border=1.0, min_detection_confidence=0.3),
    "+ fallback confidence 0.1": ExtractSettings(border=0.25, fallback_border=1.0, min_detection_confidence=0.3,
                                                 fallback_confidence=0.1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    parser.add_argument("--data", type=Path, nargs="*", default=[data / "sibi-alphabet-ajustiago",
                                                                  data / "bisindo-alphabet-binus"])
    parser.add_argument("--per-group", type=int, default=80, help="photos per capture group (0: all)")
    args = parser.parse_args()
    print("| dataset | group | photos | " + " | ".join(SETTINGS) + " | ms per photo (last) |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in SETTINGS) + " | --- |")
    for root in args.data:
        dataset = load_dataset(root)
        groups: dict[str, list] = {}
        for sample in dataset:
            groups.setdefault(sample.metadata.get("group", "(all)"), []).append(sample)
        for group, samples in sorted(groups.items()):
            if args.per_group:
                samples = random.Random(0).sample(samples, min(args.per_group, len(samples)))
            images = [read_image(s.path) for s in samples]
            rates, seconds = [], 0.0
            for settings in SETTINGS.values():
                with HandsExtractor(settings) as extractor:
                    start = time.perf_counter()
                    found = [bool((~np.isnan(extractor.frame(image)[0]).any(axis=(1, 2))).any()) for image in images]
                    seconds = time.perf_counter() - start
                rates.append(f"{np.mean(found):.0%}")
            print(f"| `{root.name}` | {group} | {len(images)} | " + " | ".join(rates)
                  + f" | {1000 * seconds / len(images):.0f} |", flush=True)


if __name__ == "__main__":
    main()
