"""Rows + the live state -> what to send. Also the re-reads of send and verify."""

from __future__ import annotations

import difflib
import logging
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..addresses import address_key, domain_key, search_text
from ..api.client import Client
from ..records import ALREADY_PRESENT, NOT_FOUND, PLANNED, SENT, Row
from ..api.walk import Walk, search, walk

log = logging.getLogger("bulkmail")
# Up to this many addresses, searching each costs about what one page of a walk would;
# beyond it the first page is fetched to learn what a whole walk would cost.
SEARCH_ALWAYS = 3
# "Did you mean …?" is worked out for this many not_found rows at most (the terminal shows ten).
SUGGEST_AT_MOST = 200


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
    for items in _each(lambda text: search(client, text), sorted({search_text(key) for key in wanted}), workers):
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
    for items in _each(lambda text: search(client, text), sorted({search_text(key) for key in missing}), concurrency or client.concurrency):
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


@dataclass
class Plan:
    to_add: list[Row] = field(default_factory=list)
    to_remove: list[Row] = field(default_factory=list)
    account_size: int | None = None  # mailboxes in the account, when the plan's walk counted them
    new_domains: set[str] = field(default_factory=set)  # domains of adds with no mailbox in the account yet
    warnings: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.to_add) + len(self.to_remove)


def make_plan(client: Client, rows: list[Row], concurrency: int | None = None, dry_run: bool = False) -> Plan:
    """Classify the rows that passed validation against the live state."""
    candidates = [r for r in rows if r.status == PLANNED]
    live = read_live(client, (r.email_address for r in candidates), concurrency)
    recheck(client, live, (r.email_address for r in candidates), concurrency)
    plan = Plan(account_size=live.size)
    for row in candidates:
        mailbox = live.mailboxes.get(row.key)
        row.mailbox = mailbox or (row.mailbox if row.in_doubt else None)  # a remove in doubt keeps its saved ids
        if row.in_doubt and row.visible_in(live.mailboxes):
            # An interrupted run sent this change and never heard back: it is ours, not a no-op.
            row.done("applied by the interrupted run; verified by re-reading")
        elif row.action == "add":
            if mailbox:
                row.status, row.detail = ALREADY_PRESENT, "the mailbox exists already; nothing sent" + _differs(row, mailbox)
            else:
                plan.to_add.append(row)
        elif mailbox:
            plan.to_remove.append(row)
        else:
            row.status, row.detail = NOT_FOUND, "no such mailbox; nothing sent"
    _suggest(client, [r for r in candidates if r.status == NOT_FOUND], live)
    _check_domains(client, plan, live, concurrency, dry_run)
    if dry_run:
        for row in plan.to_add + plan.to_remove:
            row.status = row.would_status
    return plan


def _differs(row: Row, mailbox: dict) -> str:
    """What the file asks that the existing mailbox does not have (the API cannot update it)."""
    notes = []
    if row.executive is not None and int(mailbox.get("executive") or 0) != row.executive:
        notes.append(f"executive is {int(mailbox.get('executive') or 0)} there, the file says {row.executive}")
    if row.realname and str(mailbox.get("realname") or "").strip() != row.realname.strip():
        notes.append(f"its name is {str(mailbox.get('realname') or '').strip()!r}, the file says {row.realname!r}")
    if not notes:
        return ""
    return f" ({'; '.join(notes)}; the API has no call to change an existing mailbox)"


def _check_domains(client: Client, plan: Plan, live: Live, concurrency: int | None, dry_run: bool) -> None:
    """Find the adds' domains in which the account has no mailbox yet: the service refuses a
    whole batch for one address in a domain the account does not own, so send() probes these."""
    by_domain: dict[str, list[Row]] = defaultdict(list)
    for row in plan.to_add:
        by_domain[domain_of(row.email_address)].append(row)
    known = {domain_of(a) for a in live.seen}
    unknown = sorted(d for d in by_domain if d not in known)
    if not unknown:
        return
    with ThreadPoolExecutor(concurrency or client.concurrency, thread_name_prefix="domain") as pool:
        in_use = dict(zip(unknown, pool.map(lambda d: domain_in_use(client, d), unknown)))
    plan.new_domains = {d for d, used in in_use.items() if not used}
    if dry_run:
        for domain in sorted(plan.new_domains):
            count = len(by_domain[domain])
            plan.warnings.append(f"The account has no mailbox in {domain} yet: if the domain is not registered for "
                                 f"the account, the service will refuse its {count} row{'s' if count != 1 else ''}.")


def _suggest(client: Client, rows: list[Row], live: Live) -> None:
    """'did you mean …?' for addresses not found: a near-typo of the name in the same domain,
    else the same name in another domain (acme.co for acme.com); nothing rather than another
    person. A walk saw every address; after searches, more searches: by the start of the name,
    and by the name itself in any domain."""
    rows = rows[:SUGGEST_AT_MOST]
    if not rows:
        return
    if live.size is None:
        locals_ = [row.key.rpartition("@")[0] for row in rows]
        probes = {local[:max(4, len(local) // 2)] for local in locals_} | {f"{local}@" for local in locals_}
        for probe in sorted(probes):
            page = client.get_page(1, search=probe)  # one page of candidates is plenty
            live.seen.update(address_key(str(m.get("email_address", ""))) for m in page.items)
    # Near-typos keep the length class and the numbers: the candidates are grouped by those.
    similar: dict[tuple, list[str]] = defaultdict(list)
    by_local: dict[str, list[str]] = defaultdict(list)
    for address in live.seen:
        local, _, domain = address.rpartition("@")
        similar[domain, len(local), _numbers(local)].append(local)
        by_local[local].append(domain)
    lines = {group: "\n".join(locals_) for group, locals_ in similar.items()}
    for row in rows:
        local, _, domain = row.key.rpartition("@")
        close = _near_typo(local, [lines.get((domain, n, _numbers(local)), "")
                                   for n in range(len(local) - 2, len(local) + 3)])
        if close:
            row.detail += f"; did you mean {close}@{domain}?"
        elif elsewhere := difflib.get_close_matches(domain, [d for d in by_local.get(local, ()) if d != domain],
                                                    n=1, cutoff=0):
            row.detail += f"; did you mean {local}@{elsewhere[0]}?"


def _numbers(local: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\d+", local))


def _near_typo(local: str, texts: list[str]) -> str | None:
    """The closest name in ``texts`` (names, one a line) a slip of the keyboard away: one edit
    (a letter wrong, missing, extra, or two swapped) for names of 4 to 7 characters, two from 8
    on, none below 4 (bob and rob are two people)."""
    limit = 0 if len(local) < 4 else 1 if len(local) < 8 else 2
    if not limit:
        return None
    # Within `limit` edits one of limit+1 pieces of the name survives intact: a sieve that
    # str.find runs over each group of names at once, instead of a Python loop over every name.
    size = len(local) // (limit + 1)
    names = set()
    for piece in {local[i * size:(i + 1) * size] for i in range(limit + 1)}:
        for text in texts:
            at = text.find(piece)
            while at >= 0:
                start, end = text.rfind("\n", 0, at) + 1, text.find("\n", at)
                names.add(text[start:end if end >= 0 else len(text)])
                at = text.find(piece, at + 1)
    found = [(distance, name) for name in names if name != local and (distance := _edits(local, name, limit)) <= limit]
    return min(found)[1] if found else None


def _edits(a: str, b: str, limit: int) -> int:
    """Edit distance with swaps of neighbours counting one (optimal string alignment); stops
    early with limit+1 once it cannot stay within ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before, row = None, list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if before is not None and i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return row[-1]


def verify(client: Client, rows: list[Row], concurrency: int | None = None, check: bool = True) -> None:
    """Turn SENT rows into added/removed where re-reading shows the change, else failed.
    A row the re-read does not show is searched for once more before it is called failed (a
    walk can miss a mailbox while others change the list). With ``check`` off (--no-verify),
    trust the service's 2xx."""
    sent = [r for r in rows if r.status == SENT]
    if not check:
        for row in sent:
            row.done(row.detail or "accepted by the service; not verified (--no-verify)")
        return
    live = read_live(client, (r.email_address for r in sent), concurrency, survey=False) if sent else Live()
    # An unsure walk vouches for no absence: search each address it did not see. A sure one
    # still gets a search for each add about to fail, before it is called failed.
    doubtful = sent if not live.complete else [r for r in sent if not r.visible_in(live.mailboxes)]
    if doubtful:
        live.complete = False
        recheck(client, live, (r.email_address for r in doubtful), concurrency)
    for row in sent:
        if row.visible_in(live.mailboxes):
            row.done(row.detail, live.mailboxes.get(row.key))
            row.detail = name_not_kept(row) or row.detail
        else:
            row.fail(f"the service accepted it, but it is {'not there' if row.action == 'add' else 'still there'} "
                     "when re-read")


def name_not_kept(row: Row) -> str:
    """A detail when the service did not store the name the file gave (it may ignore the field)."""
    if row.action != "add" or not row.realname or not row.mailbox:
        return ""
    stored = str(row.mailbox.get("realname") or "").strip()
    if stored == row.realname.strip():  # a name read whole may keep a tab or spaces at its edges
        return ""
    return f"added, but the service did not keep the name {row.realname!r} (it shows {stored!r})"
