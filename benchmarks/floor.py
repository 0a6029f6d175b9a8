"""The baselines the bench times bulkmail against, each run as a process of its own.

    python benchmarks/floor.py export URL OUT.csv --concurrency 8
    python benchmarks/floor.py import URL IN.csv --batch-size 200 --concurrency 4 [--verify]
    python benchmarks/floor.py naive URL IN.csv
    python benchmarks/floor.py startup

The user name and password come from BULKMAIL_USERNAME and BULKMAIL_PASSWORD, as bulkmail's do.

- export (the HTTP floor): log in, read page 1, then the other pages with CONCURRENCY in
  flight, writing each row to a CSV as it comes.
- import (the HTTP floor): log in, walk the list once (a remove needs the mailbox's ids),
  read the CSV, send the adds (POST) and the removes (DELETE) in batches, CONCURRENCY at a
  time; with --verify, walk the list again and check every change shows.
- naive: what a script written from the vendor article does: log in, walk the list one page
  at a time, then one POST or DELETE per row, one after the other.
- startup: the interpreter and the HTTP library starting, nothing else.

No validation, no report, no journal, no audit log, no retries: the least a client can do.
Only the standard library and requests, so that it can time any checkout of bulkmail.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

LIST_PATH, MAILBOX_PATH = "/email/mailbox/v2", "/email/mailbox"
PAGE_SIZE = 1000


class Api:
    """A logged-in requests.Session with a connection per request in flight."""

    def __init__(self, url: str, concurrency: int):
        self.url = url
        self.session = requests.Session()
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=concurrency))
        self.concurrency = concurrency
        answer = self.session.post(url + "/auth", files={"username": (None, os.environ["BULKMAIL_USERNAME"]),
                                                         "password": (None, os.environ["BULKMAIL_PASSWORD"])})
        answer.raise_for_status()
        body = answer.json()
        self.headers = {"Authorization": f"Bearer {body['access_token']}", "X-Uss-Account-Id": body["accounts_id"],
                        "Content-Type": "application/json"}

    def page(self, number: int) -> dict:
        answer = self.session.get(self.url + LIST_PATH, params={"page": number, "page_size": PAGE_SIZE},
                                  headers=self.headers)
        answer.raise_for_status()
        return answer.json()

    def pages(self):
        """Every page's mailboxes in order: page 1, then the rest CONCURRENCY at a time."""
        first = self.page(1)
        yield first["data"]
        rest = range(2, first["meta"]["total_pages"] + 1)
        if self.concurrency == 1:
            yield from (self.page(n)["data"] for n in rest)
            return
        with ThreadPoolExecutor(self.concurrency) as pool:
            yield from (body["data"] for body in pool.map(self.page, rest))

    def send(self, call: tuple[str, list]) -> None:
        method, batch = call
        self.session.request(method, self.url + MAILBOX_PATH, json=batch, headers=self.headers).raise_for_status()


def export(api: Api, out: str) -> None:
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = None
        for items in api.pages():
            if writer is None and items:
                writer = csv.DictWriter(handle, fieldnames=list(items[0]))
                writer.writeheader()
            writer.writerows(items)


def changes(api: Api, path: str) -> tuple[list[dict], list[dict]]:
    """The adds and the resolved removes of the file, from one walk of the list."""
    live = {m["email_address"].lower(): m for items in api.pages() for m in items}
    adds, removes = [], []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            mailbox = live.get(row["email_address"].lower())
            if row["action"] == "add" and mailbox is None:
                adds.append({"email_address_id": 0, "executive": int(row.get("executive") == "yes"),
                             "email_address": row["email_address"], "realname": row.get("realname") or " "})
            elif row["action"] == "remove" and mailbox is not None:
                removes.append({k: mailbox[k] for k in ("id", "email_address_id", "email_address")})
    return adds, removes


def import_(api: Api, path: str, batch_size: int, verify: bool) -> int:
    adds, removes = changes(api, path)
    calls = []
    for start in range(0, len(adds), batch_size):
        batch = [dict(item, id=f"USSportal.email.model.Mailbox-{n}")
                 for n, item in enumerate(adds[start:start + batch_size], 1)]
        calls.append(("POST", batch))
    calls += [("DELETE", removes[start:start + batch_size]) for start in range(0, len(removes), batch_size)]
    with ThreadPoolExecutor(api.concurrency) as pool:
        list(pool.map(api.send, calls))
    if not verify:
        return 0
    live = {m["email_address"].lower() for items in api.pages() for m in items}
    missing = sum(a["email_address"].lower() not in live for a in adds)
    left = sum(r["email_address"].lower() in live for r in removes)
    if missing or left:
        print(f"floor: {missing} adds not visible, {left} removes still listed", file=sys.stderr)
        return 1
    return 0


def naive(api: Api, path: str) -> None:
    adds, removes = changes(api, path)
    for item in adds:
        api.send(("POST", [dict(item, id="USSportal.email.model.Mailbox-1")]))
    for item in removes:
        api.send(("DELETE", [item]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["export", "import", "naive", "startup"])
    parser.add_argument("url", nargs="?")
    parser.add_argument("path", nargs="?")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--verify", action="store_true")
    options = parser.parse_args()
    if options.mode == "startup":
        return 0
    api = Api(options.url, 1 if options.mode == "naive" else options.concurrency)
    if options.mode == "export":
        export(api, options.path)
    elif options.mode == "import":
        return import_(api, options.path, options.batch_size, options.verify)
    else:
        naive(api, options.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
