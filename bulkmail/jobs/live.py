"""The live state of the addresses a run is about: read by one walk or by a search each,
whichever costs fewer round trips, matched exactly (the server's search is a substring
match), and searched again where an unsure walk could not vouch for an absence."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..addresses import address_key, domain_key, search_texts
from ..api.client import Client
from ..api.walk import Walk, search, walk

log = logging.getLogger("bulkmail")

# Up to this many addresses, searching each costs about what one page of a walk would;
# beyond it the first page is fetched to learn what a whole walk would cost.
SEARCH_ALWAYS = 3


@dataclass
class Live:
    """What one read of the live state found: the wanted mailboxes by lower-cased address,
    every address that passed by (for suggestions), the account's size when a walk saw it all,
    and whether the read can vouch for every wanted address (a walk that the list's changes
    left unsure of cannot: its misses get a targeted search)."""

    mailboxes: dict[str, dict] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    size: int | None = None
    complete: bool = True


def read_live(client: Client, addresses: Iterable[str], concurrency: int | None = None, survey: bool = True) -> Live:
    """The live mailboxes of these addresses, matched exactly and case-insensitively (the
    server's search is a substring match: bob@acme.com also finds jimbob@acme.com).

    The cheaper of two ways: one search per address, or one walk of the whole list. Each
    costs round trips; the first page tells how many a walk needs. ``survey``: also note every
    address that passes by and, after a walk, the account's size (the plan wants them; a
    re-read does not). ``concurrency`` 1 reads in the calling thread (a sender worker)."""
    wanted = {address_key(a) for a in addresses}
    live = Live()
    if not wanted:
        return live
    workers = concurrency or client.concurrency
    if len(wanted) > SEARCH_ALWAYS:
        first = client.get_page(1)
        if first.total_pages + 1 <= len(wanted):  # a walk reads page 1 and the last page twice
            log.info("reading the live state: one walk of %d pages for %d addresses", first.total_pages, len(wanted))
            state = Walk()
            for page in walk(client, concurrency=workers, state=state, first=first):
                _keep(page.items, wanted, live, survey)
            live.size = state.mailboxes if survey and state.complete else None
            live.complete = state.complete
            if not state.complete:
                log.info("the walk could not vouch for every mailbox: %s", "; ".join(state.uncertain))
            return live
    log.info("reading the live state: %d searches", len(wanted))
    for items in _each(lambda text: search(client, text), sorted(set().union(*map(search_texts, wanted))), workers):
        _keep(items, wanted, live, survey)
    return live


def _each(function, items: list, workers: int) -> Iterator:
    """``function`` of each item, ``workers`` at a time; in the calling thread when 1 (no pool
    inside a sender worker's pool)."""
    if workers <= 1 or len(items) <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="search") as pool:
        yield from pool.map(function, items)


def lookup(client: Client, addresses: Iterable[str], concurrency: int | None = None) -> dict[str, dict]:
    """The live mailboxes of these addresses, keyed by lower-cased address (see read_live); an
    address an unsure walk did not see is searched for."""
    live = read_live(client, addresses, concurrency, survey=False)
    recheck(client, live, addresses, concurrency)
    return live.mailboxes


def recheck(client: Client, live: Live, addresses: Iterable[str], concurrency: int | None = None) -> None:
    """After a walk that could not vouch for everything: search for each wanted address it
    did not see, so that a mailbox the list's changes hid is not taken for missing."""
    if live.complete:
        return
    missing = {address_key(a) for a in addresses} - set(live.mailboxes)
    log.info("searching for %d addresses the walk did not see", len(missing))
    for items in _each(lambda text: search(client, text), sorted(set().union(*map(search_texts, missing))), concurrency or client.concurrency):
        _keep(items, missing, live, survey=False)
    live.complete = True


def _keep(items: list[dict], wanted: set[str], live: Live, survey: bool) -> None:
    for mailbox in items:
        key = address_key(str(mailbox.get("email_address", "")))
        if survey:
            live.seen.add(key)
        if key in wanted:
            live.mailboxes[key] = mailbox


def domain_of(address: str) -> str:
    """The domain of an address as a key (lower-cased ASCII): what scopes and domains compare."""
    return domain_key(address.rpartition("@")[2])


def domain_in_use(client: Client, domain: str) -> bool:
    """Does the account hold at least one mailbox in ``domain``? (A search for '@domain' is a
    substring match, so '@acme.com' also finds '@acme.com.au': look for an exact one.)"""
    for page in walk(client, search=f"@{domain}", page_size=100, concurrency=1):
        if any(domain_of(str(m.get("email_address", ""))) == domain for m in page.items):
            return True
    return False
