"""`isyarat recognize INPUT`: an image, a video or a folder of them -> one line (or JSON) per file.

A readable line per file:
    photos/b.jpg  B  93%  (B 93%, P 4%, D 1%)
    photos/x.jpg  no hand
    clip.mp4  Belajar  71%  (Belajar 71%, Tuli 20%, maaf 6%)  text "Belajar"  (91 frames, 88 with a hand)
With `--json`, one JSON object per line with the same facts. In a folder, a file that cannot be
read gets an error line and the run goes on; the exit code is then 1.
"""
from __future__ import annotations

import json
from pathlib import Path

from isyarat.errors import IsyaratError
from isyarat.runtime.inputs import IMAGE_SUFFIXES, VIDEO_SUFFIXES, list_inputs, media_of  # noqa: F401
from isyarat.runtime.recognizer import Recognizer
from isyarat.shipped_models import list_shipped
from isyarat.runtime.smoothing import Prediction

TOP_K = 3


def recognize_paths(input: Path, model: str | None, threshold: float, as_json: bool,
                    system: str = "sibi") -> int:
    """Recognize every image and video of `input` and print the results; 0 when every file was
    read, 1 when some file of a folder could not be. Without `model`, each file gets the shipped
    model of sign system `system` that suits it (see `shipped_for`)."""
    files = list_inputs(Path(input))
    loaded: dict[str, Recognizer] = {}
    single = len(files) == 1 and files[0] == Path(input)
    failed = 0
    try:
        for path in files:
            name = model or shipped_for(system, media_of(path))
            if name not in loaded:
                loaded[name] = Recognizer.load(name, threshold=threshold)
            result = recognize_file(loaded[name], path, raise_errors=single)
            failed += "error" in result
            print(json.dumps(result, ensure_ascii=False) if as_json else format_line(result), flush=True)
    finally:
        for recognizer in loaded.values():
            recognizer.close()
    return 1 if failed else 0


def shipped_for(system: str, media: str | None) -> str:
    """The shipped letter model of a sign system, for photos and videos alike: a video is read
    frame by frame (and a moving hand by the bundle's motion model), spelled as text. A word
    model reads a video only when asked for by name (--model bisindo-words): answering every
    clip with one of a handful of words misreads anything else signed."""
    models = [m for m in list_shipped() if m.info.sign_system == system]
    if not models:
        systems = sorted({m.info.sign_system for m in list_shipped() if m.info.sign_system})
        raise IsyaratError(f"no shipped model for sign system '{system}': use one of {', '.join(systems) or 'none'}, "
                           "or give --model with a bundle")
    letters = [m for m in models if m.info.features.shape == "frame"] or models
    return letters[0].name


def recognize_file(recognizer: Recognizer, path: Path, raise_errors: bool = False) -> dict:
    """The result of one file as a JSON-ready dict; an unreadable file gives {"path", "error"}
    (or raises, with `raise_errors`)."""
    try:
        if media_of(path) == "image":
            return image_result(path, recognizer.predict_image(path))
        return video_result(path, recognizer)
    except IsyaratError as err:
        if raise_errors:
            raise
        return {"path": str(path), "media": media_of(path), "error": _without_path(str(err), path)}


def image_result(path: Path, prediction: Prediction) -> dict:
    return {"path": str(path), "media": "image", "label": prediction.label, "confidence": prediction.confidence,
            "has_hand": prediction.has_hand, "unknown": prediction.unknown, "top": prediction.top(TOP_K)}


def video_result(path: Path, recognizer: Recognizer) -> dict:
    video = recognizer.predict_video(path)
    clip = Prediction(video.label, video.confidence, video.probabilities, has_hand=bool(video.probabilities))
    return {"path": str(path), "media": "video", "label": video.label, "confidence": video.confidence,
            "has_hand": clip.has_hand, "unknown": video.unknown, "top": clip.top(TOP_K), "text": video.text,
            "n_frames": len(video.frames), "frames_with_hand": sum(p.has_hand for p in video.frames)}


UNKNOWN_LINE = "isyarat tidak dikenal (unknown sign)"  # a sign outside the model's vocabulary


def format_line(result: dict) -> str:
    """One readable line: path, answer, confidence, top-3 (and for a video the spelled text)."""
    if "error" in result:
        return f"{result['path']}  error: {result['error']}"
    if not result["has_hand"]:
        line = f"{result['path']}  no hand"
    else:
        top = ", ".join(f"{label} {p:.0%}" for label, p in result["top"])
        answer = result["label"] or (UNKNOWN_LINE if result.get("unknown") else "no sign")
        line = f"{result['path']}  {answer}  {result['confidence']:.0%}  ({top})"
    if result["media"] == "video":
        line += f"  text {json.dumps(result['text'], ensure_ascii=False)}  " \
                f"({result['n_frames']} frames, {result['frames_with_hand']} with a hand)"
    return line


def _without_path(message: str, path: Path) -> str:
    """Error messages start with the path; the line already shows it."""
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message
