"""The web app: REST prediction endpoints, the live WebSocket, the recorder, and the two pages."""
from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence, Union

from fastapi import FastAPI, File, HTTPException, UploadFile, WebSocket
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from isyarat.errors import IsyaratError
from isyarat.runtime import spelling
from isyarat.runtime.recognizer import Recognizer
from isyarat.server.adapt import adapt_router
from isyarat.shipped_models import list_shipped
from isyarat.server.batching import LiveBatcher
from isyarat.server.datadir import default_recordings_dir
from isyarat.server.live import MAX_MESSAGE_BYTES, UNKNOWN_MODEL, live_session
from isyarat.server.recorder import recorder_router
from isyarat.server.training import training_router
from isyarat.server.guards import (LOCAL_HOSTS, allowed_hosts, announce, check_data_dir, check_port,
                                   photo_for_sequence_model)
from isyarat.server.uploads import RequestSizeLimit, UploadQueue, decode_image, video_file

STATIC = Path(__file__).parent / "static"
HANDS_PACKAGE = Path("node_modules") / "@mediapipe" / "hands"
HANDS_MISSING = ("the browser hand tracker (@mediapipe/hands) is not installed: run `make setup` "
                 "(or `npm install` in the project folder) and restart the server")
HOLISTIC_PACKAGE = Path("node_modules") / "@mediapipe" / "holistic"
HOLISTIC_MISSING = ("the browser body and hand tracker (@mediapipe/holistic, for models that read the body pose) "
                    "is not installed: run `make setup` (or `npm install` in the project folder) and restart the server")
SWAGGER_PACKAGE = Path("node_modules") / "swagger-ui-dist"
SWAGGER_MISSING = ("the API docs page needs swagger-ui-dist, which is not installed: run `make setup` "
                   "(or `npm install` in the project folder) and restart the server; the API itself "
                   "works without it (its description is at /openapi.json)")
MAX_VIDEO_FRAMES = 300
PIXEL_MODEL_LIVE = ("model '{model}' reads photos (pixels), but the live page sends only landmarks: use a "
                    "landmark model here, or send photos to /api/predict/image")

ModelSource = Union[Recognizer, str, Path, Callable[[], Recognizer]]


def find_browser_hands() -> Path | None:
    """@mediapipe/hands from npm, in a node_modules folder of the current directory or of the
    source checkout."""
    here = Path(__file__).resolve()
    candidates = [Path.cwd() / HANDS_PACKAGE,
                  *(parent / HANDS_PACKAGE for parent in here.parents)]
    return next((c for c in candidates if (c / "hands.js").is_file()), None)


def find_browser_holistic() -> Path | None:
    """@mediapipe/holistic from npm (body pose + hands, for pose models such as Kata Kolok's),
    found like the hands package."""
    here = Path(__file__).resolve()
    candidates = [STATIC / "vendor" / "holistic", Path.cwd() / HOLISTIC_PACKAGE,
                  *(parent / HOLISTIC_PACKAGE for parent in here.parents)]
    return next((c for c in candidates if (c / "holistic.js").is_file()), None)


def find_swagger_ui() -> Path | None:
    """swagger-ui-dist from npm (the /docs page's scripts, served locally so /docs works offline),
    in a node_modules folder of the current directory or of the source checkout."""
    here = Path(__file__).resolve()
    candidates = [Path.cwd() / SWAGGER_PACKAGE,
                  *(parent / SWAGGER_PACKAGE for parent in here.parents)]
    return next((c for c in candidates if (c / "swagger-ui-bundle.js").is_file()), None)


def add_offline_docs(app: FastAPI) -> None:
    """/docs from local copies of the Swagger UI assets (FastAPI's own /docs loads them from a CDN)."""
    swagger_dir = find_swagger_ui()
    if swagger_dir is not None:
        app.mount("/vendor/swagger-ui", StaticFiles(directory=swagger_dir), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if swagger_dir is None:
            return PlainTextResponse(SWAGGER_MISSING, status_code=503)
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="isyarat API",
                                   swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/vendor/swagger-ui/swagger-ui.css", swagger_favicon_url="data:,")


def explain_missing(message: str) -> Callable[[str], PlainTextResponse]:
    """A route answering every file of a browser package that is not installed with how to install it."""
    def missing(path: str) -> PlainTextResponse:
        return PlainTextResponse(message, status_code=503)
    return missing


def load_models(models: Mapping[str, ModelSource] | Sequence[ModelSource],
                threshold: float = 0.5) -> dict[str, Recognizer]:
    """Recognizers by name, from recognizers, loader functions, bundle paths or shipped names
    (those loaded here answer "no sign" below `threshold`)."""
    items = models.items() if isinstance(models, Mapping) else [(None, m) for m in models]
    loaded: dict[str, Recognizer] = {}
    for key, source in items:
        recognizer = source if isinstance(source, Recognizer) else (
            source() if callable(source) else Recognizer.load(source, threshold=threshold))
        name = key or recognizer.name
        if name in loaded:
            raise IsyaratError(f"two models are named '{name}': give them distinct names")
        loaded[name] = recognizer
    if not loaded:
        raise IsyaratError("no models to serve: pass a bundle (folder or .zip) or a shipped model name")
    return loaded


def create_app(models: Mapping[str, ModelSource] | Sequence[ModelSource], data_dir: Path,
               max_upload_bytes: int = 10_000_000, hands_dir: Path | None = None,
               allowed_hosts: Sequence[str] = LOCAL_HOSTS, uploads: UploadQueue | None = None,
               threshold: float = 0.5) -> FastAPI:
    """The app serving `models` (loaded with the confidence `threshold`); recordings go under `data_dir`. `hands_dir` is the npm
    @mediapipe/hands folder for the page (found automatically when None). Requests whose Host
    header is not in `allowed_hosts` are refused (a web page of another site cannot reach the
    server through DNS rebinding); uploads run on `uploads`' own threads."""
    check_data_dir(Path(data_dir))
    recognizers = load_models(models, threshold)
    uploads = uploads or UploadQueue()
    batchers = {name: LiveBatcher(r) for name, r in recognizers.items()}
    hands_dir = hands_dir if hands_dir is not None else find_browser_hands()
    has_hands = hands_dir is not None and (hands_dir / "hands.js").is_file()
    # /docs from the Swagger UI assets installed from npm (no CDN: the server runs offline); no /redoc
    app = FastAPI(title="isyarat", description="Indonesian sign language recognition", docs_url=None, redoc_url=None)
    add_offline_docs(app)
    app.state.model_names = list(recognizers)
    app.state.uploads = uploads
    app.add_middleware(RequestSizeLimit, max_bytes=max_upload_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.include_router(recorder_router(Path(data_dir)))

    def add_model(name: str, recognizer: Recognizer) -> None:
        """Offer a model adapted on the recorder page (POST /api/adapt) from now on."""
        recognizers[name], batchers[name] = recognizer, LiveBatcher(recognizer)
        if name not in app.state.model_names:
            app.state.model_names.append(name)

    app.include_router(adapt_router(Path(data_dir), recognizers, add_model))
    app.include_router(training_router(Path(data_dir), add_model))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    holistic_dir = find_browser_holistic()
    for prefix, folder, missing in (("hands", hands_dir if has_hands else None, HANDS_MISSING),
                                    ("holistic", holistic_dir, HOLISTIC_MISSING)):
        if folder is not None:
            app.mount(f"/vendor/{prefix}", StaticFiles(directory=folder), name=prefix)
        else:
            app.get(f"/vendor/{prefix}/{{path:path}}", include_in_schema=False)(explain_missing(missing))

    def pick(name: str | None) -> Recognizer:
        if name is None:
            return next(iter(recognizers.values()))
        if name not in recognizers:
            raise HTTPException(404, f"unknown model '{name}'; models: {', '.join(recognizers)}")
        return recognizers[name]

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/recorder", include_in_schema=False)
    def recorder() -> FileResponse:
        return FileResponse(STATIC / "recorder.html")

    @app.get("/api/health")
    async def health() -> dict:  # on the event loop: never queued behind uploads
        return {"status": "ok", "models": list(recognizers), "browser_hands": has_hands,
                "browser_holistic": holistic_dir is not None,
                "message": None if has_hands else HANDS_MISSING, "max_upload_bytes": max_upload_bytes,
                "max_message_bytes": MAX_MESSAGE_BYTES,
                "spelling": {"hold_s": spelling.HOLD_S, "space_after_s": spelling.SPACE_AFTER_S},
                # this server process's live frames and the batches they were read in (serve --processes
                # N: each process answers for itself)
                "live": {"process": os.getpid(), "frames": sum(b.frames for b in batchers.values()),
                         "batches": sum(b.batches for b in batchers.values())}}

    @app.get("/api/models")
    def list_models() -> list[dict]:
        # pose: the model reads the body pose too (the page then tracks with Holistic and sends it)
        return [{**r.bundle.summary(), "name": name, "shape": r.config.shape, "frames": r.config.frames,
                 "input": r.input.reads, "pose": r.config.pose}
                for name, r in recognizers.items()]

    @app.get("/api/vocabularies")
    def list_builtin_vocabularies() -> list[dict]:
        """The built-in sign lists the recorder offers (Kata Kolok's ten words ...), and whether they need pose."""
        from isyarat.vocab import list_vocabularies, load_vocabulary

        return [{"name": v.name, "title": v.title, "unit": v.unit, "labels": v.labels, "pose": v.pose}
                for v in map(load_vocabulary, list_vocabularies())]

    @app.post("/api/predict/image")
    async def predict_image(file: UploadFile = File(...), model: str | None = None) -> dict:
        recognizer = pick(model)
        if recognizer.is_sequence:
            raise HTTPException(415, photo_for_sequence_model(name=model or recognizer.name))
        data, name = await file.read(), file.filename or ""
        prediction = await uploads.run(lambda: recognizer.predict_image(decode_image(data, name)))
        return {"model": recognizer.name, **prediction.to_dict()}

    @app.post("/api/predict/video")
    async def predict_video(file: UploadFile = File(...), model: str | None = None) -> dict:
        recognizer = pick(model)
        data, name = await file.read(), file.filename or ""

        def predict():
            with video_file(data, name) as path:
                return recognizer.predict_video(path, MAX_VIDEO_FRAMES)

        result = await uploads.run(predict)
        return {"model": recognizer.name, **result.to_dict()}

    @app.websocket("/ws/{model}")
    async def live(websocket: WebSocket, model: str) -> None:
        await websocket.accept()
        if model not in recognizers:
            await websocket.close(UNKNOWN_MODEL, f"unknown model '{model}'; models: {', '.join(recognizers)}")
            return
        if recognizers[model].takes_pixels:
            await websocket.send_json({"error": PIXEL_MODEL_LIVE.format(model=model)})
            await websocket.close(UNKNOWN_MODEL, "this model reads photos, not landmarks")
            return
        await live_session(websocket, recognizers[model], batchers[model])

    return app


SERVE_ENV = "ISYARAT_SERVE"  # how `serve --workers N` hands its settings to each worker process


def serve(host: str = "127.0.0.1", port: int = 8000, models: Sequence[str | Path] | None = None,
          data_dir: Path | None = None, processes: int = 1, allow_hosts: Sequence[str] = (),
          threshold: float = 0.5) -> None:
    """Run the web app (what `isyarat serve` calls); with no models, every shipped model.
    `processes` > 1 runs that many server processes on one port (each live connection stays in
    one process), for many viewers on a machine with several cores. Below `threshold` a model
    answers "no sign"."""
    import uvicorn

    check_port(port)
    names = [str(m) for m in models] if models else [str(m.path) for m in list_shipped()]
    data_dir = default_recordings_dir() if data_dir is None else Path(data_dir)
    hosts = allowed_hosts(host, allow_hosts)
    app = create_app(names, data_dir, allowed_hosts=hosts, threshold=threshold)  # also checks every model loads before anything starts
    print(f"isyarat: serving {', '.join(app.state.model_names)}"
          f"{f' in {processes} server processes' if processes > 1 else ''}\n"
          f"isyarat: {announce(host, port)} (API docs at /docs)\n"
          f"isyarat: the recorder saves samples in {data_dir}", flush=True)
    options = uvicorn_options(host, port)
    if processes <= 1:
        steady_collector()
        uvicorn.run(app, **options)
        return
    os.environ[SERVE_ENV] = json.dumps({"models": names, "data_dir": str(Path(data_dir).resolve()),
                                        "allowed_hosts": hosts, "threshold": threshold})
    uvicorn.run("isyarat.server.app:app_from_environment", factory=True, workers=processes, **options)


WS_PROTOCOL = "websockets-sansio"  # uvicorn's WebSocket implementation (see uvicorn_options)


def uvicorn_options(host: str, port: int) -> dict:
    """The settings `serve` runs uvicorn with (tests start the same stack)."""
    # No per-message compression: deflating every 1-2 KB frame message costs the server ~60 us of
    # CPU a frame, more than the ~100 KB/s a live stream saves is worth.
    # uvloop and httptools (pinned in requirements.txt): the event loop and HTTP parser in C, which
    # many live viewers' frames go through on every message; uvicorn's sans-I/O WebSocket protocol
    # (websockets' framing on uvicorn's own transport): ~0.05 ms less CPU a frame than its default
    # (bench/realtime.py's floor).
    return dict(host=host, port=port, ws_max_size=16 * MAX_MESSAGE_BYTES, ws_per_message_deflate=False,
                ws=WS_PROTOCOL, log_level="info", loop="uvloop", http="httptools")


def app_from_environment() -> FastAPI:
    """The app of one server process started by `serve(processes=N)`."""
    settings = json.loads(os.environ[SERVE_ENV])
    app = create_app(settings["models"], Path(settings["data_dir"]),
                     allowed_hosts=settings.get("allowed_hosts", LOCAL_HOSTS), threshold=settings.get("threshold", 0.5))
    steady_collector()
    return app


GC_THRESHOLDS = (20_000, 50, 50)  # Python's defaults: (700, 10, 10)


def steady_collector() -> None:
    """Set the server process's garbage collector for many live frames: each frame makes and drops
    dozens of small objects, and at Python's default (a pass every 700 net allocations) the passes
    cost 10-28 us of a live frame's ~250-300 (bench/realtime.py (c) at 200 viewers). What exists once
    the models are loaded is frozen out of the passes (it lives as long as the server) and passes
    come when 20,000 objects are pending: reference cycles are still collected, less often."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
