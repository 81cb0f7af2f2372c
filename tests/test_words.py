"""Words in a stream (issue 13 section 3): the word decoder writes each word once, when its
motion ends, and "no sign" between words, the same through a stream, the WebSocket and
`isyarat recognize`; and a video goes to the letter model unless a word model is asked for.

Real data: the shipped bisindo-words bundle's held-out WL-BISINDO clips (never trained on),
one per word, their landmarks concatenated into one stream with nothing between them.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from isyarat.cli.main import main
from isyarat.export.bundle import load_bundle
from isyarat.landmarks.media import iter_video_frames, video_fps
from isyarat.runtime.cli_recognize import shipped_for
from isyarat.runtime.recognizer import Recognizer, resolve_bundle
from isyarat.runtime.smoothing import Prediction
from isyarat.runtime.words import WordDecoder, WordSettings, sign_label
from isyarat.server.app import create_app
from isyarat.server.guards import LOCAL_HOSTS

WORDS = "bisindo-words"


def held_out(name: str, suffixes: tuple[str, ...]) -> list[dict]:
    return [h for h in load_bundle(resolve_bundle(name)).details["held_out"] if h["path"].lower().endswith(suffixes)]


@pytest.fixture(scope="module")
def words() -> Recognizer:
    return Recognizer.load(WORDS)


@pytest.fixture(scope="module")
def clips(words, datasets) -> list[tuple[str, np.ndarray, float]]:
    """(word, hands (T, 2, 21, 3), fps) of one held-out clip per word, tracked as a video."""
    out, seen = [], set()
    for item in held_out(WORDS, (".mp4",)):
        if item["label"] in seen:
            continue
        seen.add(item["label"])
        extractor = words.new_extractor(static=False)
        try:
            hands = np.stack([words.extract(extractor, f)[0] for f in iter_video_frames(datasets / item["path"])])
        finally:
            extractor.close()
        out.append((item["label"], hands, video_fps(datasets / item["path"])))
    assert len(out) == len(words.labels)
    return out


def one_stream(clips, order: list[int]) -> tuple[np.ndarray, list[str]]:
    """The clips' landmarks one after the other (nothing between) and the words they sign."""
    return np.concatenate([clips[i][1] for i in order]), [clips[i][0] for i in order]


@pytest.mark.parametrize("fps", [30.0, 10.0])
def test_words_in_one_stream_are_written_once_each(words, clips, fps):
    hands, expected = one_stream(clips, [2, 0, 3, 1])
    hands = np.concatenate([hands, np.full((45, 2, 21, 3), np.nan, np.float32)])  # then 1.5 s without a hand
    step = int(round(30 / fps))
    updates = []
    with words.stream() as stream:
        for n in range(0, len(hands), step):
            updates.append(stream.push_landmarks(hands[n], t=n / 30))
    assert stream.text == " ".join(expected)
    assert [u.added.strip() for u in updates if u.added] == expected
    # "no sign" between words: a word is shown for a moment once written, never left up
    assert sum(u.prediction.label is None for u in updates) > len(updates) / 2
    assert updates[-1].prediction.label is None


def test_the_websocket_word_mode_writes_the_same_words(words, clips):
    hands, expected = one_stream(clips, [1, 3, 0, 2])
    hands = np.concatenate([hands, np.full((45, 2, 21, 3), np.nan, np.float32)])  # then 1.5 s without a hand
    client = TestClient(create_app({WORDS: words}, data_dir=Path("/nonexistent-unused"),
                                   allowed_hosts=[*LOCAL_HOSTS, "testserver"]))
    with client.websocket_connect(f"/ws/{WORDS}") as ws:
        replies = []
        for n, frame in enumerate(hands):
            ws.send_json({"hands": [None if np.isnan(h).any() else h.tolist() for h in frame], "t": 1000 * n / 30})
            replies.append(ws.receive_json())
    assert replies[-1]["text"] == " ".join(expected)
    assert sum(bool(r["added"]) for r in replies) == 4
    assert replies[-1]["label"] is None


def test_recognize_a_word_clip_writes_its_word(datasets, capsys):
    item = held_out(WORDS, (".mp4",))[0]
    assert main(["recognize", str(datasets / item["path"]), "--model", WORDS, "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["label"] == item["label"] and line["text"] == item["label"]


def still_hand(rng: np.random.Generator, frames: int, jitter: float = 0.003) -> np.ndarray:
    """A hand held in view with landmark jitter: (frames, 2, 21, 3), the right slot."""
    base = np.full((2, 21, 3), np.nan, np.float32)
    base[1] = np.c_[rng.uniform(0.4, 0.6, (21, 2)), np.zeros(21)]
    base[1, 9, :2] = base[1, 0, :2] + [0.0, -0.1]  # wrist to middle knuckle: a hand size of 0.1
    return np.stack([base + rng.normal(0, jitter, base.shape).astype(np.float32) for _ in range(frames)])


def test_a_hand_held_still_in_view_is_no_sign_and_a_sign_needs_its_motion_to_end():
    rng = np.random.default_rng(0)
    decoder = WordDecoder(WordSettings())
    signs = []
    held = still_hand(rng, 150)
    for n in range(30):  # no hand, then a hand that comes into view and stays still
        signs.append(decoder.push(np.full((2, 21, 3), np.nan), None, n / 30))
    for n, frame in enumerate(held):
        signs.append(decoder.push(frame, None, 1 + n / 30))
    # the hand's arrival is a stir that ends once it stays still: one sign at most, then nothing
    assert sum(s is not None for s in signs) <= 1 and all(s is None for s in signs[-30:])
    moving = held[-1] + np.zeros((45, 1, 1, 1), np.float32)
    moving[:, 1, :, 0] += np.sin(np.linspace(0, 3 * np.pi, 45))[:, None] * 0.2  # 2 hand sizes side to side
    ended = [decoder.push(f, None, 6 + n / 30) for n, f in enumerate(moving)]
    assert all(s is None for s in ended)  # still moving: nothing read yet
    gone = [decoder.push(np.full((2, 21, 3), np.nan), None, 7.5 + n / 30) for n in range(15)]
    sign = [s for s in gone if s is not None]
    assert len(sign) == 1 and sign[0][0].shape[1:] == (2, 21, 3)
    assert decoder.decide(Prediction("Tuli", 0.9, {"Tuli": 0.9})) == "Tuli" and decoder.text == "Tuli"
    assert decoder.shown().label == "Tuli"  # shown for a moment ...
    decoder.push(np.full((2, 21, 3), np.nan), None, 10.0)
    assert decoder.shown() is None  # ... never left up
    assert decoder.decide(Prediction(None, 0.3, {"Tuli": 0.3})) is None and decoder.text == "Tuli"


def test_sign_label_is_the_one_place_no_sign_is_decided():
    assert sign_label(Prediction("maaf", 0.9)) == "maaf"
    assert sign_label(Prediction(None, 0.2)) is None


def test_a_letter_video_goes_to_the_motion_aware_letter_model(datasets, tmp_path, capsys):
    """`recognize letter.mp4 --system bisindo` reads a letter with the letter bundle (motion-aware),
    not the word model (which answered "Tuli 90%" for a letter before); --model picks the word model."""
    assert shipped_for("bisindo", "video") == "bisindo-letters"
    assert load_bundle(resolve_bundle("bisindo-letters")).motion is not None
    photo = held_out("bisindo-letters", (".jpg", ".jpeg", ".png"))[0]
    image = cv2.imread(str(datasets / photo["path"]))
    video = tmp_path / "letter.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (image.shape[1], image.shape[0]))
    for _ in range(15):  # the letter held for 1.5 s
        writer.write(image)
    writer.release()
    assert main(["recognize", str(video), "--system", "bisindo", "--json"]) == 0
    letter = json.loads(capsys.readouterr().out)
    assert letter["label"] == photo["label"] and letter["text"] == photo["label"]
    assert main(["recognize", str(video), "--model", WORDS, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in [*load_bundle(resolve_bundle(WORDS)).labels, None]
