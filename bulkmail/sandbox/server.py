"""Run the sandbox app on loopback in a background thread (tests, demo) or in the foreground."""

from __future__ import annotations

import socket
import threading
from typing import Callable

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

from .app import Account, Fault, SandboxApp, Settings
from .store import Store


class _Handler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, *args) -> None:  # quiet: tests and the demo share the terminal
        pass


class Sandbox:
    """A sandbox server on ``host``:``port`` (0 = any free port), serving in a daemon thread.

    >>> with Sandbox(seed_mailboxes=50) as sandbox:
    ...     sandbox.url  # doctest: +SKIP
    """

    def __init__(self, settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 seed_mailboxes: int = 0, accounts: int = 1):
        self.app = SandboxApp(settings or Settings(), Store(), accounts=accounts)
        if seed_mailboxes:
            for account in self.accounts:
                account.store.seed(seed_mailboxes, account.domains)
        self.server = make_server(host, port, self.app, threaded=True, request_handler=_Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def accounts(self) -> list[Account]:
        """Every account the sandbox serves, each with its own login (``accounts=3``)."""
        return self.app.accounts

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        return f"http://{host}:{self.server.server_port}"

    def configure(self, **knobs) -> Sandbox:
        """Change how the sandbox behaves while it serves: any Settings field (an API variant or
        a fault knob); ``seed`` restarts the fault dice."""
        self.app.configure(**knobs)
        return self

    def script(self, *faults: Fault) -> None:
        """Queue scripted answers (a status, or a lost answer) for the next matching calls."""
        self.app.script(*faults)

    def on_request(self, hook: Callable[[Request], None]) -> None:
        """Call ``hook(request)`` after each answer, e.g. to change the state mid-walk."""
        self.app.hooks.append(hook)

    def start(self) -> Sandbox:
        # A short poll keeps close() quick (tests start and stop hundreds of sandboxes).
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
