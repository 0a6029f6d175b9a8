"""Rows + the live state -> what to send: the plan, its warnings, "did you mean" for what is
not found."""

from __future__ import annotations

import difflib
import logging
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..addresses import address_key, same_name
from ..api.client import Client
from ..records import NOT_FOUND, PLANNED, Row
from .live import Live, domain_in_use, domain_of, read_live, recheck

log = logging.getLogger("bulkmail")
# "Did you mean …?" is worked out for this many not_found rows at most (the terminal shows ten).
SUGGEST_AT_MOST = 200


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


def make_plan(client: Client, rows: list[Row], concurrency: int | None = None, dry_run: bool = False,
              live: Live | None = None) -> Plan:
    """Classify the rows that passed validation against the live state (``live``: a read the
    caller made already, e.g. sync's walk of the whole list)."""
    candidates = [r for r in rows if r.status == PLANNED]
    if live is None:
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
                row.present("the mailbox exists already; nothing sent" + _differs(row, mailbox))
            else:
                plan.to_add.append(row)
        elif mailbox:
            plan.to_remove.append(row)
        else:
            row.missing("no such mailbox; nothing sent")
    _suggest(client, [r for r in candidates if r.status == NOT_FOUND], live)
    _check_domains(client, plan, live, concurrency, dry_run)
    if dry_run:
        for row in plan.to_add + plan.to_remove:
            row.would()
    return plan


def _differs(row: Row, mailbox: dict) -> str:
    """What the file asks that the existing mailbox does not have (the API cannot update it)."""
    notes = []
    if row.executive is not None and int(mailbox.get("executive") or 0) != row.executive:
        notes.append(f"executive is {int(mailbox.get('executive') or 0)} there, the file says {row.executive}")
    if row.realname and same_name(str(mailbox.get("realname") or "")) != same_name(row.realname):
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
    person, and nothing when two candidates are as close. A walk saw every address; after
    searches, more searches: by the start of the name, and by the name itself in any domain."""
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
        elif elsewhere := _closest_domain(domain, [d for d in by_local.get(local, ()) if d != domain]):
            row.detail += f"; did you mean {local}@{elsewhere}?"


def _closest_domain(domain: str, others: list[str]) -> str | None:
    """The other domain most like ``domain``; None when none is, or two are as like it."""
    scored = sorted(((difflib.SequenceMatcher(None, domain, other).ratio(), other) for other in others), reverse=True)
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]


def _numbers(local: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\d+", local))


def _near_typo(local: str, texts: list[str]) -> str | None:
    """The one name in ``texts`` (names, one a line) a slip of the keyboard away (see _slips):
    one slip for names of 4 to 7 characters, two from 8 on, none below 4 (bob and rob are two
    people); None when two names are as close."""
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
    found = sorted((slips, name) for name in names if name != local and (slips := _slips(local, name, limit)) <= limit)
    if not found or (len(found) > 1 and found[0][0] == found[1][0]):
        return None  # mario is as close to maria as to marie: neither is the one meant
    return found[0][1]


# The keys a finger hits instead of a key on a QWERTY keyboard: its neighbours in its row and
# in the rows above and below (which are set off by half a key).
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
NEIGHBOURS = {key: set(keys[max(i - 1, 0):i + 2] + (_KEYBOARD[r - 1][i:i + 2] if r else "")
                       + (_KEYBOARD[r + 1][max(i - 1, 0):i + 1] if r < 2 else "")) - {key}
              for r, keys in enumerate(_KEYBOARD) for i, key in enumerate(keys)}
_LETTERS = re.compile(r"([^\W\d_]+)")


def _slips(typed: str, name: str, limit: int) -> int:
    """How many slips of the keyboard turn ``name`` into ``typed``: two neighbours swapped, a
    letter doubled or dropped, a key hit for its neighbour. Only within the words of the name
    (the dots, numbers and other marks between them stay), never in a one-letter word (an
    initial: b.smith is not a.smith). limit+1 when more are needed, or another kind of edit
    (christine is not christina: e and a are no neighbours)."""
    words, others = _LETTERS.split(typed), _LETTERS.split(name)
    if len(words) != len(others) or words[0::2] != others[0::2]:
        return limit + 1
    total = 0
    for word, other in zip(words[1::2], others[1::2]):
        if word != other:
            if len(word) == 1 or len(other) == 1:
                return limit + 1
            total += _word_slips(word, other, limit - total)
            if total > limit:
                return limit + 1
    return total


def _word_slips(typed: str, word: str, limit: int) -> int:
    """_slips within one word: an alignment in which every edit is one of the four slips; stops
    early with limit+1 once it cannot stay within ``limit``."""
    if abs(len(typed) - len(word)) > limit:
        return limit + 1
    far = limit + 1
    before, row = None, list(range(len(word) + 1))  # typed[:0] against word[:j]: j letters dropped
    for i, x in enumerate(typed, 1):
        doubled = (i > 1 and typed[i - 2] == x) or (i < len(typed) and typed[i] == x)
        current = [row[0] + 1 if doubled else far] + [far] * len(word)
        for j, y in enumerate(word, 1):
            best = row[j - 1] + (0 if x == y else 1 if x in NEIGHBOURS.get(y, ()) else far)
            best = min(best, current[j - 1] + 1)  # a letter of the word dropped
            if doubled:
                best = min(best, row[j] + 1)  # a letter typed twice
            if before is not None and j > 1 and x == word[j - 2] and typed[i - 2] == y and x != y:
                best = min(best, before[j - 2] + 1)  # two neighbours swapped
            current[j] = min(best, far)
        if min(current) > limit:
            return far
        before, row = row, current
    return row[-1]
