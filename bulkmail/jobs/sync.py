"""Sync to a roster: the roster lists the addresses that SHOULD exist. Within the scope (the
domains sync manages), live mailboxes not on the roster are removed and roster addresses not
live are added; mailboxes outside the scope, or protected by --keep, are never touched.

A truncated roster must be harmless: an empty roster, one with no address in the scope, any
invalid roster row (unless --skip-invalid), or a plan removing more than --max-remove (N, or
N% of the scope; by default 10% of the scope and more than 20) is refused before anything is
sent."""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass
from pathlib import Path

from ..addresses import address_key, domain_key
from ..api.client import Client
from ..api.walk import TRIES, Walk, walk
from ..errors import InputError, Refused, ServiceError
from ..files.sheet import Sheet
from ..records import INVALID, PLANNED, Row
from .change import ImportResult, run_change
from .journal import Journal
from .live import Live, domain_of
from .options import Hooks, ImportOptions
from .rails import limit
from .validate import validate


@dataclass(frozen=True)
class SyncOptions:
    """What sync manages and how far it may go; each field is the option of the same name."""

    scope: tuple[str, ...] = ()  # default: the domains present in the roster
    keep: tuple[str, ...] = ()  # shell-style patterns, or files of addresses
    add_only: bool = False
    remove_only: bool = False
    max_remove: str | None = None  # "N" or "N%"
    allow_mass_remove: bool = False
    skip_invalid: bool = False


def keep_rules(keep: tuple[str, ...]) -> tuple[list[str], set[str]]:
    """(patterns, addresses): each --keep is a file of addresses when such a file exists."""
    patterns, addresses = [], set()
    for item in keep:
        path = Path(item)
        if path.is_file():
            addresses |= {address_key(line.strip()) for line in path.read_text(encoding="utf-8-sig").splitlines()
                          if line.strip() and "@" in line}
        else:
            patterns.append(address_key(item))
    return patterns, addresses


def roster_rows(sheet: Sheet) -> tuple[Sheet, list[Row], list[str]]:
    """The roster's rows, all to be present: an action column, if any, is ignored (with a note)."""
    notes = []
    if "action" in sheet.fields:
        notes.append(f"The roster's '{sheet.fields['action']}' column is ignored: a roster lists who should have a "
                     "mailbox.")
        sheet = dataclasses.replace(sheet, fields={k: v for k, v in sheet.fields.items() if k != "action"})
    return sheet, validate(sheet, "add"), notes


def sync(client: Client, sheet: Sheet, options: SyncOptions, importing: ImportOptions, hooks: Hooks = Hooks(), *,
         report=None, source=None, facts: dict | None = None) -> ImportResult:
    """Plan the sync and run it through the change pipeline (journal, its own rail, prompt,
    batches, verification, report), reusing the one walk of the list it made. Raises Refused
    for a roster that would change nothing, InputError for a roster that cannot be used."""
    sheet, rows, notes = roster_rows(sheet)
    valid = _usable(sheet, rows, options)
    scope = {domain_key(d.lstrip("@")) for d in options.scope} or {domain_of(r.email_address) for r in valid}
    if not any(domain_of(r.email_address) in scope for r in valid):
        raise Refused(f"No roster address is in the scope ({', '.join(sorted(scope))}). Nothing was sent.")
    state, everything = _inventory(client)
    live = {key: m for key, m in everything.items() if domain_of(key) in scope}
    resuming = importing.resume and source is not None
    _mark_roster(valid, scope, live, options, _sent_before(source, client.account_id) if resuming else set())
    extra = _live_only(live, {r.key for r in rows}, options)
    if resuming:  # removals the interrupted run made are no longer live
        extra += _removed_before(source, client.account_id, {r.row for r in extra})
    allowed, said = limit(options.max_remove, len(live))

    def rail(plan) -> None:  # the sync's own rail, counted on its scope (import's counts the account)
        removals = len(plan.to_remove)
        if removals > allowed and not options.allow_mass_remove:
            raise Refused(f"The sync would remove {removals} mailboxes, more than {said}. Nothing was sent. Check the "
                          "roster (a truncated file?); if it is right, add --allow-mass-remove or raise --max-remove.")

    seen = Live(everything, set(everything), state.mailboxes if state.complete else None, state.complete)
    return run_change(client, _with_live_rows(sheet, rows, extra), rows + extra, importing, hooks, report=report,
                      source=source, rail=rail, live=seen, notes=notes + [f"Scope: {', '.join(sorted(scope))}."],
                      facts=facts)


def _inventory(client: Client) -> tuple[Walk, dict[str, dict]]:
    """Every live mailbox by key, from a walk that vouches for the whole list: a sync removes
    what the roster does not name, so a mailbox its walk missed would be left without a word.
    A walk that stays unsure after a few tries stops the sync before anything is sent."""
    for _ in range(TRIES):
        state = Walk()
        everything = {address_key(str(m.get("email_address", ""))): m for page in walk(client, state=state)
                      for m in page.items}
        if state.complete:
            return state, everything
    raise ServiceError(f"bulkmail could not read the whole mailbox list ({'; '.join(state.uncertain)}). Nothing was "
                       "sent: a sync needs every live mailbox to know what to remove. Try again later.")


def _usable(sheet: Sheet, rows: list[Row], options: SyncOptions) -> list[Row]:
    """The roster's valid rows; a roster with invalid rows (unless --skip-invalid) or none valid is refused."""
    valid = [r for r in rows if r.status == PLANNED]
    invalid = [r for r in rows if r.status == INVALID]
    if invalid and not options.skip_invalid:
        first = invalid[0]
        raise InputError(f"{len(invalid)} roster rows are invalid (first: row {first.row}, {first.email_address!r}: "
                         f"{first.detail}). Nothing was sent: a half-read roster must not remove people. Fix them, or "
                         "pass --skip-invalid.")
    if not valid:
        raise Refused(f"The roster {sheet.where} has no usable address. Nothing was sent.")
    return valid


def _mark_roster(valid: list[Row], scope: set[str], live: dict[str, dict], options: SyncOptions,
                 sent_before: set[int]) -> None:
    """Roster rows outside the scope, or live already, need nothing. Rows an interrupted sync
    sent are live now because of it: the journal settles them (a change of this sync, logged
    once), they are not "on the roster and live"."""
    for row in valid:
        if domain_of(row.email_address) not in scope:
            row.keep("outside the scope; not touched")
        elif row.row in sent_before:
            continue
        elif row.key in live:
            row.present("on the roster and live", live[row.key])
        elif options.remove_only:
            row.keep("not live; --remove-only adds nothing")


def _live_only(live: dict[str, dict], rostered: set[str], options: SyncOptions) -> list[Row]:
    """A remove row per live mailbox in the scope that the roster does not name (kept by --keep
    or --add-only); their row numbers are negative: they have none in the roster."""
    patterns, kept_addresses = keep_rules(options.keep)
    extra = []
    for key, mailbox in sorted(live.items()):
        if key in rostered:
            continue
        row = Row(-int(mailbox["id"]), "remove", str(mailbox["email_address"]), status=PLANNED, mailbox=mailbox)
        if key in kept_addresses or any(fnmatch.fnmatchcase(key, p) for p in patterns):
            row.keep("protected by --keep")
        elif options.add_only:
            row.keep("not on the roster; --add-only removes nothing")
        extra.append(row)
    return extra


def _sent_before(source, account: str) -> set[int]:
    with Journal(source, account) as journal:
        return journal.sent_rows()


def _removed_before(source, account: str, known: set[int]) -> list[Row]:
    """The live rows an interrupted sync recorded that are no longer live (it removed them):
    the resumed run reports them too, and re-reading settles them."""
    with Journal(source, account) as journal:
        return [row for row in journal.live_rows() if row.row not in known]


def _with_live_rows(sheet: Sheet, rows: list[Row], extra: list[Row]) -> Sheet:
    """The roster's sheet with a `source` column: `roster` for its rows, `live` for a live
    mailbox not on it (whose other cells are empty but its address)."""
    columns = sheet.columns
    address = columns.index(sheet.fields["email_address"])
    for row in rows:
        row.cells = (*row.cells, "roster")
    for row in extra:
        row.cells = tuple(row.email_address if i == address else "" for i in range(len(columns))) + ("live",)
    return sheet.with_column("source", "roster")
