"""Rows + the live state -> what to send. Also the re-reads of send and verify."""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable

from .client import Client
from .records import ADDED, ALREADY_PRESENT, FAILED, NOT_FOUND, PLANNED, REMOVED, SENT, WOULD_ADD, WOULD_REMOVE, Row

log = logging.getLogger("bulkmail")
# Up to this many addresses, searching each costs about what one page of a walk would;
# beyond it the first page is fetched to learn what a whole walk would cost.
SEARCH_ALWAYS = 3


def lookup(client: Client, addresses: Iterable[str], concurrency: int | None = None) -> dict[str, dict]:
    """The live mailboxes of these addresses, keyed by lower-cased address, matched exactly
    (the server's search is a substring match: bob@acme.com also finds jimbob@acme.com).

    The cheaper of two ways: one search per address, or one walk of the whole list. Each
    costs round trips; the first page tells how many a walk needs."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return {}
    workers = concurrency or client.concurrency
    found: dict[str, dict] = {}
    if len(wanted) > SEARCH_ALWAYS:
        pages = client.iter_pages(concurrency=workers)
        first = next(pages)
        if first.total_pages - 1 <= len(wanted):
            log.info("reading the live state: one walk of %d pages for %d addresses", first.total_pages, len(wanted))
            for page in itertools.chain([first], pages):
                _keep(page.items, wanted, found)
            return found
        pages.close()
    log.info("reading the live state: %d searches", len(wanted))
    with ThreadPoolExecutor(workers, thread_name_prefix="search") as pool:
        for items in pool.map(client.search, sorted(wanted)):
            _keep(items, wanted, found)
    return found


def _keep(items: list[dict], wanted: set[str], found: dict[str, dict]) -> None:
    for mailbox in items:
        key = str(mailbox.get("email_address", "")).lower()
        if key in wanted:
            found[key] = mailbox


@dataclass
class Plan:
    to_add: list[Row] = field(default_factory=list)
    to_remove: list[Row] = field(default_factory=list)
    already_present: int = 0
    not_found: int = 0

    @property
    def changes(self) -> int:
        return len(self.to_add) + len(self.to_remove)


def make_plan(client: Client, rows: list[Row], concurrency: int | None = None, dry_run: bool = False) -> Plan:
    """Classify the rows that passed validation against the live state."""
    candidates = [r for r in rows if r.status == PLANNED]
    live = lookup(client, (r.email_address for r in candidates), concurrency)
    plan = Plan()
    for row in candidates:
        mailbox = live.get(row.key)
        row.mailbox = mailbox
        if row.in_doubt and bool(mailbox) == (row.action == "add"):
            # An interrupted run sent this change and never heard back: it is ours, not a no-op.
            row.status = ADDED if row.action == "add" else REMOVED
            row.detail = "applied by the interrupted run (its answer was not recorded)"
        elif row.action == "add":
            if mailbox:
                row.status, row.detail = ALREADY_PRESENT, "the mailbox exists already; nothing sent"
                plan.already_present += 1
            else:
                plan.to_add.append(row)
        elif mailbox:
            plan.to_remove.append(row)
        else:
            row.status, row.detail = NOT_FOUND, "no such mailbox; nothing sent"
            plan.not_found += 1
    if dry_run:
        for row in plan.to_add:
            row.status = WOULD_ADD
        for row in plan.to_remove:
            row.status = WOULD_REMOVE
    return plan


def verify(client: Client, rows: list[Row], concurrency: int | None = None, check: bool = True) -> None:
    """Turn SENT rows into added/removed where re-reading shows the change, else failed.
    With ``check`` off (--no-verify), trust the service's 2xx."""
    sent = [r for r in rows if r.status == SENT]
    live = lookup(client, (r.email_address for r in sent), concurrency) if check and sent else {}
    for row in sent:
        if not check:
            row.status = ADDED if row.action == "add" else REMOVED
            row.detail = row.detail or "accepted by the service; not verified (--no-verify)"
        elif row.action == "add":
            if row.key in live:
                row.status, row.mailbox = ADDED, live[row.key]
            else:
                row.status, row.detail = FAILED, "the service accepted it, but it is not there when re-read"
        elif row.key in live:
            row.status, row.detail = FAILED, "the service accepted it, but it is still there when re-read"
        else:
            row.status = REMOVED
