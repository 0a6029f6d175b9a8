"""The page's door: only this machine's browser, holding the cookie the printed link gave it.

Every request passes Guard (an ASGI middleware) before any route sees it:

- the Host header must name the address and port the server listens on (a DNS-rebinding page
  on another site reaches 127.0.0.1 under its own host name): 403 otherwise;
- ``?token=…`` from the printed link is good once: it is exchanged for an HttpOnly,
  SameSite=Strict cookie and a redirect that drops it from the address bar (403 for a wrong or
  used token); a request without that cookie gets 401;
- a request that changes something (any method but GET/HEAD) must carry the page's own Origin
  (403 otherwise) and the CSRF token, which each route checks with ``posted()``;
- a body over ``max_body`` bytes is refused with 413 before it is read whole.
"""

from __future__ import annotations

import hmac
import html
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

COOKIE = "bulkmail_ui"
CSRF_FIELD, CSRF_HEADER = "csrf", "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD"}
# Big enough for a 200,000-row CSV; a 50 MB upload is refused before it is read.
MAX_BODY = 25 * 1024 * 1024
SESSION_SECONDS = 12 * 3600


@dataclass
class Gate:
    """The server's secrets and the addresses it answers to (``port`` is set once bound)."""

    host: str = "127.0.0.1"
    port: int = 0
    max_body: int = MAX_BODY
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    token_used: bool = False
    sessions: set[str] = field(default_factory=set)
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def allowed_hosts(self) -> set[str]:
        return {f"[{name}]:{self.port}" if ":" in name else f"{name}:{self.port}"  # an IPv6 Host is bracketed
                for name in {"127.0.0.1", "localhost", self.host}}

    def url(self) -> str:
        """The link to print: the one way in."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    def exchange(self, token: str) -> str | None:
        """A new session for the printed token, once; None for a wrong or used one."""
        if self.token_used or not hmac.compare_digest(token.encode(), self.token.encode()):
            return None
        self.token_used = True
        session = secrets.token_urlsafe(32)
        self.sessions.add(session)
        return session

    def session_of(self, request: Request) -> str | None:
        session = request.cookies.get(COOKIE, "")
        return session if any(hmac.compare_digest(session, s) for s in self.sessions) else None

    def csrf(self, session: str) -> str:
        """The CSRF token of a session: forms carry it in a hidden field, scripts in a header."""
        return hmac.new(self.key, session.encode(), "sha256").hexdigest()


def refusal(status: int, title: str, text: str) -> HTMLResponse:
    """A plain page that says why and what to do (never a traceback)."""
    body = (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>")
    return HTMLResponse(body, status_code=status, headers=HEADERS)


# No framing, no inline script, no referrer to other sites, nothing cached: the pages name mailboxes.
# (Not "no-referrer": with it Chromium sends "Origin: null" on the page's own form posts.)
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                      "form-action 'self'; base-uri 'none'",
           "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
           "X-Content-Type-Options": "nosniff"}


class Guard:
    """ASGI middleware enforcing the rules of the module docstring."""

    def __init__(self, app, gate: Gate):
        self.app, self.gate = app, gate

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        answer = self.check(request)
        if answer is not None:
            return await answer(scope, receive, send)
        await self.app(scope, self.limited(receive, scope, send), self.with_headers(send))

    def check(self, request: Request):
        """A response that refuses (or redirects) the request, or None to let it through."""
        gate = self.gate
        if request.headers.get("host", "") not in gate.allowed_hosts:
            return refusal(403, "Wrong address", "This page answers only at the address bulkmail ui printed.")
        token = request.query_params.get("token")
        if token is not None:
            session = gate.exchange(token)
            if session is None:
                return refusal(403, "This link does not work",
                               "Its token is wrong or was used already (each link opens the page once). Use the "
                               "browser that opened it, or stop bulkmail ui and start it again for a new link.")
            query = urlencode([(k, v) for k, v in parse_qsl(request.url.query) if k != "token"])
            answer = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303,
                                      headers=HEADERS)
            # Kept by the browser across a restart (a closed window must not lock the user out of a
            # run going on here); worthless once this server stops: its sessions die with it.
            answer.set_cookie(COOKIE, session, max_age=SESSION_SECONDS, httponly=True, samesite="strict", path="/")
            return answer
        session = gate.session_of(request)
        if session is None:
            return refusal(401, "Open the link bulkmail ui printed",
                           "This page needs the link with the token that 'bulkmail ui' printed in its terminal.")
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            if origin != f"http://{request.headers['host']}":
                return refusal(403, "Refused", "A change must come from the page itself (its Origin).")
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > gate.max_body:
                return too_large(gate.max_body)
        request.scope.setdefault("state", {})["csrf"] = gate.csrf(session)
        return None

    def limited(self, receive, scope, send):
        """``receive`` that stops a body growing past the limit (a chunked upload says no length)."""
        seen = 0

        async def receive_limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.gate.max_body:
                    raise HTTPException(413, too_large_text(self.gate.max_body))
            return message

        return receive_limited

    @staticmethod
    def with_headers(send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k.lower().encode(), v.encode()) for k, v in HEADERS.items() if k.lower().encode() not in names]
            await send(message)

        return send_with_headers


def too_large_text(limit: int) -> str:
    size = f"{limit // 1024**2} MB" if limit >= 1024**2 else f"{limit // 1024} KB"
    return (f"The upload is larger than {size}, more than any mailbox list needs. Split the file, or use the command "
            "line (bulkmail import), which has no such limit.")


def too_large(limit: int) -> HTMLResponse:
    return refusal(413, "File too large", too_large_text(limit))


async def posted(request: Request) -> FormData:
    """The form of a request that changes something, after checking its CSRF token (a form
    field or a header): 403 without it."""
    form = await request.form()
    given = request.headers.get(CSRF_HEADER) or str(form.get(CSRF_FIELD) or "")
    wanted = request.state.csrf
    if not given or not hmac.compare_digest(given.encode(), wanted.encode()):
        raise HTTPException(403, "The form's security token is missing or old. Reload the page and try again.")
    return form
