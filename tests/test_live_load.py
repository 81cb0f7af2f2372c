"""The live path made cheaper for many viewers: the compact frame message and reply, and the
motion gate that measures each frame's wrist once. Same answers as before, on real landmarks
and the shipped SIBI letter model (motion-aware)."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from isyarat.landmarks.arrays import from_flat
from isyarat.landmarks.mirror import mirror_hands
from isyarat.runtime.motion import MotionGate, wrist_path, wrist_travel
from isyarat.runtime.recognizer import Recognizer
from isyarat.runtime.spelling import BRIDGE_S, lasted
from isyarat.server.app import create_app
from isyarat.server.live import TOP_K, compact_message

ASL = "asl-alphabet-landmarks-graudt/raw_gestures"


def asl_hands(datasets, letter: str, n: int, start: int = 0) -> np.ndarray:
    files = sorted((datasets / ASL / letter).glob("*.npy"), key=lambda p: int(p.stem.split("_")[1]))
    return np.stack([from_flat(np.load(f)).hands[0] for f in files[start:start + n]])


@pytest.fixture(scope="module")
def sibi() -> Recognizer:
    return Recognizer.load("sibi-letters")


@pytest.fixture(scope="module")
def client(sibi, tmp_path_factory) -> TestClient:
    app = create_app({"sibi": sibi}, data_dir=tmp_path_factory.mktemp("rec"), allowed_hosts=["testserver"])
    return TestClient(app)


def nested(hands: np.ndarray, **extra) -> str:
    return json.dumps({"hands": [None if np.isnan(h).any() else h.tolist() for h in hands], **extra})


def compact(hands: np.ndarray, **extra) -> str:
    return json.dumps(compact_message(hands, **extra))


def test_compact_and_nested_messages_get_the_same_answer(client, datasets):
    """Every letter's frames, one hand and mirrored into the left slot, each form on its own
    connection: the same letters and text; the compact reply carries the top labels rounded."""
    frames = np.concatenate([asl_hands(datasets, letter, 8, 20) for letter in "BLVWY"])
    frames = np.concatenate([frames, mirror_hands(frames)])
    replies = {}
    for form, write in (("nested", nested), ("compact", compact)):
        with client.websocket_connect("/ws/sibi") as ws:
            replies[form] = []
            for i, hands in enumerate(frames):
                ws.send_text(write(hands, t=1000.0 + 100 * i, id=i))
                replies[form].append(ws.receive_json())
    for old, new in zip(replies["nested"], replies["compact"]):
        assert new["id"] == old["id"] and new["label"] == old["label"] and new["text"] == old["text"]
        assert new["has_hand"] == old["has_hand"] and abs(new["confidence"] - old["confidence"]) < 0.01
        assert "probabilities" not in new and len(old["probabilities"]) == 26
        best = sorted(old["probabilities"].items(), key=lambda kv: kv[1], reverse=True)[:TOP_K]
        assert [label for label, _ in new["top"]] == [label for label, _ in best] or \
            np.allclose([p for _, p in new["top"]], [p for _, p in best], atol=0.01)  # near-ties may swap
        assert all(p == round(p, 3) for _, p in new["top"]) and new["confidence"] == round(new["confidence"], 3)
        assert [p for _, p in new["top"]] == sorted((p for _, p in new["top"]), reverse=True)
    assert replies["compact"][-1]["text"] == replies["nested"][-1]["text"] != ""
    compact_size = len(compact(frames[0], t=1234.5, id=1))
    assert compact_size < len(nested(frames[0], t=1234.5, id=1)) / 2


@pytest.mark.parametrize("message, error", [
    ({"left": None, "right": [0.5] * 62}, "63 numbers"),
    ({"left": [[0.5, 0.5, 0.0]] * 21 + [[0.1, 0.2]], "right": None}, "21 lists of 3"),
    ({"right": ["a"] * 63}, "63 numbers"),
    ({"right": "hand"}, "63 numbers"),
    ({"right": [0.5] * 62 + [1e6]}, "beyond"),
    ({"t": 5}, '"left"'),
    ({"left": None, "right": None, "pose": [0.1] * 131}, "132 numbers"),
])
def test_bad_compact_messages_get_an_error_and_the_connection_stays_usable(client, datasets, message, error):
    hands = asl_hands(datasets, "A", 1)[0]
    with client.websocket_connect("/ws/sibi") as ws:
        ws.send_text(json.dumps(message))
        assert error in ws.receive_json()["error"]
        ws.send_text('{"left": null, "right": [' + ",".join(["NaN"] * 63) + "]}")
        assert "finite" in ws.receive_json()["error"]
        ws.send_text(compact(hands, id="ok"))
        reply = ws.receive_json()
        assert reply["id"] == "ok" and reply["has_hand"] and len(reply["top"]) == TOP_K


def test_compact_messages_read_no_hand_and_degenerate_hands_as_no_sign(client):
    with client.websocket_connect("/ws/sibi") as ws:
        for message in ({"left": None, "right": None}, {"right": [0.0] * 63}, {"left": [0.3] * 63}):
            ws.send_text(json.dumps(message))
            reply = ws.receive_json()
            assert reply["label"] is None and reply["has_hand"] is False and reply["top"] == []


def test_the_gate_measures_each_wrist_once_and_answers_as_before(sibi, datasets):
    """Path and travel at every push equal the whole-window functions on the same frames: a hand
    held, then moving from letter to letter (its wrist jumps), with frames without a hand."""
    frames = np.concatenate([asl_hands(datasets, letter, 8) for letter in "ABJZ"])
    drift = np.linspace(0, 0.4, len(frames), dtype=np.float32)
    frames[:, :, :, 0] += drift[:, None, None]  # the wrist travels across the image
    frames[5::7] = np.nan
    settings = sibi.motion.gate
    gate, opened = MotionGate(settings), []
    for i in range(len(frames)):
        opened.append(gate.push(frames[i]))
        window = frames[max(0, i + 1 - settings.window):i + 1]
        assert gate.path == wrist_path(window) and gate.travel == wrist_travel(window)
    assert any(opened) and not all(opened)


def viewers_frames(datasets) -> list[np.ndarray]:
    """Six viewers' real ASL frames, 36 each: letters one after another (the wrist jumps, so the
    motion gate opens), the same mirrored (left hands), a drifting wrist, two hands (either
    wrist higher), gaps without a hand."""
    letters = np.concatenate([asl_hands(datasets, letter, 9, 10) for letter in "AJZB"])
    other = np.concatenate([asl_hands(datasets, letter, 9, 30) for letter in "LZYJ"])
    drifting = other.copy()
    drifting[..., 0] += np.linspace(0, 0.5, len(other), dtype=np.float32)[:, None, None]
    two = letters.copy()
    two[:, 0] = other[:, 1] - np.float32([0.3, 0.1 * (len(other) % 2), 0.0])
    two[::2, 0, :, 1] -= 0.2  # the left wrist higher: mirrored by the dominant-hand rule
    gaps = letters.copy()
    gaps[4::6] = np.nan
    return [letters, mirror_hands(letters), drifting, mirror_hands(other), two, gaps]


def test_viewers_batched_get_the_replies_they_get_one_by_one(sibi, datasets):
    """The frames of six viewers read together (one batch per frame time: one gate pass, one
    features call, one call of each model) give every viewer the very replies (every probability,
    the text) it gets when its frames are read alone, batch of one after batch of one."""
    from isyarat.server.batching import LiveBatcher
    from isyarat.server.live import reply

    frames = viewers_frames(datasets)
    motion_batches = []
    motion_model = sibi.motion.model

    class CountingMotion:
        def predict(self, x):
            motion_batches.append(len(x))
            return motion_model.predict(x)

    def message(hands, k):
        return nested(hands, t=1000.0 + 100.0 * k, id=k)  # 10 fps: each letter held 0.9 s

    async def alone(viewer):
        batcher, stream = LiveBatcher(sibi), sibi.stream()
        return [await reply(stream, message(h, k), batcher) for k, h in enumerate(viewer)]

    async def together():
        batcher, streams = LiveBatcher(sibi), [sibi.stream() for _ in frames]
        out = []
        for k in range(len(frames[0])):
            out.append(await asyncio.gather(*(reply(s, message(v[k], k), batcher) for s, v in zip(streams, frames))))
        assert batcher.batches == len(frames[0]) and batcher.frames == len(frames) * len(frames[0])
        return [list(replies) for replies in zip(*out)]

    sibi.motion.model = CountingMotion()
    try:
        one_by_one = [asyncio.run(alone(viewer)) for viewer in frames]
        calls_alone = len(motion_batches)
        batched = asyncio.run(together())
    finally:
        sibi.motion.model = motion_model
    calls_together = len(motion_batches) - calls_alone
    assert 0 < calls_together < calls_alone  # several viewers' moving hands read in one call
    for one, many in zip(one_by_one, batched):
        for a, b in zip(one, many):
            a.pop("latency_ms"), b.pop("latency_ms")
            assert a == b
    texts = [replies[-1]["text"] for replies in one_by_one]
    labels = {r["label"] for replies in one_by_one for r in replies}
    assert sum(map(bool, texts)) >= 3 and len(labels) > 5  # the viewers spelled, not one answer for all


def mixed_messages(datasets) -> list[list[str | None]]:
    """Twelve viewers' messages, 10 each: real ASL frames (compact and nested, one hand or two,
    numbers as the page rounds them or in full, as integers or as strings), resets, and in between
    bad messages of every kind (the bad-input corpus, and bad hands, poses and times): what a
    batch of the live server can hold."""
    from test_badinput import BAD_MESSAGES

    frames = viewers_frames(datasets)
    bad = list(BAD_MESSAGES.values()) + [None, "x" * 70_000, json.dumps({"reset": True, "left": "junk"})] + [
        json.dumps(m) for m in (
            {"left": None, "right": [0.5] * 62}, {"left": [[0.5, 0.5, 0.0]] * 21 + [[0.1, 0.2]], "right": None},
            {"right": ["a"] * 63}, {"right": "hand"}, {"right": [0.5] * 62 + [1e6]}, {"t": 5},
            {"left": None, "right": None, "pose": [0.1] * 131}, {"hands": [None]}, {"hands": [None, None, None]},
            {"left": [0.4] * 63, "right": [[0.5, 0.5, 0.0]] * 21, "t": "soon"}, {"right": [0.5] * 63, "t": True},
            {"left": [[0.1, 0.2, 0.3]] * 20 + [[0.1, 0.2, [0.3]]]}, {"right": [[0.1] * 3] * 63},
            {"left": None, "right": None, "t": 10 ** 400}, {"left": None, "right": None, "id": [1]})]
    bad.append('{"left": null, "right": [' + ",".join(["NaN"] * 63) + "]}")
    hand = frames[0][0, 1].astype(np.float64)
    for scale, keep in ((4e-5, 0), (4e-7, 0), (1e-3, 1)):  # tiny hands, seen or degenerate; a hand on a vertical line
        thin = (hand - hand[0]) * scale + 0.5
        thin[:, 0] = thin[:, 0] if not keep else 0.25
        bad.append(json.dumps({"left": thin.reshape(-1).tolist(), "right": None, "id": scale}))
    bad.append('{"left": [' + ",".join(["1e999"] * 63) + '], "right": null}')
    viewers = []
    for v in range(12):
        hands = frames[v % len(frames)]
        messages = []
        for k in range(10):
            h, t = hands[(3 * v + k) % len(hands)], 1000.0 + 100.0 * k
            good = compact_message(h, t=t, id=f"{v}-{k}" + "é✋\"" * (v == 4))  # any short string comes back
            if v % 4 == 1:  # the nested form, every number in full
                text = nested(h, t=t, id=k)
            elif v % 4 == 2 and k % 2:  # a good hand paired with a bad one: the bad one's error
                good["left" if good["left"] is None else "right"] = [0.5] * 62 + [float(v)]
                text = json.dumps(good)
            elif v % 4 == 3 and not np.isnan(h).all():  # numbers as integers (the wrist) or strings: parse_frame reads both
                slot = "left" if good["left"] is not None else "right"
                good[slot] = [int(x) if i < 3 else str(x) if k % 3 == 0 else x for i, x in enumerate(good[slot])]
                text = json.dumps(good)
            else:
                text = json.dumps(good)
            if (v + k) % 5 == 4:
                text = bad[(7 * v + k) % len(bad)]
            if v % 6 == 5 and k == 6:
                text = json.dumps({"reset": True, "id": k})
            messages.append(text)
        viewers.append(messages)
    viewers[0][3:9] = bad[-6:]  # every kind of bad (or odd) message somewhere
    for i, text in enumerate(bad):
        viewers[6 + i % 6][i // 6 % 10] = text
    return viewers


def test_a_mixed_batch_of_many_viewers_gets_the_replies_they_get_one_by_one(sibi, datasets, monkeypatch):
    """Twelve viewers whose messages come in together: the batch's hands read as one array
    (frames.read_frames) give each message the very reply (JSON text, errors included) that it gets
    alone, read by parse_frame one message at a time."""
    from isyarat.server import frames
    from isyarat.server.batching import LiveBatcher
    from isyarat.server.live import safe_reply, to_json

    viewers = mixed_messages(datasets)
    checked = []
    check_hands = frames._check_hands

    def counting(values):
        checked.append(len(values) // 63)
        return check_hands(values)

    async def alone(messages):
        batcher, stream = LiveBatcher(sibi), sibi.stream()
        return [await safe_reply(stream, text, batcher) for text in messages]

    async def together():
        batcher, streams = LiveBatcher(sibi), [sibi.stream() for _ in viewers]
        out = []
        for k in range(len(viewers[0])):
            out.append(await asyncio.gather(*(safe_reply(s, v[k], batcher) for s, v in zip(streams, viewers))))
        return [list(replies) for replies in zip(*out)]

    one_by_one = [asyncio.run(alone(messages)) for messages in viewers]
    assert not checked  # alone: parse_frame, one message at a time
    monkeypatch.setattr(frames, "_check_hands", counting)
    batched = asyncio.run(together())
    assert len(checked) >= len(viewers[0]) and sum(checked) > 60  # the batches' hands went through the array path
    kinds = set()
    for one, many in zip(one_by_one, batched):
        for a, b in zip(one, many):
            a.pop("latency_ms", None), b.pop("latency_ms", None)
            assert to_json(a) == to_json(b) and a == b
            assert json.loads(to_json(a), parse_constant=float.fromhex) == a  # strict JSON: NaN would not parse
            kinds.add("error" if "error" in a else "reset" if "reset" in a else "hand" if a["has_hand"] else "none")
    assert kinds == {"error", "reset", "hand", "none"}
    errors = {r["error"] for replies in one_by_one for r in replies if "error" in r}
    assert len(errors) > 20  # many different refusals, each word for word
    assert any(r.get("text") for replies in one_by_one for r in replies)
    assert json.loads(to_json({"confidence": float("nan"), "id": 3})) == {"error": "no usable prediction for this frame", "id": 3}


@pytest.mark.parametrize("needs_pose", [False, True])
def test_a_batch_of_messages_reads_as_each_message_alone(datasets, needs_pose):
    """read_frames on the mixed messages (and messages with a body pose: flat, nested, null, missing,
    bad) gives each message what read_frame gives it alone: the same arrays, or the same error."""
    from isyarat.server.frames import read_frame, read_frames
    from isyarat.server.live import BadMessage, decode

    pose = np.random.default_rng(0).random((33, 4)).round(4)
    texts = [text for viewer in mixed_messages(datasets) for text in viewer]
    messages = []
    for text in texts:
        try:
            messages.append(decode(text))
        except BadMessage:
            continue
    with_pose = [dict(m, pose=p) for m, p in zip(messages[:40], [pose.reshape(-1).tolist(), pose.tolist(), None,
                                                                  [0.5] * 131, "body", [[1e6, 0, 0, 1]] * 33] * 7)]
    batch = messages + with_pose
    for message, got in zip(batch, read_frames(batch, needs_pose)):
        try:
            want = read_frame(message, needs_pose)
        except Exception as err:
            assert type(got) is type(err) and str(got) == str(err)
            continue
        assert not isinstance(got, Exception), got
        np.testing.assert_array_equal(got.hands, want.hands)
        assert got.hands.dtype == np.float32 and got.t == want.t
        assert (got.pose is None) == (want.pose is None)
        if want.pose is not None:
            np.testing.assert_array_equal(got.pose, want.pose)


def test_a_failing_batch_answers_every_viewer_and_a_viewer_that_left_does_not_stop_the_others(sibi, datasets, monkeypatch):
    """No viewer waits forever: when reading the batch fails (it should never), each gets the error
    reply; a viewer whose wait was cancelled (it disconnected) leaves the others their replies."""
    from isyarat.server import batching
    from isyarat.server.live import safe_reply

    texts = [compact(h, t=1000.0, id=i) for i, h in enumerate(asl_hands(datasets, "B", 5))]

    async def viewers(cancel_first: bool):
        batcher = batching.LiveBatcher(sibi)
        tasks = [asyncio.ensure_future(safe_reply(sibi.stream(), text, batcher)) for text in texts]
        if cancel_first:
            await asyncio.sleep(0)  # every viewer waits for the batch now
            tasks[0].cancel()
        done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=60)
        return done, batcher

    replies, batcher = asyncio.run(viewers(cancel_first=True))
    assert isinstance(replies[0], asyncio.CancelledError) and batcher.frames == len(texts)
    assert [r["id"] for r in replies[1:]] == [1, 2, 3, 4] and all(r["has_hand"] and r["top"] for r in replies[1:])

    def broken(messages, needs_pose):
        raise RuntimeError("a bug")

    monkeypatch.setattr(batching, "read_frames", broken)
    replies, _ = asyncio.run(viewers(cancel_first=False))
    assert replies == [{"error": "the server could not use this frame; the connection stays open"}] * len(texts)


def test_the_realtime_bench_times_every_step_of_this_checkout(realtime_bench):
    """bench/realtime.py (c) wraps the live path's functions by name: it must find them all in this
    checkout (a renamed or moved step would stop the bench, or time nothing)."""
    from isyarat.shipped_models import SHIPPED_DIR

    result = realtime_bench.frame_cost(SHIPPED_DIR / "sibi-letters", rounds=1, viewers=[3])
    steps = result["compact, 3 viewers"]["steps_us"]
    assert all(steps[name] > 0 for name in ("parse message", "motion gate", "features", "model",
                                            "smoothing, decoder (end_frame)")), steps
    assert result["compact, 3 viewers"]["moving_calls_per_frame"] > 0  # the motion model ran (letters change)


def test_the_benches_fingerspelled_letters_move_the_hand_as_a_signer_does(realtime_bench, sibi):
    """bench (c), (d) and push_many_ab --frames signing play the 26 letters fingerspelled (synthetic
    holds and paths from real hands) because the webcam frames hardly move the hand: the shipped
    model's gate opens several times as often there, and most letters are spelled (a webcam
    letter lasts 12 frames, 0.4 s, less than a letter's hold)."""
    opened = {}
    for source in ("webcam", "signing"):
        stream = sibi.stream()
        moving = 0
        for k, hands in enumerate(realtime_bench.live_frames(source)):
            stream.push_landmarks(hands, t=k / 30)
            moving += stream.gate.moving
        opened[source] = moving / (k + 1)
    assert len(stream.text) >= 13, stream.text
    assert opened["webcam"] < 0.1 and opened["signing"] > 3 * opened["webcam"], opened



def test_the_page_like_load_client_keeps_two_frames_in_flight_and_skips_the_rest(realtime_bench):
    """bench (d) --client page sends as the live page does: a camera frame every 1/30 s, skipped
    while two await their reply; each reply is matched to the oldest frame awaiting one."""
    import orjson

    class Wire:
        def __init__(self) -> None:
            self.frames: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.frames.append(data)

    async def play():
        client = realtime_bench.RawClient()
        client.transport = wire = Wire()
        run = asyncio.ensure_future(client.play_page(['{"left":null,"right":null,"id":'], seconds=0.5))
        await asyncio.sleep(0.2)  # ~6 camera frames, no reply yet: two sent, the others skipped
        sent_early, skipped_early = len(wire.frames), client.skipped
        client._reply(orjson.dumps({"id": 0, "latency_ms": 1.0}))
        client._reply(orjson.dumps({"id": 5, "latency_ms": 1.0}))  # frame 1 awaits this one: an error
        await asyncio.sleep(0.1)  # room for two more frames
        sent_after = len(wire.frames)
        return await run, sent_early, skipped_early, sent_after, wire

    result, sent_early, skipped_early, sent_after, wire = asyncio.run(play())
    assert sent_early == 2 and skipped_early >= 3
    assert sent_after == 4 and b'"id":0}' in wire.frames[0] and b'"id":1}' in wire.frames[1]
    assert len(result["rtts"]) == 2 and result["errors"] == ["reply id 5 for frame 1"]
    assert result["skipped"] >= 9  # 15 camera frames in 0.5 s, 4 sent

EDGE_MESSAGES = [  # what orjson and the stdlib's reader could read differently
    '{"left": null, "right": null, "id": 123456789012345678901234567890}',
    '{"left": null, "right": null, "id": 9007199254740993}', '{"left": null, "right": null, "id": -0.0}',
    '{"left": null, "right": null, "id": "\\u00e9\\ud83d\\ude00"}', '{"left": null, "right": null, "id": "\\udfff"}',
    '{"left": null, "left": [0.5], "right": null}', ' {"left": null, "right": null} ', '{"left": null, "right": null,}',
    '{"left": null, "right": null, "t": 1e308}', '{"left": null, "right": null, "t": 100000000000000000000000}',
    '{"right": [' + ",".join(["1" + "0" * 30] * 63) + '], "left": null}',
    '{"hands": ' + "[" * 1000 + "]" * 1000 + "}", '{"hands": ' + "[" * 1023 + "]" * 1023 + "}",
    '{"left": null, "right": null, "reset": 1}', "{\"left\": null, \"right\": null, \"id\": \"a\\tb\"}",
    '{"left": null, "right": null, "id": "tab\there"}', "\ufeff{}", '{"reset": true}']


def test_orjson_reads_every_message_as_the_stdlib_reader_does(sibi, datasets, monkeypatch, caplog):
    """live.decode reads with orjson and hands what orjson refuses to the stdlib's reader: every
    message of the mixed viewers, the bad-input corpus and the edge cases between the two readers
    gets the reply (errors word for word) it gets from the stdlib's reader alone."""
    from isyarat.server import live
    from isyarat.server.batching import LiveBatcher
    from test_badinput import BAD_MESSAGES

    viewers = mixed_messages(datasets) + [list(BAD_MESSAGES.values()), EDGE_MESSAGES]

    async def replies(messages):
        batcher, stream = LiveBatcher(sibi), sibi.stream()
        return [await live.safe_reply(stream, text, batcher) for text in messages]

    def refuse(text):
        raise live.orjson.JSONDecodeError("refused", "", 0)

    fast = [asyncio.run(replies(messages)) for messages in viewers]
    monkeypatch.setattr(live.orjson, "loads", refuse)
    slow = [asyncio.run(replies(messages)) for messages in viewers]
    deep = {text for text in EDGE_MESSAGES if text.count("[") >= 1000}  # orjson reads 1,024 levels; the stdlib
    for text, a, b in zip(sum(viewers, []), sum(fast, []), sum(slow, [])):  # fewer, by its stack's depth
        a.pop("latency_ms", None), b.pop("latency_ms", None)
        assert a == b and live.to_json(a) == live.to_json(b) or text in deep and "error" in a and "error" in b
    edge = fast[-1]
    assert sum("error" in r for r in edge) >= 5 and sum("error" not in r for r in edge) >= 5, edge
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "a message failed with a traceback"


def test_replies_are_strict_json_and_a_number_that_is_not_finite_makes_an_error():
    from isyarat.server.live import to_json

    compact = {"label": "A", "confidence": 0.5, "top": [["A", 0.5], ["B", 0.25]], "has_hand": True,
               "text": "é✋\"", "added": None, "latency_ms": 0.125, "id": "x"}
    nested = {"label": None, "confidence": 0.0, "probabilities": {"A": 3.2e-07, "B": np.float32(0.25)},
              "has_hand": True, "unknown": False, "text": "", "added": None, "latency_ms": 1.5, "id": 2}
    assert json.loads(to_json(compact)) == compact
    assert json.loads(to_json(nested)) == {**nested, "probabilities": {"A": 3.2e-07, "B": 0.25}}
    for bad in (float("nan"), float("inf"), -float("inf"), np.float32("nan")):
        for reply in ({**compact, "confidence": bad}, {**compact, "latency_ms": bad},
                      {**compact, "top": [["A", 0.5], ["B", bad]]}, {**nested, "probabilities": {"A": bad}}):
            assert json.loads(to_json(reply)) == {"error": "no usable prediction for this frame", "id": reply["id"]}
    assert json.loads(to_json({**compact, "label": object()}))["error"]  # unwritable: an error, not an exception


def test_a_batch_takes_the_frames_of_the_next_event_loop_turn_too(sibi, datasets):
    """A frame read one turn after a batch's first joins that batch (BATCH_TURNS = 2: twice the
    frames a batch under load); one read two turns after it starts the next batch (the wait is
    bounded)."""
    from isyarat.server.batching import LiveBatcher

    message = compact_message(asl_hands(datasets, "B", 1)[0])

    async def batches(turns_between: int) -> tuple[int, int]:
        batcher, streams = LiveBatcher(sibi), [sibi.stream(), sibi.stream()]
        first = batcher.push(streams[0], message)
        for _ in range(turns_between):
            await asyncio.sleep(0)  # one turn of the event loop
        second = batcher.push(streams[1], message)
        for update in await asyncio.gather(first, second):
            assert update.prediction.has_hand
        return batcher.batches, batcher.frames

    assert asyncio.run(batches(1)) == (1, 2)
    assert asyncio.run(batches(2)) == (2, 2)


def test_a_viewer_with_two_frames_in_flight_gets_what_it_gets_one_by_one(sibi, datasets):
    """A stream's two frames pushed in one turn (live_session never does: it answers each message
    before reading the next, but the batcher takes any caller): the second waits for the next
    batch (a stream's frames are pushed one after the other), so every reply is the one the
    stream gets alone; before, the first frame's smoothing and motion window saw the second frame."""
    from isyarat.server.batching import LiveBatcher

    hands = np.concatenate([asl_hands(datasets, letter, 6) for letter in "BJLZ"])
    messages = [compact_message(h, t=1000.0 + 33 * i) for i, h in enumerate(hands)]

    async def two_in_flight():
        batcher, viewer, others = LiveBatcher(sibi), sibi.stream(), [sibi.stream() for _ in range(6)]
        out = []
        for k in range(0, len(messages), 2):
            replies = await asyncio.gather(batcher.push(viewer, messages[k]), batcher.push(viewer, messages[k + 1]),
                                           *(batcher.push(other, messages[k]) for other in others))
            out += replies[:2]
        return out, batcher.batches

    async def one_by_one():
        batcher, viewer = LiveBatcher(sibi), sibi.stream()
        return [await batcher.push(viewer, message) for message in messages]

    together, batches = asyncio.run(two_in_flight())
    assert batches == len(messages)  # each pair split over two batches
    for a, b in zip(together, asyncio.run(one_by_one())):
        assert (a.prediction.label, a.prediction.confidence, a.text, a.added) == \
            (b.prediction.label, b.prediction.confidence, b.text, b.added)


class SpoiledRows:
    """A model whose output rows are NaN for some inputs, chosen by the input's own numbers (so a
    frame gets the same output alone or in any batch): a model that cannot read a frame."""

    def __init__(self, model) -> None:
        self.model, self.spoiled = model, 0

    def predict(self, x):
        out = self.model.predict(x)
        spoiled = (np.abs(x.reshape(len(x), -1)).sum(axis=1) * 1000).astype(np.int64) % 7 == 0
        out[spoiled] = np.nan
        self.spoiled += int(spoiled.sum())
        return out


def test_many_viewers_pushed_together_get_what_each_gets_alone(sibi, datasets):
    """push_many of 16 viewers (the gates, smoothing and decisions as arrays) gives every frame
    the very prediction (every probability, bit for bit), text and added letter that the viewer
    gets pushing its frames alone: letters one after another (the motion model reads the moving
    hands), gaps, viewers joining late and resetting, clocks at 30 and 10 fps and one that jumps
    (smoothing windows emptied by age), and model outputs that are not finite (no sign)."""
    from isyarat.runtime.stream import push_many

    frames = viewers_frames(datasets)
    n_viewers, ticks = 16, 36
    hands = [np.roll(frames[v % len(frames)], 5 * v, axis=0) for v in range(n_viewers)]

    def time_of(v: int, k: int) -> float:
        fps = 10.0 if v % 3 == 0 else 30.0
        return 1000.0 + k / fps + (0.5 if v == 5 and k >= 20 else 0.0)

    def pushes(v: int) -> list[int]:  # the ticks viewer v pushes a frame at
        return [k for k in range(ticks) if k >= 2 * (v % 4) and not (v % 5 == 2 and k % 7 == 3)]

    def seen(update):
        p = update.prediction
        return (p.label, p.confidence, p.has_hand, dict(p.probabilities), update.text, update.added)

    motion, model = sibi.motion.model, sibi.bundle.model
    sibi.motion.model, sibi.bundle.model = spoiled_motion, spoiled_frames = SpoiledRows(motion), SpoiledRows(model)
    try:
        alone = []
        for v in range(n_viewers):
            stream = sibi.stream()
            out = {}
            for k in pushes(v):
                if v == 7 and k == 18:
                    stream.reset()
                out[k] = seen(stream.push_landmarks(hands[v][k], t=time_of(v, k)))
            alone.append(out)
        streams = [sibi.stream() for _ in range(n_viewers)]
        together = [{} for _ in range(n_viewers)]
        for k in range(ticks):
            if k == 18:
                streams[7].reset()
            batch = [v for v in range(n_viewers) if k in pushes(v)]
            updates = push_many([streams[v] for v in batch], [hands[v][k] for v in batch], None,
                                [time_of(v, k) for v in batch])
            for v, update in zip(batch, updates):
                together[v][k] = seen(update)
    finally:
        sibi.motion.model, sibi.bundle.model = motion, model
    for v in range(n_viewers):
        assert together[v] == alone[v], v
    assert spoiled_motion.spoiled > 2 and spoiled_frames.spoiled > 20  # outputs not finite: no sign
    shown = [r for out in alone for r in out.values()]
    assert sum(bool(r[3]) for r in shown) > 300 and len({r[0] for r in shown}) > 5 and any(r[5] for r in shown)


def j_and_z_viewers(datasets) -> list[np.ndarray]:
    """Twelve viewers' 90 frames: J or Z drawn (synthetic paths from real I and D hands), a rest in
    the end handshape, A signed, the letter drawn again."""
    from dataclasses import replace

    from isyarat.synth import SynthSettings, moving_sequence
    from isyarat.vocab import load_vocabulary

    def flipped(hands):  # the ASL set is mirrored (data/sources.yaml)
        hands = hands.copy()
        hands[..., 0] = 1.0 - hands[..., 0]
        return hands

    vocab, rng = load_vocabulary("sibi"), np.random.default_rng(5)
    viewers = []
    for v in range(12):
        letter, start = ("J", "I") if v % 2 == 0 else ("Z", "D")
        hand = flipped(asl_hands(datasets, start, 1, 10 + 7 * v)[0])
        clip = moving_sequence(hand, vocab.sign(letter).motion, rng,
                               replace(SynthSettings(), hold_frames=(2, 4), left_handed=0.0)).hands
        rest, a = [clip[-1]] * 25, list(flipped(asl_hands(datasets, "A", 10)))
        viewers.append(np.stack([*[clip[0]] * (5 + v), *clip, *rest, *a, *clip, *rest][:90]))
    return viewers


def test_viewers_drawing_j_and_z_together_get_what_each_gets_alone(sibi, datasets):
    """Twelve viewers draw J or Z (synthetic paths from real I and D hands, the motion model
    reads them), rest in the end handshape, sign A, then draw again: pushed together, each gets
    the very frames it gets alone; the resting hand keeps the moving letter (its shape compared
    with the shape it rested in after moving), so no I or D is written after a J or a Z."""
    from isyarat.runtime.stream import push_many

    viewers = j_and_z_viewers(datasets)

    def seen(update):
        p = update.prediction
        return (p.label, p.confidence, p.has_hand, dict(p.probabilities), update.text, update.added)

    alone = []
    for frames in viewers:
        stream = sibi.stream()
        alone.append([seen(stream.push_landmarks(h, t=k / 30)) for k, h in enumerate(frames)])
    streams = [sibi.stream() for _ in viewers]
    together = [[] for _ in viewers]
    for k in range(90):
        for out, update in zip(together, push_many(streams, [v[k] for v in viewers], None, [k / 30] * len(viewers))):
            out.append(seen(update))
    assert together == alone
    texts = [frames[-1][4] for frames in alone]
    assert all(text and set(text) <= {"J", "Z"} for text in texts), texts
    assert sum(len(text) == 2 for text in texts) >= 6, texts  # both moving letters read, for most viewers


def test_the_motion_model_reads_a_window_from_its_frames_kept_inputs_as_from_its_hands(sibi, datasets, monkeypatch):
    """A moving hand's window is read every few frames, and its frames' vectors were made before,
    as the frame model's inputs (a moving frame's too, in a batch with still frames): the stream
    keeps them and the motion model's window takes them (sequence_features' rows) instead of
    computing them again. The windows' probabilities, and so
    every reply, are bit for bit those made from the hands: J and Z viewers alone and together,
    with the tracker missing the hand (bridged frames keep the row of the hands they keep), mirrored
    (a left hand) and with a second hand in view (both hands: the window's mirror rule applies,
    so that window is made from the hands)."""
    from isyarat.landmarks.mirror import mirror_hands
    from isyarat.runtime.recognizer import Recognizer
    from isyarat.runtime.stream import push_many

    viewers = j_and_z_viewers(datasets)[:6]
    lost = viewers[0].copy()
    lost[np.arange(len(lost)) % 7 == 6] = np.nan
    two = viewers[1].copy()
    two[30:60, 0] = mirror_hands(viewers[0][30:60])[:, 0]  # a left hand beside the right, higher or lower
    viewers += [lost, two, mirror_hands(viewers[2])]
    used = {"rows": 0, "hands": 0}
    read = sibi.motion_probabilities_many

    def reads(windows, rows=None):
        out = read(windows, rows)
        for window, row in zip(windows, rows or [None] * len(windows)):
            used["rows" if row is not None and np.isfinite(window.hands).all(axis=(2, 3)).sum(axis=1).max() < 2
                 else "hands"] += 1
        calls.append(out)
        return out

    monkeypatch.setattr(sibi, "motion_probabilities_many", reads)

    def play(reuse: bool, together: bool) -> tuple[list, list]:
        monkeypatch.setattr(Recognizer, "reuses_frame_rows", property(lambda self: reuse and self.motion is not None))
        calls.clear()
        streams = [sibi.stream() for _ in viewers]
        if together:
            updates = [push_many(streams, [v[k] for v in viewers], None, [k / 30] * len(viewers)) for k in range(90)]
        else:
            updates = [[s.push_landmarks(v[k], t=k / 30) for k in range(90)] for s, v in zip(streams, viewers)]
            updates = [list(frame) for frame in zip(*updates)]
        return [[(u.prediction.label, u.prediction.confidence, dict(u.prediction.probabilities), u.text)
                 for u in frame] for frame in updates], [c.tolist() for c in calls]

    calls: list = []
    for together in (False, True):
        used.update(rows=0, hands=0)
        kept = play(True, together)
        if together:  # most windows from kept rows, the two-handed ones from their hands
            assert used["rows"] > 30 and used["hands"] > 5, used
        else:  # a lone viewer's moving frames make no frame-model call, so its windows are made from the hands
            assert used["rows"] == 0 and used["hands"] > 50, used
        assert kept == play(False, together)


def test_the_reach_of_a_stream_s_window_comes_from_the_wrists_its_gate_saw(sibi, datasets):
    """A moving letter is written at a glance only when the wrist got MIN_REACH hand sizes from
    where it set off over the motion model's window; the stream keeps each frame's signing wrist as
    the gate saw it (a bridged frame: the hand last seen) and measures the reach from those, which
    is wrist_reach of the window's hands at every frame: J and Z viewers alone and together, the
    tracker missing the hand, a viewer resetting."""
    from isyarat.runtime.motion import reach, wrist_reach
    from isyarat.runtime.stream import push_many

    viewers = j_and_z_viewers(datasets)[:4]
    viewers[1] = viewers[1].copy()
    viewers[1][np.arange(90) % 5 == 4] = np.nan
    frames = sibi.motion.features.frames
    streams = [sibi.stream() for _ in viewers]
    reaches = []
    for k in range(90):
        if k == 40:
            streams[2].reset()
        push_many(streams, [v[k] for v in viewers], None, [k / 30] * len(viewers))
        for stream in streams:
            kept = reach(list(stream._wrists)[-frames:])
            assert kept == wrist_reach(stream._window_landmarks(frames).hands), k
            reaches.append(kept)
    assert max(reaches) > 1.0 and min(reaches) == 0.0


def test_a_hand_the_tracker_misses_for_a_frame_keeps_its_moving_letter(sibi, datasets):
    """Twelve viewers draw J or Z (then rest, sign A, draw again) while the tracker misses the
    hand in every 7th or 11th frame: each still writes its letter and nothing else. The stream
    keeps the hands last seen through a miss (the wrist's path, its reach and the motion model's
    window go on) and the decoder keeps the letter's time; without that bridge (bridge_s=0) the
    gate's runs and the letters' holds broke at every miss and most viewers wrote nothing."""
    viewers = j_and_z_viewers(datasets)
    for every in (7, 11):
        written = {}
        for bridge_s in (0.2, 0.0):
            texts = []
            for v, frames in enumerate(viewers):
                frames = frames.copy()
                frames[np.arange(len(frames)) % every == every - 1] = np.nan
                stream = sibi.stream(bridge_s=bridge_s)
                for k, hands in enumerate(frames):
                    stream.push_landmarks(hands, t=k / 30)
                texts.append(stream.text)
            written[bridge_s] = sum(set(text) == {"J" if v % 2 == 0 else "Z"} for v, text in enumerate(texts))
            if bridge_s:
                assert written[bridge_s] == len(viewers), (every, texts)
        assert written[0.0] <= len(viewers) // 2, (every, written)

def moving_frames(recognizer: Recognizer, frames: np.ndarray, reset_at: int | None = None,
                  times: list[float] | None = None) -> list[bool]:
    """Which frames a stream reads as moving (frame k at times[k] s, k / 30 by default): its gate
    open (a gate of the bundle's settings, reset where the stream is) and a hand in the frame. A
    frame that lost the hand less than BRIDGE_S after it was seen shows the gate the hands last seen."""
    gate, out, last = MotionGate(recognizer.motion.gate), [], None
    times = [k / 30 for k in range(len(frames))] if times is None else times
    for k, (hands, t) in enumerate(zip(frames, times)):
        if k == reset_at:
            gate.reset()
            last = None
        seen = bool(np.isfinite(hands).all(axis=(1, 2)).any())
        if seen:
            last = (hands, t)
        elif last is not None and not lasted(last[1], t, BRIDGE_S):
            hands = last[0]
        out.append(gate.push(hands) and seen)
    return out


def reads_of_each_run(moving: list[bool], times: list[float], stride_s: float, most: int) -> list[int]:
    """The frames whose window the motion model reads: the first of each run of moving frames, then
    each one at least `stride_s` seconds after the run's latest read, or `most` frames after it."""
    reads, last = [], None
    for k, now in enumerate(moving):
        if not now:
            last = None
        elif last is None or times[k] - times[last] >= stride_s or k - last >= most:
            reads.append(k)
            last = k
    return reads


def test_a_moving_hand_s_window_is_read_every_tenth_of_a_second_of_its_stream(sibi, datasets, monkeypatch):
    """While the gate stays open the motion model reads a stream's window on the frame it opened and
    then once MOTION_EVERY_S (0.09 s) of frame time has passed: every 3rd frame at 30 fps, every 2nd
    at 15 fps, and every MOTION_EVERY_MAX-th when the frames' clock stalls; the frames between take
    its latest read. A frame without a hand in the path, or a reset, starts the count again. The
    streams write what they write when every moving frame is read (a stride of 0 s)."""
    from isyarat.runtime import stream as stream_module

    assert stream_module.MOTION_EVERY_S == 0.09 and stream_module.MOTION_EVERY_MAX == 6
    read_at, pushing = [], [0]

    def counted(windows, rows=None, read=sibi.motion_probabilities_many):
        read_at.extend([pushing[0]] * len(windows))
        return read(windows, rows)

    monkeypatch.setattr(sibi, "motion_probabilities_many", counted)
    j, z = j_and_z_viewers(datasets)[:2]
    j = j.copy()
    j[25] = np.nan  # the hand lost for a frame on the J's path, just after a read
    clocks = {"steady": lambda n, fps: [k / fps for k in range(n)], "stalled": lambda n, fps: [1.0] * n}
    texts, share = {}, {}
    for stride, clock, fps in ((0.09, "steady", 30), (0.0, "steady", 30), (0.09, "stalled", 30),
                               (0.09, "steady", 15), (0.0, "steady", 15)):
        monkeypatch.setattr(stream_module, "MOTION_EVERY_S", stride)
        for is_j, clip, reset_at in ((True, j, None), (False, z, 20)):  # the reset: mid-path
            frames = clip[::30 // fps]  # 15 fps: every 2nd frame, at its own time
            reset_at = None if reset_at is None else reset_at * fps // 30
            times = clocks[clock](len(frames), fps)
            read_at.clear()
            stream = sibi.stream()
            for k, (hands, t) in enumerate(zip(frames, times)):
                if k == reset_at:
                    stream.reset()
                pushing[0] = k
                stream.push_landmarks(hands, t=t)
            moving = moving_frames(sibi, frames, reset_at, times)
            assert read_at == reads_of_each_run(moving, times, stride, 6), (stride, clock, fps)
            assert sum(moving) > 20 * fps / 30
            share[stride, clock, fps, is_j] = len(read_at) / sum(moving)
            texts[stride, clock, fps, is_j] = stream.text
    assert moving_frames(sibi, j)[24:27] == [True, False, True]
    for is_j in (True, False):
        assert share[0.0, "steady", 30, is_j] == share[0.0, "steady", 15, is_j] == 1.0
        assert share[0.09, "steady", 30, is_j] <= 0.45 and share[0.09, "steady", 15, is_j] <= 0.65
        assert share[0.09, "stalled", 30, is_j] <= 0.25
    for fps in (30, 15):
        for is_j, letter in ((True, "J"), (False, "Z")):
            assert texts[0.09, "steady", fps, is_j] == texts[0.0, "steady", fps, is_j], texts
            assert letter in texts[0.0, "steady", fps, is_j], texts


def test_viewers_read_the_same_moving_frames_in_any_batch_as_alone(sibi, datasets, monkeypatch):
    """The motion model's stride counts each stream's own frames and times, never batches: twelve viewers
    drawing J and Z, some skipping frames (so their batches change), some losing the hand on the
    path, one resetting mid-letter, get alone and pushed together the very same frames, and the
    motion model reads the same windows, about a third of their moving frames."""
    from isyarat.runtime.stream import push_many

    viewers, ticks = j_and_z_viewers(datasets), 90
    for v in range(3, 12, 4):
        viewers[v] = viewers[v].copy()
        viewers[v][20 + v] = np.nan  # the hand lost on the path
    reads = [0]

    def counted(windows, rows=None, read=sibi.motion_probabilities_many):
        reads[0] += len(windows)
        return read(windows, rows)

    monkeypatch.setattr(sibi, "motion_probabilities_many", counted)

    def pushes(v: int) -> list[int]:  # the ticks viewer v pushes a frame at
        return [k for k in range(ticks) if v % 3 != 1 or (k + v) % 5 != 0]

    def seen(update):
        p = update.prediction
        return (p.label, p.confidence, p.has_hand, dict(p.probabilities), update.text, update.added)

    alone, moving = [], 0
    for v, frames in enumerate(viewers):
        stream, reset_at = sibi.stream(), 30 if v == 5 else None
        out = {}
        for k in pushes(v):
            if k == reset_at:
                stream.reset()
            out[k] = seen(stream.push_landmarks(frames[k], t=k / 30))
        alone.append(out)
        moving += sum(moving_frames(sibi, frames[pushes(v)], pushes(v).index(30) if v == 5 else None))
    read_alone, reads[0] = reads[0], 0
    streams, together = [sibi.stream() for _ in viewers], [{} for _ in viewers]
    for k in range(ticks):
        if k == 30:
            streams[5].reset()
        batch = [v for v in range(len(viewers)) if k in pushes(v)]
        for v, update in zip(batch, push_many([streams[v] for v in batch], [viewers[v][k] for v in batch], None,
                                              [k / 30] * len(batch))):
            together[v][k] = seen(update)
    assert together == alone
    assert reads[0] == read_alone and moving > 300 and 0.3 * moving <= read_alone <= 0.45 * moving, (read_alone, moving)


def test_the_motion_bench_drops_the_same_frames_of_a_clip_for_every_stride(motion_bench):
    """bench/motion.py --drops: every k-th frame, or a share at random with a seed per clip (so the
    streams compared at two strides lose the same frames); lost: pushed without a hand."""
    import argparse

    drops = motion_bench.drops
    assert drops("none").dropped(30, 0).sum() == 0
    assert np.flatnonzero(drops("every11").dropped(23, 4)).tolist() == [10, 21]
    share = drops("20%").dropped(5000, 3)
    assert 0.18 < share.mean() < 0.22 and (share == drops("20%").dropped(5000, 3)).all()
    assert (share != drops("20%").dropped(5000, 4)).any()
    assert drops("lost:20%").lost and not drops("20%").lost and drops("lost:every11").every == 11
    for bad in ("every1", "120%", "0%", "lost:", "20", "some"):
        with pytest.raises(argparse.ArgumentTypeError, match="give none"):
            drops(bad)
