"""Offline checks, row by row: action, address syntax (no DNS), executive flag, domains,
repeats and contradictions within the file. Never touches the network."""

from __future__ import annotations

import functools
import itertools
import re
from typing import Iterable, NamedTuple


from ..addresses import address_key, domain_key, same_name
from ..errors import InputError
from ..records import PLANNED, Row
from ..files.sheet import Sheet

ACTIONS = {"add", "remove"}
TRUE = {"1", "yes", "true", "y"}
FALSE = {"0", "no", "false", "n", ""}
# A plain ASCII address that email-validator surely accepts: the fast path for the usual case.
# It only ever says yes; anything it does not match goes to email-validator, the authority.
_ATOM = r"[A-Za-z0-9_%+'-]+"
# a label; not one with "--" as its third and fourth characters (IDNA's xn-- and its reserved
# look-alikes, which email-validator checks as punycode or refuses)
_LABEL = r"(?![A-Za-z0-9]{2}--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# email-validator's special-use names (its SPECIAL_USE_DOMAIN_NAMES; a test keeps them the same):
# top-level names, which the pattern leaves to email-validator. Named here so that a file of
# plain addresses never imports email-validator (its import costs more than checking 50k rows).
SPECIAL_USE_DOMAIN_NAMES = ("arpa", "invalid", "local", "localhost", "onion", "test")
_SPECIAL = "|".join(map(re.escape, SPECIAL_USE_DOMAIN_NAMES))
FAST_ADDRESS = re.compile(rf"(?=.{{1,254}}$)(?=.{{1,64}}@){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+"
                          rf"(?!(?i:{_SPECIAL})$)[A-Za-z]{{2,24}}")


@functools.lru_cache(maxsize=65536)
def address_problem(address: str) -> str:
    """Why email-validator refuses this address ('' when it is fine). Syntax only, no DNS."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return ""


def fast_ok(addresses: list[str]) -> list[bool]:
    """True where the fast pattern vouches for an address; False means 'ask email-validator'."""
    return [found is not None for found in map(FAST_ADDRESS.fullmatch, addresses)]


def _normalised(column: list[str], normalise) -> list[str]:
    """Normalise each distinct value once; rows then share those few strings instead of each
    holding its own copy (a million rows of 'add' would otherwise be a million strings)."""
    values = {value: normalise(value) for value in set(column)}
    return list(map(values.__getitem__, column))


def _has_nul(sheet: Sheet, skip: str | None) -> list[bool]:
    """Which rows hold a NUL in a cell other than column ``skip``."""
    checked = [at for at, header in enumerate(sheet.columns) if header != skip and header in sheet.nul_columns]
    if not checked:
        return [False] * len(sheet)  # the usual file (the reader looked)
    return [any("\x00" in cells[at] for at in checked) for cells in sheet.cells]


class Cells(NamedTuple):
    """One data row's cells as the rules see them (normalised, and the vectorised verdicts)."""

    address: str
    action: str
    flag: str  # the executive cell, lower-cased
    has_nul: bool
    vouched: bool  # the fast pattern vouches for the address
    allowed: frozenset[str]  # --domain, as keys (lower-cased ASCII, see addresses.domain_key)
    allowed_said: str = ""  # --domain as typed, for the message


# The rules, in order: each returns why the row cannot be used, or "" when it can.

def no_nul(cells: Cells) -> str:
    return "the row contains a NUL character; retype it" if cells.has_nul else ""


def known_action(cells: Cells) -> str:
    if cells.action in ACTIONS:
        return ""
    return f"unknown action {cells.action!r}: use add or remove" if cells.action else "action is empty: use add or remove"


def has_address(cells: Cells) -> str:
    return "" if cells.address else "email address is empty"


def valid_address(cells: Cells) -> str:
    if cells.vouched:
        return ""
    found = address_problem(cells.address)
    return f"invalid email address {cells.address!r}: {found}" if found else ""


def allowed_domain(cells: Cells) -> str:
    domain = cells.address.rpartition("@")[2]
    if not cells.allowed or domain_key(domain) in cells.allowed:
        return ""
    return f"domain {domain} is not among --domain {cells.allowed_said}"


def executive_flag(cells: Cells) -> str:
    if cells.action != "add" or cells.flag in TRUE or cells.flag in FALSE:
        return ""
    return f"executive must be 1/0, yes/no, true/false or y/n, not {cells.flag!r}"


RULES = (no_nul, known_action, has_address, valid_address, allowed_domain, executive_flag)
# The (action, executive cell) pairs of a row no rule can refuse once its address is vouched for
# and it holds no NUL (without --domain), and the executive flag each sends: validate() skips
# the rules for them.
PLAIN = {**{("remove", flag): None for flag in TRUE | FALSE},
         **{("add", flag): int(flag in TRUE) if flag else None for flag in TRUE | FALSE}}
RULED = object()  # a row the rules must look at


def validate(sheet: Sheet, action: str | None = None, domains: Iterable[str] = ()) -> list[Row]:
    """One Row per data row, in order: status PLANNED when it passed, else INVALID or DUPLICATE
    with a detail. ``action`` fills rows without one (files with no action column)."""
    fields, domains = sheet.fields, tuple(domains)
    if "action" not in fields and action is None:
        raise InputError(f"{sheet.where} has no action column (headers: {', '.join(sheet.columns)}). "
                         "Add an 'action' column (add or remove), or pass --action add or --action remove.")
    blank = [""] * len(sheet)
    addresses = sheet.column(fields["email_address"])
    if "action" in fields:
        actions = _normalised(sheet.column(fields["action"]), lambda v: re.sub(r"\s+", "", v.lower()) or action or "")
    else:
        actions = [action] * len(sheet)
    flags = _normalised(sheet.column(fields["executive"]), str.lower) if "executive" in fields else blank
    names = sheet.column(fields["realname"]) if "realname" in fields else blank
    # Once for the whole file: the NUL check and the fast address pattern. A name may hold a NUL:
    # the service kept it, and an undo file brings it back exactly as it was.
    has_nul = _has_nul(sheet, fields.get("realname"))
    vouched = fast_ok(addresses)
    plain = PLAIN if not domains else {}
    executives = list(map(plain.get, zip(actions, flags), itertools.repeat(RULED)))
    # Every row as the usual row (every rule passes), then the rules for the rows that need them.
    rows = [Row(number, act, address, executive if executive is not RULED else None, name, PLANNED, cells=cells_in)
            for number, address, act, name, cells_in, executive in zip(
                sheet.numbers, addresses, actions, names, sheet.cells, executives)]
    ruled = [at for at, (quick, nul, executive) in enumerate(zip(vouched, has_nul, executives))
             if not quick or nul or executive is RULED]
    _rule(sheet, [(rows[at], flags[at], has_nul[at], vouched[at]) for at in ruled], domains)
    _mark_repeats(rows, addresses)
    return rows


def _rule(sheet: Sheet, ruled: list[tuple[Row, str, bool, bool]], domains: Iterable[str]) -> None:
    """The rules for the rows that need them: (row, its executive cell, holds a NUL, vouched)."""
    allowed = frozenset(domain_key(d.lstrip("@")) for d in domains)
    allowed_said = ", ".join(sorted({d.lower().lstrip("@") for d in domains}))
    # An address cell that reads empty for a reason the reader knows (a formula without a saved
    # value, a merged cell) says that reason instead.
    address = sheet.fields["email_address"]
    why_empty = {row: reason for (row, header), reason in sheet.blank_cells.items() if header == address}
    for row, flag, nul, quick in ruled:
        cells = Cells(row.email_address, row.action, flag, nul, quick, allowed, allowed_said)
        problem = next((found for rule in RULES if (found := rule(cells))), "")
        if problem:
            if row.row in why_empty and problem == has_address(cells):
                problem = f"email address is empty: {why_empty[row.row]}"
            row.invalid(problem)
        elif row.action == "add" and flag:
            row.executive = int(flag in TRUE)


def _mark_repeats(rows: list[Row], addresses: list[str]) -> None:
    """The same action and address again -> duplicate, or invalid when a repeated add carries
    other data (only one of the two can be sent); add and remove of one address -> invalid."""
    keys = _keys(addresses)
    if len(set(keys)) == len(keys):
        return  # no address twice (the usual file): nothing to look at row by row
    first: dict[str, dict[str, Row]] = {"add": {}, "remove": {}}
    for key, row in zip(keys, rows):
        if row.status != PLANNED:
            continue
        earlier = first[row.action].setdefault(key, row)
        if earlier is row:
            continue
        if other := _other_data(earlier, row):
            row.invalid(other)
        else:
            row.duplicate(f"same as row {earlier.row}")
    adds, removes = first["add"], first["remove"]
    for key in adds.keys() & removes.keys():
        add, remove = adds[key], removes[key]
        add.invalid(f"row {remove.row} removes the same address; keep one of the two rows")
        remove.invalid(f"row {add.row} adds the same address; keep one of the two rows")


def _keys(addresses: list[str]) -> list[str]:
    """Each address's key (addresses.address_key): a file of plain lower-case ASCII addresses,
    the usual one, is its own keys, seen in one look at the whole column."""
    for start in range(0, len(addresses), 65536):  # a part at a time: no second copy of the column
        joined = "\n".join(addresses[start:start + 65536])
        if not (joined.isascii() and joined == joined.lower()):
            return list(map(address_key, addresses))
    return addresses


def _other_data(earlier: Row, row: Row) -> str:
    """Why a repeated add cannot be a mere duplicate: the data it would send differs ('' if not)."""
    if row.action != "add":
        return ""  # a remove sends only the address
    fields = [("executive", earlier.executive or 0, row.executive or 0),  # blank is sent as 0
              ("realname", same_name(earlier.realname), same_name(row.realname))]
    differ = [(name, old, new) for name, old, new in fields if old != new]
    if not differ:
        return ""

    def said(index: int) -> str:
        return " and ".join(f"{name} {values[index]!r}" if name == "realname" else f"{name} {values[index]}"
                            for name, *values in differ)

    return f"row {earlier.row} adds the same address with {said(0)}, this row with {said(1)}; keep one of the two rows"
