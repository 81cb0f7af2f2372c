"""`isyarat recognize` and `isyarat webcam` as a user runs them, on real shared photos and videos.

The model is the ASL letter bundle trained in tests/test_runtime.py. SIBI's manual alphabet
derives from ASL's, so it reads the SIBI phone photos of B as B; on other photos the CLI must
print exactly what the Recognizer answers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from isyarat.cli.main import main
from isyarat.runtime.recognizer import Recognizer
from test_runtime import WORD_VIDEO, build_letter_bundle

SIBI_B = ["sibi-alphabet-ajustiago/images/B/IMG_20220221_171222.jpg",
          "sibi-alphabet-ajustiago/images/B/IMG_20220221_171229.jpg"]
BINUS_B = "bisindo-alphabet-binus/images/B/B.67e9aee7-e263-11ed-9892-001a7dda7115.jpg"
UNSURE = "sibi-alphabet-ajustiago/images/B/IMG_20220221_174932.jpg"  # read as B or U, about 50/50


@pytest.fixture(scope="module")
def bundle(datasets, tmp_path_factory) -> Path:
    return build_letter_bundle(datasets, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def letters(bundle) -> Recognizer:
    return Recognizer.load(bundle)


@pytest.fixture(scope="module")
def folder(datasets, tmp_path_factory) -> Path:
    """Photos, a video, a blank image, a corrupt image and a text file, in nested folders."""
    root = tmp_path_factory.mktemp("inputs") / "photos"
    (root / "sibi").mkdir(parents=True)
    (root / "video").mkdir()
    (root / "binus_B.jpg").symlink_to(datasets / BINUS_B)
    for i, photo in enumerate(SIBI_B):
        (root / "sibi" / f"B{i}.jpg").symlink_to(datasets / photo)
    (root / "video" / "belajar.mp4").symlink_to(datasets / WORD_VIDEO)
    cv2.imwrite(str(root / "blank.png"), np.full((480, 640, 3), 200, np.uint8))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def run(capsys, *args: str) -> tuple[int, list[str], str]:
    """The CLI in this process: exit code, stdout lines, stderr."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def run_process(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI as its own process, as a user starts it."""
    return subprocess.run([sys.executable, "-m", "isyarat.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "GLOG_minloglevel": "2", **(env or {})})


def top3(prediction) -> str:
    return ", ".join(f"{label} {p:.0%}" for label, p in prediction.top(3))


# ---- images ------------------------------------------------------------------------------------

def test_a_photo_gives_one_line_with_label_confidence_and_top3(capsys, bundle, letters, datasets):
    photo = datasets / SIBI_B[0]
    code, lines, _ = run(capsys, "recognize", photo, "--model", bundle)
    expected = letters.predict_image(photo)
    assert code == 0 and expected.label == "B"
    assert lines == [f"{photo}  B  {expected.confidence:.0%}  ({top3(expected)})"]


def test_a_bisindo_photo_prints_what_the_recognizer_answers(capsys, bundle, letters, datasets):
    photo = datasets / BINUS_B
    code, [line], _ = run(capsys, "recognize", photo, "--model", bundle, "--json")
    result = json.loads(line)
    expected = letters.predict_image(photo)
    assert code == 0 and result["has_hand"] and expected.has_hand
    assert result["label"] == expected.label and result["confidence"] == pytest.approx(expected.confidence)
    assert [label for label, _ in result["top"]] == [label for label, _ in expected.top(3)]
    assert [p for _, p in result["top"]] == pytest.approx([p for _, p in expected.top(3)])


def test_below_the_threshold_is_no_sign(capsys, bundle, datasets):
    photo = datasets / UNSURE
    expected = Recognizer.load(bundle, threshold=0.7).predict_image(photo)
    assert expected.label is None and expected.has_hand, "the photo is meant to be an unsure one"
    code, lines, _ = run(capsys, "recognize", photo, "--model", bundle, "--threshold", "0.7")
    assert code == 0 and lines == [f"{photo}  no sign  {expected.confidence:.0%}  ({top3(expected)})"]


# ---- folders -----------------------------------------------------------------------------------

def test_a_folder_is_read_recursively_and_a_corrupt_image_does_not_stop_it(capsys, bundle, folder):
    code, lines, _ = run(capsys, "recognize", folder, "--model", bundle, "--json")
    results = [json.loads(line) for line in lines]
    assert code == 1  # one file could not be read
    assert [Path(r["path"]).relative_to(folder).as_posix() for r in results] == [
        "binus_B.jpg", "blank.png", "broken.jpg", "sibi/B0.jpg", "sibi/B1.jpg", "video/belajar.mp4"]
    binus, blank, broken, sibi0, sibi1, video = results
    assert broken == {"path": str(folder / "broken.jpg"), "media": "image",
                      "error": "not a readable image: replace or remove the file"}
    assert blank["media"] == "image" and not blank["has_hand"] and blank["label"] is None and blank["top"] == []
    assert binus["has_hand"] and sibi0["label"] == sibi1["label"] == "B"
    assert video["media"] == "video" and video["n_frames"] > 60 and video["frames_with_hand"] > video["n_frames"] / 2
    assert isinstance(video["text"], str) and video["top"][0][1] == pytest.approx(video["confidence"])


def test_a_folder_in_readable_lines(capsys, bundle, folder):
    code, lines, _ = run(capsys, "recognize", folder / "sibi", "--model", bundle)
    assert code == 0 and len(lines) == 2
    assert all(line.startswith(str(folder / "sibi" / f"B{i}.jpg") + "  B  ") for i, line in enumerate(lines))
    code, lines, _ = run(capsys, "recognize", folder, "--model", bundle, "--threshold", "0.99")
    assert code == 1 and len(lines) == 6
    assert lines[1] == f"{folder / 'blank.png'}  no hand"
    assert lines[2] == f"{folder / 'broken.jpg'}  error: not a readable image: replace or remove the file"


# ---- videos ------------------------------------------------------------------------------------

def test_a_video_gives_the_clip_label_and_the_spelled_text(capsys, bundle, letters, datasets):
    video = datasets / WORD_VIDEO
    code, [line], _ = run(capsys, "recognize", video, "--model", bundle)
    expected = letters.predict_video(video)
    n_hand = sum(p.has_hand for p in expected.frames)
    top = ", ".join(f"{k} {p:.0%}" for k, p in sorted(expected.probabilities.items(), key=lambda kv: -kv[1])[:3])
    answer = expected.label or "no sign"
    assert code == 0 and line == (f"{video}  {answer}  {expected.confidence:.0%}  ({top})  "
                                  f"text {json.dumps(expected.text)}  ({len(expected.frames)} frames, {n_hand} with a hand)")


# ---- errors ------------------------------------------------------------------------------------

def test_a_missing_path_is_one_line_and_exit_code_2(bundle, tmp_path):
    done = run_process("recognize", tmp_path / "nope.jpg", "--model", bundle)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"isyarat recognize: error: {tmp_path / 'nope.jpg'}: no such file or folder"]


@pytest.mark.parametrize("name, error", [
    ("notes.txt", "unsupported file type '.txt'"),
    ("broken.jpg", "broken.jpg: not a readable image"),
    ("empty", "no images (.bmp, .jpeg, .jpg, .png, .webp) or videos"),
])
def test_bad_inputs_are_one_line_errors(capsys, bundle, folder, tmp_path, name, error):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("nothing to recognize")
    path = tmp_path / name if name == "empty" else folder / name
    code, lines, err = run(capsys, "recognize", path, "--model", bundle)
    assert code == 2 and lines == []
    [message] = err.strip().splitlines()
    assert message.startswith("isyarat recognize: error: ") and error in message


def test_an_unknown_model_is_one_line(capsys, folder, tmp_path):
    code, _, err = run(capsys, "recognize", folder / "sibi", "--model", tmp_path / "no-bundle")
    assert code == 2 and err.count("\n") == 1 and "no bundle at this path and no shipped model" in err


def test_webcam_without_a_display_or_a_camera_is_one_line(bundle):
    no_display = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, "-m", "isyarat.cli.main", "webcam", "--model", str(bundle)],
                          capture_output=True, text=True, timeout=120, env={**no_display, "GLOG_minloglevel": "2"})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "no display to open the webcam window on" in done.stderr and "isyarat serve" in done.stderr
    done = run_process("webcam", "--model", bundle, "--camera", "97", env={"DISPLAY": ":97"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "isyarat webcam: error: cannot open camera 97: check it is connected and not used by another app, "
        "or choose another with --camera N"]
