"""Offline checks, row by row: action, address syntax (no DNS), executive flag, domains,
repeats and contradictions within the file. Never touches the network."""

from __future__ import annotations

import functools
import re
from typing import Iterable

import pandas as pd
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from .errors import InputError
from .records import DUPLICATE, INVALID, PLANNED, Row
from .table import Sheet

ACTIONS = {"add", "remove"}
TRUE = {"1", "yes", "true", "y"}
FALSE = {"0", "no", "false", "n", ""}
# A plain ASCII address that email-validator surely accepts: the fast path for the usual case.
# It only ever says yes; anything it does not match goes to email-validator, the authority.
_ATOM = r"[A-Za-z0-9_%+'-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
FAST_ADDRESS = re.compile(rf"(?=.{{1,64}}@){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,24}}")
_SPECIAL_DOMAIN = re.compile(r"[@.](?:%s)$" % "|".join(map(re.escape, SPECIAL_USE_DOMAIN_NAMES)))


@functools.lru_cache(maxsize=65536)
def address_problem(address: str) -> str:
    """Why email-validator refuses this address ('' when it is fine). Syntax only, no DNS."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return ""


def fast_ok(addresses: pd.Series) -> pd.Series:
    """True where the fast pattern vouches for an address; False means 'ask email-validator'."""
    ok = addresses.str.fullmatch(FAST_ADDRESS.pattern).fillna(False).astype(bool)
    ok &= addresses.str.len() <= 254
    special = addresses.str.contains(_SPECIAL_DOMAIN.pattern, case=False, regex=True).fillna(False).astype(bool)
    return ok & ~special


def _normalised(column: pd.Series, normalise) -> list[str]:
    """Normalise each distinct value once; rows then share those few strings instead of each
    holding its own copy (a million rows of 'add' would otherwise be a million strings)."""
    codes, uniques = pd.factorize(column)
    values = [normalise(u) for u in uniques]
    return [values[c] for c in codes]


def validate(sheet: Sheet, action: str | None = None, domains: Iterable[str] = ()) -> list[Row]:
    """One Row per data row, in order: status PLANNED when it passed, else INVALID or DUPLICATE
    with a detail. ``action`` fills rows without one (files with no action column)."""
    frame, fields = sheet.frame, sheet.fields
    if "action" not in fields and action is None:
        raise InputError(f"{sheet.where} has no action column (headers: {', '.join(frame.columns)}). "
                         "Add an 'action' column (add or remove), or pass --action add or --action remove.")
    index = frame.index
    addresses = frame[fields["email_address"]]
    if "action" in fields:
        actions = _normalised(frame[fields["action"]], lambda v: re.sub(r"\s+", "", v.lower()) or action or "")
    else:
        actions = [action] * len(frame)
    executive = _normalised(frame[fields["executive"]], str.lower) if "executive" in fields else [""] * len(frame)
    names = frame[fields["realname"]] if "realname" in fields else [""] * len(frame)
    has_nul = frame.apply(lambda column: column.str.contains("\x00", regex=False)).any(axis=1)
    fast = fast_ok(addresses)
    allowed = {d.lower().lstrip("@") for d in domains}

    rows: list[Row] = []
    for number, address, act, flag, name, nul, quick in zip(index, addresses, actions, executive, names, has_nul,
                                                             fast):
        row = Row(int(number), act, address, status=PLANNED, realname=name)
        rows.append(row)
        problem = ""
        if nul:
            problem = "the row contains a NUL character; retype it"
        elif act not in ACTIONS:
            problem = f"unknown action {act!r}: use add or remove" if act else "action is empty: use add or remove"
        elif not address:
            problem = "email address is empty"
        elif not quick and (found := address_problem(address)):
            problem = f"invalid email address {address!r}: {found}"
        elif allowed and address.rpartition("@")[2].lower() not in allowed:
            problem = f"domain {address.rpartition('@')[2]} is not among --domain {', '.join(sorted(allowed))}"
        elif act == "add" and flag not in TRUE and flag not in FALSE:
            problem = f"executive must be 1/0, yes/no, true/false or y/n, not {flag!r}"
        if problem:
            row.status, row.detail = INVALID, problem
        elif act == "add" and flag:
            row.executive = int(flag in TRUE)
    _mark_repeats(rows)
    return rows


def _mark_repeats(rows: list[Row]) -> None:
    """The same action and address again -> duplicate; add and remove of one address -> invalid."""
    first: dict[str, dict[str, Row]] = {"add": {}, "remove": {}}
    for row in rows:
        if row.status != PLANNED:
            continue
        address = row.email_address
        key = address if address.islower() else address.lower()  # most are: no new string then
        seen = first[row.action]
        if key in seen:
            row.status, row.detail = DUPLICATE, f"same as row {seen[key].row}"
        else:
            seen[key] = row
    adds, removes = first["add"], first["remove"]
    for key in adds.keys() & removes.keys():
        add, remove = adds[key], removes[key]
        add.status, add.detail = INVALID, f"row {remove.row} removes the same address; keep one of the two rows"
        remove.status, remove.detail = INVALID, f"row {add.row} adds the same address; keep one of the two rows"
