"""The API client: one logged-in view of an account — a page of the list, add, remove.

Nothing here prints. Walking the whole list is walk.py's; answers and the URL policy are
http.py's; tokens are auth.py's."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Iterable

import requests

from ..cancel import Cancel
from ..errors import AuthError, InDoubtError, RejectedError, RetriableError, ServiceError, UnreachableError
from .auth import Grant, Tokens
from .http import check_base_url, check_response, describe, gave_up, json_body, never_sent, retriable
from .retry import CHANGES, Retry, Throttle

log = logging.getLogger("bulkmail")

AUTH_PATH = "/auth"
LIST_PATH = "/email/mailbox/v2"
MAILBOX_PATH = "/email/mailbox"
# Ask for big pages; the server says in meta what it granted.
DEFAULT_PAGE_SIZE = 1000
PLACEHOLDER_ID = "USSportal.email.model.Mailbox-{}"


@dataclass
class Page:
    """One page of the mailbox list, as the server described it in ``meta``."""

    number: int
    items: list[dict]
    total: int | None
    total_pages: int
    page_size: int


@dataclass
class _Tries:
    """Where one call stands: its failed attempts, refused tokens, 429s and the time they cost."""

    attempts: int = 0
    refused: int = 0
    limited: int = 0
    throttled: float = 0.0  # seconds waited on 429s


class Client:
    """A logged-in view of one account. Thread-safe: pages and batches may run in parallel.

    Concurrency is one setting, ``concurrency``, owned here: the throttle admits that many
    requests on the wire (fewer after a 429) and every stage sizes its one executor by it.

    Lock order. A thread holds at most one of these at a time and never waits for one while
    holding the other, so no cycle (no deadlock) can form:

    1. the token lock (``tokens``, auth.py): held while logging in (single flight); the
       login's own request takes no throttle slot;
    2. a throttle slot: held around one HTTP exchange only, with a token already in hand.

    A request gets its token before it takes a slot; a 401 gives the slot back, renews the
    token (once for all threads: the thread that sees the refused token first logs in), then
    tries again. ``cancel`` (Ctrl-C, SIGTERM, --max-duration) cuts every retry wait short and
    stops further attempts.
    """

    # The end of a refused login's message: what to check. The CLI says where the credentials came from.
    login_hint = "Check BULKMAIL_USERNAME and BULKMAIL_PASSWORD."

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        account_id: str | None = None,
        retry: Retry | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        concurrency: int = 4,
        profile: str | None = None,
        cancel: Cancel | None = None,
    ):
        self.base_url = check_base_url(base_url)
        self.profile = profile  # the profile this client was made from, for reports
        self.username = username
        self._password = password
        self._account_override = account_id
        self.account_id: str | None = None
        self.retry = retry or Retry()
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.throttle = Throttle(self.concurrency)
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=self.concurrency)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.cancel = cancel or Cancel()
        self.tokens = Tokens(self._log_in, self.wait_before)

    def __repr__(self) -> str:  # never shows the password or token
        return f"Client({self.base_url!r}, username={self.username!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- login -------------------------------------------------------------------------

    def login(self) -> str:
        """Log in with a multipart form (again, if logged in); return the account id."""
        self.tokens.log_in()
        return self.account_id  # type: ignore[return-value]

    def _log_in(self) -> Grant:
        """One login exchange. Redirects are not followed: they would carry the password to
        another address."""
        files = {"username": (None, self.username), "password": (None, self._password)}
        started = time.monotonic()
        response = self._send("POST", AUTH_PATH, authenticated=False, files=files)
        if 300 <= response.status_code < 400:
            raise AuthError(
                f"Login was redirected ({response.status_code}); bulkmail does not follow it, "
                "because that would send the password elsewhere. Check --base-url.",
                status=response.status_code,
            )
        try:
            check_response(response, "POST", AUTH_PATH)
        except (AuthError, RejectedError) as err:
            raise AuthError(
                f"Login failed for {self.username}: {err}. {self.login_hint}",
                status=err.status,
            ) from None
        body = json_body(response)
        if not isinstance(body, dict) or not body.get("access_token"):
            raise AuthError(
                f"Login for {self.username} did not return an access token; the account probably "
                "asks for a second factor (2FA), which bulkmail does not support yet. "
                "Use an API user without 2FA."
            )
        lifetime = float(body.get("expires_in") or 3600)
        self.account_id = self._account_override or str(body.get("accounts_id") or "")
        if not self.account_id:
            raise AuthError("The login answer names no accounts_id; set BULKMAIL_ACCOUNT_ID.")
        log.debug("logged in as %s, account %s, token valid %ss", self.username, self.account_id, lifetime)
        # Renew before the token runs out, leaving a tenth of its life (at most a minute) spare.
        return Grant(str(body["access_token"]), started + lifetime - min(60.0, lifetime / 10), started)

    # -- transport ---------------------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        return {"X-Uss-Account-Id": self.account_id or "", "Authorization": f"Bearer {token}",
                "Content-Type": "application/json"}

    def _exchange(self, method: str, path: str, token: str | None, **kwargs) -> requests.Response:
        """One HTTP exchange. The login (``token`` None) takes no throttle slot: it may run while
        every slot is held by requests waiting for the new token."""
        headers = self._headers(token) if token is not None else None
        if token is None:
            return self.session.request(method, self.base_url + path, headers=headers, timeout=self.timeout,
                                        allow_redirects=False, **kwargs)
        with self.throttle:
            return self.session.request(method, self.base_url + path, headers=headers, timeout=self.timeout,
                                        allow_redirects=False, **kwargs)

    def _send(self, method: str, path: str, *, authenticated: bool = True, **kwargs) -> requests.Response:
        """One call, tried again while the retry policy allows it. Raises InDoubtError when a
        change may have been applied, UnreachableError when the attempts run out, AuthError when
        fresh tokens keep being refused, and the cancel reason when the run is stopped."""
        change = method in CHANGES and authenticated  # the login is not a change of mailboxes
        tries = _Tries()
        while True:
            self.cancel.check()
            token = self.tokens.fresh() if authenticated else None  # before a slot, never inside one
            try:
                response = self._timed(method, path, token, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise UnreachableError(f"Cannot reach {self.base_url}: {describe(exc)}") from None
            except requests.RequestException as exc:
                error, reached = RetriableError(f"{method} {path}: {describe(exc)}"), not never_sent(exc)
            else:
                if token is not None:
                    self.throttle.record(response.status_code == 429)
                    if response.status_code != 401:
                        self.tokens.served(token)
                if response.status_code == 401 and token is not None:
                    if self._renewed(tries, token):
                        continue
                    return response  # check_response() turns it into AuthError
                if response.status_code != 429 and response.status_code < 500:
                    return response
                error, reached = retriable(response, method, path), True
                if response.status_code == 429:
                    self._wait_on_limit(tries, error)
                    continue
            tries.attempts += 1
            if not self.retry.is_retry(method, error.status, reached=reached, change=change):
                raise InDoubtError(str(error), status=error.status)
            if self.retry.is_exhausted(tries.attempts, login_unreachable=not authenticated and error.status is None):
                raise UnreachableError(gave_up(self.base_url, error, tries.attempts), status=error.status)
            wait = self.wait_before(tries.attempts, error.retry_after)
            log.info("%s; waited %.1fs before attempt %d", error, wait, tries.attempts + 1)

    def _timed(self, method: str, path: str, token: str | None, **kwargs) -> requests.Response:
        started = time.monotonic()
        response = self._exchange(method, path, token, **kwargs)
        log.debug("%s %s -> %s (%.0f ms)", method, path, response.status_code, 1000 * (time.monotonic() - started))
        return response

    def _renewed(self, tries: _Tries, token: str) -> bool:
        """After a 401 (refused before anything was done): renew the token, with the slot given
        back already, and say whether to go again. A service with one session per user ends our
        token whenever another process logs in as the same user, so a few renewals in a row are
        normal; many mean the token is really refused."""
        tries.refused += 1
        if tries.refused > self.retry.attempts:
            return False
        self.tokens.renew_after_401(token)
        return True

    def _wait_on_limit(self, tries: _Tries, error: RetriableError) -> None:
        """After a 429 (refused before anything was done, by a limit other clients share): wait,
        as long as the policy allows in all, rather than spend the attempts meant for faults."""
        tries.limited += 1
        if tries.throttled >= self.retry.rate_limited_for:
            raise UnreachableError(gave_up(self.base_url, error, tries.limited), status=429)
        tries.throttled += self.wait_before(tries.limited, error.retry_after)

    def wait_before(self, attempt: int, retry_after: float | None = None) -> float:
        """Wait as the retry policy says after failed try ``attempt``; cut short by a cancel."""
        return self.retry.wait(attempt, retry_after, sleep=self.cancel.sleep)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """An authenticated call; a 2xx answer or the typed error that says what to do."""
        return check_response(self._send(method, path, **kwargs), method, path)

    # -- the mailbox calls ----------------------------------------------------------------

    def get_page(self, number: int, search: str | None = None, page_size: int | None = None) -> Page:
        """One page of the list, described by the answer's ``meta`` (trusted over what was asked)."""
        params: dict = {"page": number, "page_size": page_size or DEFAULT_PAGE_SIZE}
        if search:
            params["search"] = search
        response = self.request("GET", LIST_PATH, params=params)
        body = json_body(response)
        if body is None:
            raise ServiceError(f"GET {LIST_PATH} answered {response.status_code} without JSON")
        items = body.get("data") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise ServiceError(f"GET {LIST_PATH} answered without a data list")
        meta = body.get("meta") if isinstance(body, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        served = _int(meta.get("page"))
        if served is not None and served != number:
            raise ServiceError(f"GET {LIST_PATH} was asked for page {number} and returned page {served}; "
                           "the server ignores paging, so the list cannot be walked safely")
        total = _int(meta.get("total"))
        # Without meta.page_size: page 1 shows what is granted; later pages ask for that size.
        size = _int(meta.get("page_size")) or (len(items) if number == 1 else page_size) or 1
        total_pages = _int(meta.get("total_pages"))
        if total_pages is None and total is not None:
            total_pages = -(-total // size)
        elif total_pages is None:  # no count at all: a full page means there may be another
            total_pages = number + 1 if items and len(items) >= size else number
        return Page(number, items, total, total_pages, size)

    def add(self, items: Iterable[dict]) -> object:
        """POST one batch of new mailboxes (dicts with email_address, executive and optionally
        realname). Returns the
        answer's JSON, or None when it had no body (any 2xx is accepted)."""
        payload = []
        for n, item in enumerate(items, 1):
            mailbox = {"id": PLACEHOLDER_ID.format(n), "email_address_id": 0,
                       "executive": int(item.get("executive") or 0), "email_address": item["email_address"]}
            if item.get("realname"):  # the list answer carries it; the console's model has the field
                mailbox["realname"] = item["realname"]
            payload.append(mailbox)
        return json_body(self.request("POST", MAILBOX_PATH, json=payload))

    def remove(self, mailboxes: Iterable[dict]) -> object:
        """DELETE one batch of existing mailboxes, named by both ids and the address as listed."""
        payload = [
            {"id": m["id"], "email_address_id": m["email_address_id"], "email_address": m["email_address"]}
            for m in mailboxes
        ]
        return json_body(self.request("DELETE", MAILBOX_PATH, json=payload))


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

