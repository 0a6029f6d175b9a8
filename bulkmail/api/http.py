"""HTTP answers and the URL policy: one check_response() turning status codes into the errors
that say what happens next, the server's own words, what a connection fault was.

Messages never carry the password or the token: requests' own exception texts are not passed
on whole, only their kind and the method and path."""

from __future__ import annotations

import html
import ipaddress
import re
from urllib.parse import urlsplit

import requests
import urllib3

from ..config import DEFAULT_BASE_URL
from ..errors import ApiError, AuthError, InputError, RejectedError, RetriableError, ServiceError, TooLargeError
from ..words import plural
from .retry import parse_retry_after


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash; refuse plain http:// except to this machine."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"The base URL {url!r} is not an http(s) URL. Use e.g. {DEFAULT_BASE_URL}.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InputError(
            f"Refusing to send credentials over plain http:// to {parts.hostname}. "
            "Use https://, or http:// only for a sandbox on this machine (127.0.0.1 or localhost)."
        )
    return url.strip().rstrip("/")


def json_body(response: requests.Response) -> object:
    """The answer's JSON, or None when it has no body or the body is not JSON (any 2xx is
    accepted without one; proxies answer with HTML)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def server_message(response: requests.Response) -> str:
    """The server's own words: JSON message/error, else the text of a (proxy) page, shortened."""
    body = json_body(response)
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "error_description"):
            if isinstance(body.get(key), str) and body[key].strip():
                return body[key].strip()
    text = response.text or ""
    if "<" in text and ">" in text:
        text = re.sub(r"(?is)<(head|script|style)\b.*?</\1>", " ", text)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


def check_response(response: requests.Response, method: str, path: str) -> requests.Response:
    """Return a 2xx answer; raise the typed error that says what to do with any other."""
    status = response.status_code
    if 200 <= status < 300:
        return response
    message = f"{status} {response.reason or ''}".rstrip() + f" for {method} {path}"
    detail = server_message(response)
    if detail:
        message += f": {detail}"
    if status in (401, 403):
        raise AuthError(message, status=status)
    if status == 413:
        raise TooLargeError(message, status=status)
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RetriableError(message, status=status, retry_after=retry_after)
    if status in (400, 404, 409, 422):
        raise RejectedError(message, status=status)
    raise ServiceError(message, status=status)


def retriable(response: requests.Response, method: str, path: str) -> RetriableError:
    """The RetriableError check_response() raises for a 429 or 5xx answer."""
    try:
        check_response(response, method, path)
    except RetriableError as err:
        return err
    raise AssertionError("not a retriable answer")  # pragma: no cover


def gave_up(base_url: str, error: ApiError, attempt: int) -> str:
    tries = plural(attempt, "attempt")
    if error.status is None:
        return f"Cannot reach {base_url} ({error}); gave up after {tries}. Check --base-url and the network."
    return f"The service kept failing ({error}); gave up after {tries}. Try again later."


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request surely did not reach the server (connect failed), so even a
    change can be sent again without doubt."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.ReadTimeout):
        return "no answer in time (read timeout)"
    if never_sent(exc):
        return "connection refused or host not found"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS certificate could not be verified (set REQUESTS_CA_BUNDLE for a corporate proxy)"
    return "connection dropped"
