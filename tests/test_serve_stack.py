"""The live WebSocket on the stack `isyarat serve` runs (uvicorn with serve's settings: uvloop,
httptools, the sans-I/O WebSocket protocol), not the test client: frames answered, bad messages
answered with an error on a connection that stays open, an oversized message closed with 1009,
an unknown model refused with 1008."""
from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from isyarat.runtime.recognizer import Recognizer
from isyarat.server.live import MAX_MESSAGE_BYTES, compact_message
from test_browser import LiveServer
from test_runtime import asl_frames


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    live = LiveServer({"sibi-letters": Recognizer.load("sibi-letters")}, tmp_path_factory.mktemp("stack")).start()
    yield live.url.replace("http://", "ws://") + "/ws"
    live.stop()


def test_frames_and_bad_messages_on_one_connection(url, datasets):
    frames = asl_frames(datasets, "B", 0, 3)
    with connect(f"{url}/sibi-letters") as ws:
        for k, frame in enumerate(frames):
            ws.send(json.dumps(compact_message(frame, t=1000 + 33 * k, id=k)))
            reply = json.loads(ws.recv())
            assert reply["id"] == k and reply["has_hand"] and reply["top"], reply
        for bad, says in [(b"\x00\x01", "binary"), ("{", "not valid JSON"),
                          ("x" * (MAX_MESSAGE_BYTES + 10), "over the"), ('{"left": [1e39]}', "the left hand")]:
            ws.send(bad)
            assert says in json.loads(ws.recv())["error"]
        ws.send(json.dumps(compact_message(frames[0], id="still open")))
        assert json.loads(ws.recv())["id"] == "still open"
    live = httpx.get(url.replace("ws://", "http://").removesuffix("/ws") + "/api/health").json()["live"]
    assert live["frames"] >= len(frames) + 1 and 1 <= live["batches"] <= live["frames"]  # the bad ones: no frame


def test_the_bench_load_client_answers_the_keepalive_ping(tmp_path, datasets, realtime_bench):
    """bench/realtime.py's RawClient answers the server's pings (uvicorn sends one every 20 s and
    closes a connection that does not answer): a load run longer than that must not lose its viewers."""
    import asyncio

    live = LiveServer({"sibi-letters": Recognizer.load("sibi-letters")}, tmp_path,
                      ws_ping_interval=0.1, ws_ping_timeout=0.3).start()
    try:
        url = live.url.replace("http://", "ws://") + "/ws/sibi-letters"
        result = asyncio.run(realtime_bench.client(url, realtime_bench.frame_messages(), seconds=1.2, phase=0.0))
    finally:
        live.stop()
    assert result["errors"] == [] and len(result["rtts"]) >= 30, result["errors"]


def test_oversized_message_closes_with_1009(url):
    with connect(f"{url}/sibi-letters", max_size=None) as ws:
        ws.send("x" * (16 * MAX_MESSAGE_BYTES + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1009


def test_unknown_model_is_refused_with_1008(url):
    with connect(f"{url}/no-such-model") as ws:
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1008 and "sibi-letters" in closed.value.rcvd.reason


def test_the_server_process_freezes_its_startup_objects_out_of_collection():
    """serve() (and each worker of serve --processes N) sets the collector for many live frames:
    what exists once the models are loaded is frozen, passes come less often, and cyclic garbage
    made afterwards is still collected."""
    import gc
    import weakref

    from isyarat.server.app import GC_THRESHOLDS, steady_collector

    before = gc.get_threshold()
    try:
        steady_collector()
        assert gc.get_threshold() == GC_THRESHOLDS and gc.get_freeze_count() > 0

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # a reference cycle: only the collector frees it
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
