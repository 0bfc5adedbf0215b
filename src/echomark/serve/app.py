"""The annotator's HTTP API and static front end (Starlette), plus the bind/token rule."""

from __future__ import annotations

import hmac
import ipaddress
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from echomark.cache.keys import ImageKey
from echomark.cache.png import UInt8Array
from echomark.errors import (
    CacheError,
    ImageKeyError,
    InputError,
    LabelConflictError,
    LabelError,
    MissingFrameError,
)
from echomark.labels.schema import ImageLabels, LabelFormat
from echomark.predict.api import load_engine
from echomark.predict.inputs import InputFrame
from echomark.predict.predictor import predict_frames
from echomark.serve.layer import parse_frame_labels
from echomark.serve.workspace import (
    MAX_PAGE,
    FrameQuery,
    SortOrder,
    StateFilter,
    Workspace,
    dense_curve,
    dense_curves,
    labels_v2,
)

STATIC_DIR = Path(__file__).parent / "static"
#: Largest request body accepted (a frame's labels are a few kB).
MAX_BODY_BYTES = 1 << 20
TOKEN_COOKIE = "echomark_token"
TOKEN_HEADER = "x-echomark-token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ApiError(Exception):
    """An API error: HTTP status and a one-line message for the client."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token.

    Raises:
        InputError: if ``host`` is not a loopback address and ``token`` is empty, or the
            token is too short to resist guessing.
    """
    if token is not None and len(token) < 16:
        raise InputError("--token must be at least 16 characters")
    if not is_loopback(host) and not token:
        raise InputError(
            f"listening on {host} lets other machines in: pass --token (or set "
            "ECHOMARK_TOKEN) so that only people given the token can use the annotator"
        )


class GuardMiddleware:
    """Token check (when a token is set) and Host check (against DNS rebinding).

    The token may come as the ``X-Echomark-Token`` header, the ``echomark_token`` cookie,
    or a ``token`` query parameter (which also sets the cookie, so a shared link works).
    """

    def __init__(
        self, app: ASGIApp, token: str | None, allowed_hosts: Sequence[str] | None
    ) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request, then pass it on (or answer 401/403)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.allowed_hosts is not None:
            host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
            if host not in self.allowed_hosts:
                await _problem(403, f"host {host!r} not allowed")(scope, receive, send)
                return
        if self.token is not None:
            given = (
                request.headers.get(TOKEN_HEADER)
                or request.query_params.get("token")
                or request.cookies.get(TOKEN_COOKIE)
                or ""
            )
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                await _problem(401, "a valid token is required (open the link with ?token=...)")(
                    scope, receive, send
                )
                return
            if request.query_params.get("token"):

                async def send_cookie(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                        message["headers"] = [*message["headers"], (b"set-cookie", cookie.encode())]
                    await send(message)

                await self.app(scope, receive, send_cookie)
                return
        await self.app(scope, receive, send)


def _problem(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"query parameter {name} must be in {lo}..{hi}, got {value}")
    return value


def _enum_param(request: Request, name: str, enum: Any, default: Any = None) -> Any:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ApiError(400, f"query parameter {name}: {raw!r} is not one of {allowed}") from None


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON ({exc})") from None


def create_app(
    ws: Workspace,
    *,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
    predictor: Callable[[str], ImageLabels] | None = None,
) -> ASGIApp:
    """The ASGI app serving ``ws``.

    Args:
        ws: What to serve and edit.
        token: When set, every request must carry it (see :class:`GuardMiddleware`).
        allowed_hosts: Host header values accepted (None: any); for a loopback bind,
            :data:`LOOPBACK_HOSTS` keeps other web sites from reaching the API by DNS
            rebinding.
        predictor: Image key -> predicted labels, for "predict this frame"; None when the
            server has no model.
    """
    predict_lock = threading.Lock()

    def handle(
        fn: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                if request.url.path.startswith("/api/"):
                    ws.sync()
                return await fn(request)
            except ApiError as exc:
                return _problem(exc.status, exc.message, **exc.extra)
            except LabelConflictError as exc:
                key = exc.key or ""
                return _problem(409, str(exc), current=ws.frame(key))
            except MissingFrameError as exc:
                return _problem(404, str(exc))
            except (ImageKeyError, LabelError) as exc:
                return _problem(400, str(exc))
            except CacheError as exc:
                return _problem(500, str(exc))
            except InputError as exc:
                return _problem(400, str(exc))

        return wrapped

    def frame_key(request: Request) -> str:
        return ws.key(request.path_params["key"]).name

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "user": ws.layer.user,
                "labels_file": ws.layer.path.name,
                "frames": len(ws.store),
                "classes": sorted({k.dataset_class for k in ws.store.keys()}),
                "splits": sorted(ws.splits),
                "views": ws.views(),
                "raters": ws.raters(),
                "layers": sorted(ws.layers),
                "has_predictions": ws.predictions is not None,
                "can_predict": predictor is not None,
                "registry": [
                    {
                        "name": s.name,
                        "kind": s.kind.value,
                        "views": [v.value for v in s.views],
                        "colour": s.colour,
                        "derived": s.derived,
                        "description": s.description,
                    }
                    for s in ws.registry.values()
                ],
            }
        )

    async def videos(request: Request) -> Response:
        offset = _int_param(request, "offset", 0, 0, 10**9)
        limit = _int_param(request, "limit", 200, 1, MAX_PAGE)
        total, rows = ws.videos(offset, limit)
        return JSONResponse({"total": total, "offset": offset, "items": rows})

    async def frames(request: Request) -> Response:
        qp = request.query_params
        video = qp.get("video") or None
        if video is not None:
            video = str(ws.video(video))
        q = FrameQuery(
            dataset_class=qp.get("class") or None,
            split=qp.get("split") or None,
            view=qp.get("view") or None,
            state=_enum_param(request, "state", StateFilter),
            rater=qp.get("rater") or None,
            video=video,
            sort=_enum_param(request, "sort", SortOrder, SortOrder.KEY),
            offset=_int_param(request, "offset", 0, 0, 10**9),
            limit=_int_param(request, "limit", 200, 1, MAX_PAGE),
        )
        if q.split is not None and q.split not in ws.splits:
            raise ApiError(400, f"unknown split {q.split!r}; known: {sorted(ws.splits)}")
        total, rows = ws.frames(q)
        return JSONResponse({"total": total, "offset": q.offset, "items": rows})

    async def frame(request: Request) -> Response:
        key = frame_key(request)
        out = ws.frame(key)
        out["previous_labelled"] = ws.previous_labelled(key)
        return JSONResponse(out)

    async def image(request: Request) -> Response:
        data = ws.store.read_bytes(frame_key(request))
        return Response(
            data, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
        )

    async def thumb(request: Request) -> Response:
        size = _int_param(request, "size", 96, 16, 512)
        data = ws.thumbnail(frame_key(request), size)
        return Response(
            data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
        )

    async def put_labels(request: Request) -> Response:
        key = frame_key(request)
        body = await _json_body(request)
        if not isinstance(body, dict) or set(body) != {"version", "labels"}:
            raise ApiError(400, 'body must be {"version": "...", "labels": {name: [instances]}}')
        if not isinstance(body["version"], str):
            raise ApiError(400, "version must be a string (from GET /api/frames/<key>)")
        saved = ws.layer.labels(key)
        # Names outside the registry may stay on a frame that already has them.
        labels = parse_frame_labels(
            body["labels"], key=key, known=lambda n: n in ws.registry or n in saved
        )
        ws.layer.put(key, body["version"], labels)
        ws.note_edit(key)
        out = ws.frame(key)
        out["previous_labelled"] = ws.previous_labelled(key)
        return JSONResponse(out)

    async def spline(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, 'body must be {"x": [...], "y": [...], "straight_segment": [...]}')
        labels = parse_frame_labels(
            {"curve": [{"type": "curve", **body}]}, key="spline", known=lambda n: True
        )
        inst = labels["curve"].instances[0]
        return JSONResponse({"dense": dense_curve(inst.xy, inst.straight)})

    async def predict(request: Request) -> Response:
        if predictor is None:
            raise ApiError(404, "this server has no model (start it with --checkpoint)")
        key = frame_key(request)

        def run() -> ImageLabels:
            with predict_lock:
                return predictor(key)

        labels = await run_in_threadpool(run)
        return JSONResponse(
            {"key": key, "labels": labels_v2(key, labels), "dense": dense_curves(labels)}
        )

    async def export(request: Request) -> Response:
        fmt = _enum_param(request, "format", LabelFormat, LabelFormat.V2)
        text = ws.layer.export_text(fmt)
        name = f"{ws.layer.path.stem}-{fmt.value}.json"
        return Response(
            text,
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def not_found(request: Request) -> Response:
        return _problem(404, f"no such API endpoint: {request.url.path}")

    routes = [
        Route("/", handle(index)),
        Route("/api/info", handle(info)),
        Route("/api/videos", handle(videos)),
        Route("/api/frames", handle(frames)),
        Route("/api/frames/{key}", handle(frame)),
        Route("/api/frames/{key}/image", handle(image)),
        Route("/api/frames/{key}/thumb", handle(thumb)),
        Route("/api/frames/{key}/labels", handle(put_labels), methods=["PUT"]),
        Route("/api/frames/{key}/predict", handle(predict), methods=["POST"]),
        Route("/api/spline", handle(spline), methods=["POST"]),
        Route("/api/export", handle(export)),
        Route("/api/{rest:path}", not_found, methods=["GET", "PUT", "POST", "DELETE"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes)
    return GuardMiddleware(app, token, allowed_hosts)


def make_predictor(ws: Workspace, device: str = "cpu") -> Callable[[str], ImageLabels]:
    """Image key -> predicted labels with the workspace's checkpoint (loaded on first use).

    The model (and torch) is loaded when the first frame is predicted.

    Raises:
        InputError: if the workspace has no checkpoint.
    """
    if ws.checkpoint is None:
        raise InputError("no checkpoint given")
    checkpoint = ws.checkpoint
    cache: dict[str, Any] = {}

    def predict(key: str) -> ImageLabels:
        if "engine" not in cache:
            cache["engine"], cache["spec"] = load_engine(checkpoint, device=device)
        k = ImageKey.parse(key)

        def neighbour(offset: int) -> UInt8Array | None:
            j = k.frame + offset
            if not 0 <= j <= 9999:
                return None
            other = ImageKey(k.dataset_class, k.hex, j)
            return ws.store.read(other) if other in ws.store else None

        frame = InputFrame(
            key, str(k.video), k.frame, lambda: ws.store.read(k), neighbour, ws.store.location
        )
        out = predict_frames([frame], cache["engine"], cache["spec"], batch_size=1, workers=1)
        return out.get(key, {})

    return predict
