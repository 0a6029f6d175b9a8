"""Serving the page: bind a loopback socket (a free port unless one is given), print the link
with its one-time token, open the browser, serve until Ctrl-C; then cancel the runs in
progress the way Ctrl-C cancels an import (report written, journal kept for --resume)."""

from __future__ import annotations

import socket
import threading
import webbrowser
from contextlib import asynccontextmanager
from typing import Callable

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..errors import InputError
from . import app as steps
from . import history, runs
from .app import Account, Ui
from .jobs import Job
from .security import Gate, Guard


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: a free port), bound before the link is printed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Choose another --port, or leave it "
                         "out for a free one.") from None
    sock.listen(64)
    return sock


def serve(host: str, port: int, say: Callable[[str], None], open_browser: bool = True,
          account: Account | None = None, profile: str | None = None) -> list[Job]:
    """Serve the page until stopped; the runs that stopping cancelled."""
    import uvicorn

    sock = bind(host, port)
    gate = Gate(host=host, port=sock.getsockname()[1])
    app = create_app(gate, account, profile)
    say(gate.url())
    say("Open that link in your browser (it works once); Ctrl-C here stops the page.")
    if open_browser:
        threading.Timer(0.3, webbrowser.open, [gate.url()]).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for job in app.state.ui.stopped:
            say(f"Cancelled {job.what}: {job.error or 'its report is written'}. Resume it from History on the page, "
                "or with the command line's --resume.")
    return app.state.ui.stopped


def create_app(gate: Gate, account: Account | None = None, profile: str | None = None) -> Starlette:
    """The page's application behind its Guard; ``account`` logs it in from the start (the demo),
    ``profile`` is the account step's first choice."""
    ui = Ui(gate, account=account, profile=profile)

    @asynccontextmanager
    async def lifespan(app):
        yield
        ui.stopped = ui.jobs.stop_all()  # Ctrl-C: runs stop cleanly, reports written, journals kept

    static = Mount("/static", StaticFiles(directory=steps.HERE / "static"), name="static")
    routes = [*steps.routes(), *runs.routes(), *history.routes(), static]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=steps.ERRORS)
    app.state.ui = ui
    app.add_middleware(Guard, gate=gate)
    return app
