"""A lean stand-in for the mailbox API, for the benchmark only (the sandbox stays for tests).

    python benchmarks/server.py --mailboxes 20000 --latency 0.010     # prints "listening on URL"

Standard library only, run in a process of its own, so that the client under test shares
neither its interpreter nor its GIL. It implements the four documented calls of the API
(POST /auth as a multipart form, GET /email/mailbox/v2 with page/page_size/search and meta,
POST and DELETE /email/mailbox with JSON arrays) in their plainest variant: pages capped at
1000 rows, duplicate adds and removes of missing mailboxes silently ignored, `{"success":
true}` answers, no faults. It is made cheap on purpose: every mailbox's JSON is serialised
once, a page is a join of those bytes, and the latency is a sleep (it burns no CPU).

Two calls for the bench, neither counted nor delayed:
- GET /_bench/stats: the requests served per call and the process's CPU seconds
  (user + system, from getrusage), so the bench can print the server's CPU per request
  beside the client's;
- POST /_bench/reset: the seeded mailboxes again (an import changes them).
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import socket
import sys
import threading
import time
from collections import Counter
from email.parser import BytesParser
from email.policy import HTTP
from json.encoder import encode_basestring_ascii as quote
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

USERNAME, PASSWORD = "admin@acme.com", "bench-password"
ACCOUNT_ID = "b441390e-0000-4000-8000-36d7839f6153"
DOMAINS = ("acme.com", "acme.co.uk")
PAGE_SIZE_MAX = 1000
FIRST_ID, FIRST_ADDRESS_ID = 12182348, 12503482
LIST_PATH, MAILBOX_PATH = "/email/mailbox/v2", "/email/mailbox"
FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaito", "Lena",
         "Mateo", "Nora", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Ursula", "Victor", "Wen", "Xenia",
         "Yusuf", "Zoe"]
LAST = ["Adams", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova", "Jensen",
        "Kowalski", "Larsen", "Mueller", "Nakamura", "OBrien", "Petrov", "Quispe", "Rossi", "Schmidt", "Tanaka",
        "Umar", "Vogel", "Weber", "Xu", "Young", "Zimmermann"]


def seeded(n: int) -> tuple[str, str]:
    """The address and name of the n-th seeded mailbox (the bench writes its removes from these)."""
    first, last = FIRST[n % 26], LAST[(n // 26) % 26]
    return f"{first.lower()}.{last.lower()}{n}@{DOMAINS[n % len(DOMAINS)]}", f"{first} {last}"


class Store:
    """Mailboxes ordered by id, each kept with its serialised JSON. One lock: calls are short."""

    def __init__(self, mailboxes: int):
        self.lock = threading.Lock()
        self._seed = [self._entry(FIRST_ID + n, FIRST_ADDRESS_ID + n, *seeded(n), executive=int(n % 20 == 0),
                                  is_ad=int(n % 5 < 3)) for n in range(mailboxes)]
        self.reset()

    @staticmethod
    def _entry(mailbox_id: int, address_id: int, address: str, realname: str, executive: int = 0,
               is_ad: int = 0) -> tuple:
        # What json.dumps of the dict gives, at a fraction of its cost (the add call pays it).
        fragment = (f'{{"id": {mailbox_id}, "email_address_id": {address_id}, "email_address": {quote(address)}, '
                    f'"executive": {executive}, "realname": {quote(realname)}, "is_ad_mailbox": {is_ad}}}').encode()
        return mailbox_id, address_id, address, fragment

    def reset(self) -> None:
        with self.lock:
            self.ids = [entry[0] for entry in self._seed]  # ascending: ids only grow
            self.by_id = {entry[0]: entry for entry in self._seed}
            self.by_address = {entry[2].lower(): entry[0] for entry in self._seed}
            self.stale = False  # True: removed mailboxes are still in self.ids, until the next read
            self.next_id = FIRST_ID + len(self._seed)
            self.next_address_id = FIRST_ADDRESS_ID + len(self._seed)

    def page(self, number: int, size: int, search: str | None) -> bytes:
        with self.lock:
            if self.stale:
                self.ids = [i for i in self.ids if i in self.by_id]
                self.stale = False
            ids = self.ids
            if search:  # the service's search: a case-insensitive substring of the address
                needle = search.lower()
                ids = [i for i in ids if needle in self.by_id[i][2].lower()]
            start = (number - 1) * size
            fragments = [self.by_id[i][3] for i in ids[start:start + size]]
            total = len(ids)
        meta = {"page": number, "page_size": size, "total": total, "total_pages": -(-total // size)}
        return b'{"data":[' + b",".join(fragments) + b'],"meta":' + json.dumps(meta).encode() + b"}"

    def add(self, items: list) -> None:
        with self.lock:
            for item in items:
                address = item["email_address"]
                if address.lower() in self.by_address:
                    continue  # a duplicate add is a silent no-op in this variant
                entry = self._entry(self.next_id, self.next_address_id, address, str(item.get("realname") or " "),
                                    int(item.get("executive") or 0))
                self.next_id += 1
                self.next_address_id += 1
                self.ids.append(entry[0])
                self.by_id[entry[0]] = entry
                self.by_address[address.lower()] = entry[0]

    def remove(self, items: list) -> str | None:
        """Remove the mailboxes named; a mismatch of ids and address refuses the batch."""
        with self.lock:
            doomed = {}  # by id: a mailbox named twice is removed once
            for item in items:
                entry = self.by_id.get(item.get("id"))
                if entry is None:
                    continue  # a missing mailbox is silently ignored in this variant
                if entry[1] != item.get("email_address_id") or entry[2].lower() != str(item["email_address"]).lower():
                    return f"Mailbox id does not match address: {item['email_address']}"
                doomed[entry[0]] = entry
            for entry in doomed.values():
                del self.by_id[entry[0]], self.by_address[entry[2].lower()]
            # The id list is compacted at the next read, once for a whole wave of removes.
            self.stale = self.stale or bool(doomed)
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: "Server"

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle's algorithm and the client's delayed ACK add ~40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.call("GET")

    def do_POST(self) -> None:
        self.call("POST")

    def do_DELETE(self) -> None:
        self.call("DELETE")

    def call(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith("/_bench/"):
            return self.reply(200, self.server.control(method, url.path))
        self.server.count(f"{method} {url.path}")
        status, answer = self.route(method, url, body)
        time.sleep(self.server.latency)  # the network's share: a sleep costs no CPU
        self.reply(status, answer)

    def route(self, method: str, url, body: bytes) -> tuple[int, bytes]:
        store = self.server.store
        if (method, url.path) == ("POST", "/auth"):
            return self.login(body)
        if self.headers.get("Authorization", "")[7:] not in self.server.tokens:
            return 401, b'{"message": "Token expired or invalid"}'
        if self.headers.get("X-Uss-Account-Id") != ACCOUNT_ID:
            return 403, b'{"message": "Access to this account is forbidden"}'
        if (method, url.path) == ("GET", LIST_PATH):
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            size = max(1, min(int(query.get("page_size") or 20), PAGE_SIZE_MAX))
            return 200, store.page(max(1, int(query.get("page") or 1)), size, query.get("search"))
        if url.path == MAILBOX_PATH and method in ("POST", "DELETE"):
            try:
                items = json.loads(body)
            except ValueError:
                return 400, b'{"message": "Body is not valid JSON"}'
            if method == "POST":
                store.add(items)
                return 200, b'{"success": true}'
            refused = store.remove(items)
            if refused:
                return 400, json.dumps({"message": refused}).encode()
            return 200, b'{"success": true}'
        return 404, json.dumps({"message": f"No route for {method} {url.path}"}).encode()

    def login(self, body: bytes) -> tuple[int, bytes]:
        head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
        form = BytesParser(policy=HTTP).parsebytes(head + body)
        fields = {part.get_param("name", header="content-disposition"): part.get_content()
                  for part in form.iter_parts()} if form.is_multipart() else {}
        if (fields.get("username"), fields.get("password")) != (USERNAME, PASSWORD):
            return 401, b'{"message": "Invalid username or password"}'
        token = secrets.token_hex(32)
        self.server.tokens.add(token)
        return 200, json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 86400,
                                "accounts_id": ACCOUNT_ID}).encode()

    def reply(self, status: int, body: bytes) -> None:
        # One write for the head and the body.
        head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.wfile.write(head + body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 can drop a burst of new connections

    def __init__(self, port: int, mailboxes: int, latency: float):
        self.store = Store(mailboxes)
        self.latency = latency
        self.tokens: set[str] = set()
        self.requests: Counter = Counter()
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def count(self, call: str) -> None:
        with self._lock:
            self.requests[call] += 1

    def control(self, method: str, path: str) -> bytes:
        if (method, path) == ("POST", "/_bench/reset"):
            self.store.reset()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self._lock:
            requests = dict(self.requests)
        return json.dumps({"requests": requests, "cpu": usage.ru_utime + usage.ru_stime,
                           "mailboxes": len(self.store.by_id)}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mailboxes", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.010, help="seconds added to every API answer")
    options = parser.parse_args()
    server = Server(options.port, options.mailboxes, options.latency)
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
