"""The emulated API as a WSGI app: the four documented calls, every assumed variant of
shared/API.md as a setting, and fault knobs (latency, 413, 429, 5xx, lost answers)."""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, fields
from typing import Callable
from http import HTTPStatus

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from .store import Store

PLACEHOLDER = re.compile(r"USSportal\.email\.model\.Mailbox-\d+")
ADDRESS = re.compile(r"[^@\s]+@([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)")


def status_line(code: int) -> str:
    """'403 Forbidden', as real servers write it (werkzeug's default would be '403 FORBIDDEN')."""
    return f"{code} {HTTPStatus(code).phrase}"


@dataclass
class Settings:
    """How this sandbox behaves. Every field is one of API.md's variants or a fault knob."""

    username: str = "admin@acme.com"
    password: str = "sandbox-demo"
    account_id: str = "b441390e-5f2c-4d5e-9a8b-36d7839f6153"
    domains: tuple[str, ...] = ("acme.com", "acme.co.uk")
    token_lifetime: float = 86400
    two_factor: bool = False  # a 200 login answer without access_token
    page_size_default: int = 20
    page_size_max: int | None = 100  # the server caps what is asked
    ignore_page_size: bool = False  # always pages of page_size_default
    ignore_page: bool = False  # always the first page (clients must notice)
    send_meta: bool = True  # False: list answers carry only "data", no page count
    duplicate_add: str = "conflict"  # "conflict": 409 for the batch | "ignore": silent no-op
    missing_remove: str = "not_found"  # "not_found": 404 for the batch | "ignore"
    post_answer: str = "success"  # "success" 200 {"success": true} | "list" | "created" 201 | "empty" 204
    delete_answer: str = "body"  # "body" 200 | "empty" 204
    error_style: str = "message"  # "message" | "error" JSON key | "html" proxy page
    max_batch: int | None = None  # larger batches get 413
    ignore_realname: bool = False  # True: a realname in an add is dropped (the mailbox shows " ")
    latency: float = 0.0  # seconds added to every answer
    rate_limit_rate: float = 0.0  # share of calls answered 429
    retry_after: float | None = None  # Retry-After header on those 429s (None: no header)
    error_rate: float = 0.0  # share of calls answered 500/502/503/504 before doing anything
    lost_rate: float = 0.0  # share of POST/DELETE applied, then the connection dropped
    # A rate limit shared by every client of the service: a token bucket of bucket_burst
    # requests refilled at bucket_rate a second (0: off); a 429 says when the next token comes
    # in Retry-After unless bucket_retry_after is False.
    bucket_rate: float = 0.0
    bucket_burst: int = 10
    bucket_retry_after: bool = True
    revoke_rate: float = 0.0  # share of authenticated calls whose live token is revoked (401)
    single_session: bool = False  # a login ends the user's older tokens (one session per user)
    empty_page_rate: float = 0.0  # share of list answers with no data while meta still counts rows
    stall_rate: float = 0.0  # share of calls that stall stall_seconds before answering
    stall_seconds: float = 1.0
    churn_rate: float = 0.0  # share of list calls after which another writer removes one mailbox and adds one
    seed: int | None = None


@dataclass
class Account:
    """One customer account: its own login, id, registered domains and mailboxes."""

    username: str
    password: str
    account_id: str
    domains: tuple[str, ...]
    store: Store


# The second, third … accounts of a sandbox with several (`bulkmail sandbox --accounts 3`).
TENANTS = ["globex", "initech", "umbrella", "hooli", "vehement", "massive", "soylent", "wonka"]


def extra_account(number: int) -> Account:
    """Account ``number`` (2, 3 …): admin@<tenant>.com, password sandbox-<tenant>, a stable id."""
    import uuid

    tenant = TENANTS[(number - 2) % len(TENANTS)] + ("" if number - 2 < len(TENANTS) else str(number))
    return Account(f"admin@{tenant}.com", f"sandbox-{tenant}", str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{tenant}.com")),
                   (f"{tenant}.com",), Store())


@dataclass
class Fault:
    """A scripted answer for the next matching call (tests): a status (with this ``body``
    instead of an error message, if given), or a lost answer."""

    status: int | None = None
    method: str | None = None
    path: str | None = None
    retry_after: float | None = None
    lost: bool = False
    body: str | None = None  # e.g. a malformed list answer: '{"data": "oops"}', or an HTML page


@dataclass
class _Rejected(Exception):
    status: int
    message: str


class SandboxApp:
    def __init__(self, settings: Settings | None = None, store: Store | None = None, accounts: int = 1):
        self.settings = settings or Settings()
        self.store = store or Store()
        self.hooks: list[Callable[[Request], None]] = []  # called after each answer (tests)
        self.extra_accounts = [extra_account(n) for n in range(2, accounts + 1)]
        self.faults: deque[Fault] = deque()
        self._rng = random.Random(self.settings.seed)
        self._rng_lock = threading.Lock()
        self._bucket = (float(self.settings.bucket_burst), time.monotonic())  # (tokens, when counted)
        self.spared: set[str] = set()  # addresses the churning "other writer" never removes (tests)

    def script(self, *faults: Fault) -> None:
        """Queue faults for the next calls that match them."""
        self.faults.extend(faults)

    def configure(self, **knobs) -> None:
        """Change any Settings field while serving; ``seed`` also restarts the fault dice."""
        known = {f.name for f in fields(Settings)}
        unknown = sorted(set(knobs) - known)
        if unknown:
            raise TypeError(f"unknown sandbox settings: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        for name, value in knobs.items():
            setattr(self.settings, name, value)
        if "seed" in knobs:
            with self._rng_lock:
                self._rng.seed(knobs["seed"])

    # -- plumbing --------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request, environ)
        except _Rejected as err:
            response = self.error(err.status, err.message)
        except HTTPException as exc:
            response = exc.get_response()
        for hook in self.hooks:
            hook(request)
        return response(environ, start_response)

    def _chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < rate

    def _take_bucket_token(self) -> float | None:
        """None when the shared bucket had a token for this call, else the seconds until it will."""
        rate = self.settings.bucket_rate
        if rate <= 0:
            return None
        with self._rng_lock:
            tokens, counted = self._bucket
            now = time.monotonic()
            tokens = min(float(self.settings.bucket_burst), tokens + (now - counted) * rate)
            if tokens >= 1:
                self._bucket = (tokens - 1, now)
                return None
            self._bucket = (tokens, now)
            return (1 - tokens) / rate

    def _churn(self) -> None:
        """Another writer: one mailbox (not spared) removed, one new one added, in the first account."""
        store = self.store
        with store.lock:
            doomed = [m for m in store.mailboxes.values() if m["email_address"].lower() not in self.spared]
            with self._rng_lock:
                victim = self._rng.choice(doomed) if doomed else None
                number = self._rng.randrange(10**9)
            if victim is not None:
                store.remove(victim["id"])
            store.add(f"other-writer-{number}@{self.settings.domains[0]}")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.store.lock:
            for fault in self.faults:
                if fault.method in (None, method) and fault.path in (None, path):
                    self.faults.remove(fault)
                    return fault
        return None

    def json(self, body, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status_line(status), mimetype="application/json")

    def error(self, status: int, message: str, headers: dict | None = None) -> Response:
        style = self.settings.error_style
        if style == "html":
            phrase = HTTPStatus(status).phrase
            page = (f"<html><head><title>{status} {phrase}</title></head>"
                    f"<body><h1>{phrase}</h1><p>{message}</p></body></html>")
            return Response(page, status=status_line(status), mimetype="text/html", headers=headers)
        return Response(json.dumps({"error" if style == "error" else "message": message}), status=status_line(status),
                        mimetype="application/json", headers=headers)

    def _drop_connection(self, environ) -> Response:
        """Lose the answer: the change is applied, the client sees the connection close."""
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return Response(b"", status=200)

    @property
    def accounts(self) -> list[Account]:
        """Every account; the first is the one ``settings`` and ``store`` describe."""
        s = self.settings
        return [Account(s.username, s.password, s.account_id, s.domains, self.store), *self.extra_accounts]

    # -- the API ---------------------------------------------------------------------------

    def dispatch(self, request: Request, environ) -> Response:
        s = self.settings
        method, path = request.method, request.path
        with self.store.lock:
            self.store.requests[(method, path)] += 1
        if s.latency:
            time.sleep(s.latency)
        if self._chance(s.stall_rate):
            time.sleep(s.stall_seconds)
        fault = self._take_fault(method, path)
        if fault and fault.body is not None:
            return Response(fault.body, status=status_line(fault.status or 200), mimetype="application/json")
        if fault and fault.status:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return self.error(fault.status, f"Scripted fault {fault.status}", headers)
        wait = self._take_bucket_token()
        if wait is not None:
            headers = {"Retry-After": f"{wait:.2f}"} if s.bucket_retry_after else None
            return self.error(429, "Rate limit exceeded, slow down", headers)
        if self._chance(s.rate_limit_rate):
            headers = {"Retry-After": str(s.retry_after)} if s.retry_after is not None else None
            return self.error(429, "Rate limit exceeded, slow down", headers)
        if self._chance(s.error_rate):
            with self._rng_lock:
                status = self._rng.choice([500, 502, 503, 504])
            return self.error(status, "Temporary failure, try again")
        if path == "/auth" and method == "POST":
            return self.login(request)
        if path == "/email/mailbox/v2" and method == "GET":
            response = self.list(request, self.authorise(request))
            if self._chance(s.churn_rate):
                self._churn()
            return response
        if path == "/email/mailbox" and method in ("POST", "DELETE"):
            account = self.authorise(request)
            lost = (fault is not None and fault.lost) or self._chance(s.lost_rate)
            response = self.add(request, account) if method == "POST" else self.remove(request, account)
            return self._drop_connection(environ) if lost else response
        return self.error(404, f"No route for {method} {path}")

    def login(self, request: Request) -> Response:
        s = self.settings
        if request.mimetype != "multipart/form-data":
            raise _Rejected(400, "Login expects a multipart form with username and password")
        account = next((a for a in self.accounts if request.form.get("username") == a.username
                        and request.form.get("password") == a.password), None)
        if account is None:
            raise _Rejected(401, "Invalid username or password")
        if s.two_factor:
            return self.json({"two_factor_required": True, "message": "Enter the code from your authenticator"})
        if s.single_session:
            account.store.revoke_tokens_of(account.username)
        token = account.store.issue_token(s.token_lifetime, owner=account.username)
        return self.json({"access_token": token, "token_type": "Bearer", "expires_in": s.token_lifetime,
                          "accounts_id": account.account_id, "user": {"username": account.username}})

    def authorise(self, request: Request) -> Account:
        """The account the token was issued for; another account's id in the header is a 403."""
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        account = next((a for a in self.accounts if token and a.store.token_valid(token)), None)
        if account is not None and self._chance(self.settings.revoke_rate):
            account.store.revoke(token)  # a session ended by an administrator, a key rotation
            account = None
        if account is None:
            raise _Rejected(401, "Token expired or invalid")
        if request.headers.get("X-Uss-Account-Id") != account.account_id:
            raise _Rejected(403, "Access to this account is forbidden")
        return account

    def list(self, request: Request, account: Account) -> Response:
        s = self.settings
        size = request.args.get("page_size", type=int) or s.page_size_default
        if s.ignore_page_size:
            size = s.page_size_default
        elif s.page_size_max:
            size = min(size, s.page_size_max)
        size = max(1, size)
        number = 1 if s.ignore_page else max(1, request.args.get("page", default=1, type=int))
        items, total = account.store.page(number, size, request.args.get("search"))
        if items and self._chance(s.empty_page_rate):
            items = []  # a page lost on its way (a cache, a replica behind): meta still counts the rows
        meta = {"page": number, "page_size": size, "total": total, "total_pages": -(-total // size)}
        if s.ignore_page:
            del meta["page"]  # a server that ignores paging does not tell which page it sent
        return self.json({"data": items, "meta": meta} if s.send_meta else {"data": items})

    def _items(self, request: Request) -> list:
        try:
            items = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            raise _Rejected(400, "Body is not valid JSON") from None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _Rejected(400, "Body must be a JSON array of mailbox objects")
        if self.settings.max_batch and len(items) > self.settings.max_batch:
            raise _Rejected(413, f"Too many mailboxes in one request (at most {self.settings.max_batch})")
        return items

    def add(self, request: Request, account: Account) -> Response:
        s, store = self.settings, account.store
        items = self._items(request)
        seen_ids, seen_addresses = set(), set()
        with store.lock:
            for item in items:
                address = item.get("email_address")
                if not isinstance(item.get("id"), str) or not PLACEHOLDER.fullmatch(item["id"]):
                    raise _Rejected(422, f"Invalid placeholder id: {item.get('id')!r}")
                if item["id"] in seen_ids:
                    raise _Rejected(400, f"Duplicate placeholder id in request: {item['id']}")
                seen_ids.add(item["id"])
                if item.get("email_address_id") != 0 or item.get("executive", 0) not in (0, 1):
                    raise _Rejected(400, f"Invalid mailbox fields for {address}")
                match = ADDRESS.fullmatch(address) if isinstance(address, str) else None
                if not match:
                    raise _Rejected(400, f"Invalid email address: {address}")
                if match.group(1).lower() not in account.domains:
                    raise _Rejected(400, f"Domain not registered for this account: {match.group(1)}")
                if address.lower() in seen_addresses:
                    raise _Rejected(400, f"Duplicate mailbox in request: {address}")
                seen_addresses.add(address.lower())
                if store.find(address) and s.duplicate_add == "conflict":
                    raise _Rejected(409, f"Mailbox already exists: {address}")
            created = [store.add(i["email_address"], executive=i.get("executive", 0),
                                 realname=" " if s.ignore_realname else str(i.get("realname") or " "))
                       for i in items if not store.find(i["email_address"])]
        if s.post_answer == "list":
            return self.json(created)
        if s.post_answer == "created":
            return Response(b"", status=status_line(201))
        if s.post_answer == "empty":
            return Response(status=status_line(204))
        return self.json({"success": True})

    def remove(self, request: Request, account: Account) -> Response:
        s, store = self.settings, account.store
        items = self._items(request)
        with store.lock:
            doomed = []
            for item in items:
                address = item.get("email_address")
                mailbox = store.mailboxes.get(item.get("id")) if isinstance(item.get("id"), int) else None
                if mailbox is None:
                    if s.missing_remove == "not_found":
                        raise _Rejected(404, f"Mailbox not found: {address}")
                    continue
                if (mailbox["email_address_id"] != item.get("email_address_id")
                        or not isinstance(address, str) or mailbox["email_address"].lower() != address.lower()):
                    raise _Rejected(400, f"Mailbox id does not match address: {address}")
                if mailbox["id"] in doomed:
                    raise _Rejected(400, f"Duplicate mailbox in request: {address}")
                doomed.append(mailbox["id"])
            for mailbox_id in doomed:
                store.remove(mailbox_id)
        if s.delete_answer == "empty":
            return Response(status=status_line(204))
        return self.json({"success": True, "deleted": len(doomed)})
