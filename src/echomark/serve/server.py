"""Run the annotator with uvicorn (bind rule, token, loopback Host check)."""

from __future__ import annotations

import os

import uvicorn

from echomark.serve.app import LOOPBACK_HOSTS, check_bind, create_app, is_loopback, make_predictor
from echomark.serve.workspace import Workspace


def serve(
    ws: Workspace,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    device: str = "cpu",
) -> None:
    """Serve ``ws`` until interrupted.

    Args:
        ws: What to show and edit.
        host: Address to listen on; anything but loopback needs ``token``.
        port: TCP port.
        token: Required of every request when set.
        device: Where "predict this frame" runs (with a checkpoint).

    Raises:
        InputError: if the bind/token rule is broken.
    """
    check_bind(host, token)
    predictor = make_predictor(ws, device) if ws.checkpoint is not None else None
    allowed = list(LOOPBACK_HOSTS) if is_loopback(host) else None
    app = create_app(ws, token=token, allowed_hosts=allowed, predictor=predictor)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    if token:
        url += "?token=<your token>"
    print(f"echomark serve: {len(ws.store)} frames from {ws.store.location}", flush=True)
    print(
        f"echomark serve: saving {ws.layer.user}'s labels to {os.fspath(ws.layer.path)}", flush=True
    )
    print(f"echomark serve: open {url}  (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
