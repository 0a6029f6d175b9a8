"""Walking the whole mailbox list so that the result can be trusted while others change it.

The list is ordered by id and cut by offset, and a new mailbox gets a larger id than every
existing one, so it joins the end. A removal shifts every later mailbox one place towards the
start: a plain walk misses the mailbox that crosses a page boundary it has already passed.
An addition never moves an existing mailbox.

**Fast pass** (the usual case: a plain walk plus two requests). Page 1 tells the page count P.
Page P is read first (the reference), then pages 1 … P-1 together, then page P again. If page
P reads the same both times, no mailbox was removed in between: a removal anywhere before
its end would have moved its first mailbox out (or, within it, one of its mailboxes), and
nothing can move it back, because additions join the end. So every page of the pass was cut
from the same positions, and the pass holds every mailbox that existed throughout it.

**Checked pass** (the list changed meanwhile, or a page came back shorter than ``meta``
promised). Pages one at a time; after page N is read, page N-1 is read again: if its last
mailbox is still its last, nothing before it was removed between the two reads of page N-1,
so page N starts right after it. When it moved, page N is read again from there. A boundary
that does not hold still after a few tries is named in ``Walk.uncertain``; callers say so (an
export exits 1) or check the rows concerned by a targeted search.

Every mailbox is yielded once (by id). No thread pool runs inside another: with a concurrency
of 1 (a sender worker's re-read), pages are read in the calling thread.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..errors import ServiceError, UnreachableError
from .client import LIST_PATH, Client, Page

log = logging.getLogger("bulkmail")
# How often a page boundary is read again, and a page shorter than its meta promises (a page
# lost on its way: a cache, a replica behind), before the walk gives up on vouching for it.
TRIES, SHORT_TRIES = 4, 8


@dataclass
class Walk:
    """What a walk read and what it can vouch for."""

    reads: int = 0  # page answers read (pages read twice count twice)
    pages: int = 0  # pages the list has, as far as the walk went
    mailboxes: int = 0  # distinct mailboxes yielded
    uncertain: list[str] = field(default_factory=list)  # spots it could not be sure of
    totals: list[int] = field(default_factory=list)  # meta.total as the answers said it

    @property
    def complete(self) -> bool:
        return not self.uncertain


def walk(client: Client, search: str | None = None, page_size: int | None = None, concurrency: int | None = None,
         state: Walk | None = None, first: Page | None = None) -> Iterator[Page]:
    """Yield the list's pages, each mailbox once (pages hold only mailboxes not yielded before),
    complete as the module docstring explains; ``state`` learns what was read and what is
    uncertain. ``first``: page 1, when the caller has read it already."""
    state = state if state is not None else Walk()
    seen: set = set()
    workers = max(1, concurrency or client.concurrency)

    def fresh(page: Page) -> Page:
        """The page with only the mailboxes not yielded before."""
        state.reads += 1
        state.pages = max(state.pages, page.number if page.items or page.number == 1 else page.number - 1)
        if page.total is not None:
            state.totals.append(page.total)
        ids = _ids(page)
        # the usual page shares no id with those before: kept whole, without a look per mailbox
        items = page.items if seen.isdisjoint(ids) else [m for m, i in zip(page.items, ids) if i not in seen]
        seen.update(ids)  # the ids of the mailboxes left out are in it already
        state.mailboxes += len(items)
        return Page(page.number, items, page.total, page.total_pages, page.page_size)

    first = first or client.get_page(1, search, page_size)
    yield fresh(first)  # always, even empty: it tells the columns and the count
    if first.total_pages <= 1 and not _short(first):
        return  # one answer is one moment: nothing can have moved within it
    moved = yield from _kept(_fast(client, first, search, workers), fresh)
    if moved:
        log.info("the list changed during the walk (or a page came back short); walking it again page by page")
        yield from _kept(_checked(client, search, first.page_size, state), fresh)


def _kept(pages: Iterator[Page], fresh) -> Iterator[Page]:
    """``fresh(page)`` of each page that still holds a mailbox not yielded before; returns what
    ``pages`` returns."""
    while True:
        try:
            page = fresh(next(pages))
        except StopIteration as end:
            return end.value
        if page.items:
            yield page


def _fast(client: Client, first: Page, search: str | None, workers: int) -> Iterator[Page]:
    """The fast pass (see the module docstring); returns whether the list moved meanwhile."""
    size = first.page_size
    if first.total is None:  # no count: find the last page by reading on until a short one
        last = first
        for page in _pages(client, _unbounded(2), search, size, workers, stop_after_short=True, after=first):
            yield page
            last = page
        count = last.number
    else:
        count = first.total_pages
    reference = client.get_page(count, search, size)
    if count > 1 and reference.items and _ids(reference) == _ids(first):
        raise _ignores_paging(count, 1)
    anomalies = False
    for page in _pages(client, range(1, count), search, size, workers):
        anomalies |= _short(page)
        yield page
    yield reference  # after the pages before it: an export stays in id order
    again = client.get_page(count, search, size)
    yield again
    yield from _pages(client, range(count + 1, again.total_pages + 1), search, size, workers)  # a list that grew
    return anomalies or _short(reference) or _ids(again) != _ids(reference)


def _checked(client: Client, search: str | None, size: int, state: Walk) -> Iterator[Page]:
    """The checked pass: pages one at a time, each boundary confirmed (see the module docstring).
    A page that stays shorter than its meta promises is named uncertain, and the walk goes on
    to the pages its meta counts: a lost page is never taken for the end of the list."""
    before = _settled(client, 1, search, size, state)
    yield before
    number = 2
    while _more(before, number, size):
        page = _settled(client, number, search, size, state)
        for _ in range(TRIES if before.items else 0):
            again = _settled(client, number - 1, search, size, state)
            if again.items and _id(again.items[-1]) == _id(before.items[-1]):
                break
            yield again  # mailboxes that moved into the page before: read them, then this page again
            before = again
            page = _settled(client, number, search, size, state)
        else:
            if before.items:
                state.uncertain.append(f"around page {number} (after mailbox id {_id(before.items[-1])}): the list "
                                       "kept changing there")
        yield page
        before, number = page, number + 1


def _more(before: Page, number: int, size: int) -> bool:
    """Is there a page ``number`` after ``before``? Its meta says (a count that a shrinking list
    may lower); without meta, a full page means there may be another."""
    if before.total is not None:
        return (number - 1) * before.page_size < before.total
    return len(before.items) >= size


def _settled(client: Client, number: int, search: str | None, size: int, state: Walk) -> Page:
    """Page ``number``, read again (a few times) while it is shorter than its own meta says."""
    for attempt in range(1, SHORT_TRIES + 1):
        page = client.get_page(number, search, size)
        if not _short(page):
            return page
        log.info("page %d came back with %d mailboxes while the service counts %s; reading it again", number,
                 len(page.items), page.total)
        client.wait_before(min(attempt, 3))
    state.uncertain.append(f"page {number} kept coming back with {len(page.items)} mailboxes while the service counts "
                           f"{page.total}")
    return page


def _short(page: Page) -> bool:
    """Fewer mailboxes than the page's own meta promises at its offset (an empty page while
    meta still counts rows, a truncated answer)."""
    if page.total is None:
        return False
    return len(page.items) < min(page.page_size, max(0, page.total - (page.number - 1) * page.page_size))


def _pages(client: Client, numbers: Iterable[int], search: str | None, size: int, workers: int,
           stop_after_short: bool = False, after: Page | None = None) -> Iterator[Page]:
    """These pages in order, ``workers`` in flight (read in this thread when 1). A server that
    sends the same page twice (it ignores ``page``) raises ServiceError instead of looping;
    ``after`` is the page read just before the first of them."""
    previous = _ids(after) if after is not None else None
    for page in _fetch(client, numbers, search, size, workers):
        ids = _ids(page)
        if ids and ids == previous:
            # Pages read at once can show the same mailboxes when others removed a page's worth
            # between the two reads; a server that ignores `page` sends them again, read alone.
            page = client.get_page(page.number, search, size)
            ids = _ids(page)
            if ids and ids == _ids(client.get_page(page.number - 1, search, size)):
                raise _ignores_paging(page.number, page.number - 1)
        previous = ids
        yield page
        if stop_after_short and len(page.items) < size:
            return


def _fetch(client: Client, numbers: Iterable[int], search: str | None, size: int, workers: int) -> Iterator[Page]:
    numbers = iter(numbers)
    if workers == 1:
        for number in numbers:
            yield client.get_page(number, search, size)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="page") as pool:
        pending: deque = deque()
        try:
            while True:
                # A bounded window: at most two pages per worker wait in memory.
                while len(pending) < 2 * workers:
                    number = next(numbers, None)
                    if number is None:
                        break
                    pending.append(pool.submit(client.get_page, number, search, size))
                if not pending:
                    return
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _ignores_paging(number: int, other: int) -> ServiceError:
    return ServiceError(f"GET {LIST_PATH} returned the same mailboxes for page {number} as for page {other}; the "
                        "server ignores paging")


def _unbounded(start: int) -> Iterator[int]:
    number = start
    while True:
        yield number
        number += 1


def _id(mailbox: dict):
    return mailbox.get("id") if isinstance(mailbox, dict) else None


def _ids(page: Page) -> list:
    """_id of each mailbox, in C when every item is a mapping (the usual page: 200k a walk)."""
    try:
        return list(map(dict.get, page.items, itertools.repeat("id")))
    except TypeError:  # an item that is no object: it has no id
        return list(map(_id, page.items))


def search(client: Client, text: str) -> list[dict]:
    """Every mailbox the server's (substring) search returns for ``text``; read in the calling
    thread (a sender worker's re-read runs no pool of its own). A search is what settles
    whether a mailbox is there: one that cannot be sure (pages keep coming back without their
    mailboxes) stops the run rather than calling a mailbox missing."""
    for _ in range(TRIES):
        state = Walk()
        found = [item for page in walk(client, search=text, concurrency=1, state=state) for item in page.items]
        if state.complete:
            return found
    raise ServiceError(f"GET {LIST_PATH} kept answering pages without their mailboxes for a search of {text!r} "
                       f"({'; '.join(state.uncertain)}), so bulkmail cannot tell whether that mailbox exists. "
                       "Try again later.")


def count(client: Client) -> int | None:
    """How many mailboxes the account holds: ``meta.total``, or a walk of the list when the
    server gives no count; None when neither can tell (a server that ignores paging)."""
    first = client.get_page(1, page_size=1)
    if first.total is not None:
        return first.total
    state = Walk()
    try:
        for _ in walk(client, state=state):
            pass
    except UnreachableError:
        raise
    except ServiceError:  # e.g. a server that ignores paging cannot be counted
        return None
    return state.mailboxes
