"""Which files the runtime reads: images and videos by extension (the same as datasets: data.samples),
alone or found in a folder."""
from __future__ import annotations

from pathlib import Path

from isyarat.data.samples import IMAGE_SUFFIXES, VIDEO_SUFFIXES, media_of
from isyarat.errors import IsyaratError


def list_inputs(input: Path) -> list[Path]:
    """The file itself, or every image and video under the folder (recursively, sorted)."""
    input = Path(input)
    if not input.exists():
        raise IsyaratError(f"{input}: no such file or folder")
    if input.is_dir():
        files = sorted(p for p in input.rglob("*") if p.is_file() and media_of(p))
        if not files:
            raise IsyaratError(f"{input}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or videos "
                               f"({', '.join(sorted(VIDEO_SUFFIXES))}) in this folder")
        return files
    if not media_of(input):
        raise IsyaratError(f"{input}: unsupported file type '{input.suffix}'; give an image "
                           f"({', '.join(sorted(IMAGE_SUFFIXES))}), a video ({', '.join(sorted(VIDEO_SUFFIXES))}) "
                           f"or a folder of them")
    return [input]
