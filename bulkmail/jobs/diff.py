"""Compare two inventories (exports, a PowerShell/M365 export, or the live service): which
mailboxes appeared, disappeared or changed (executive flag, name)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from ..addresses import address_key, same_name
from ..api.client import Client
from ..api.walk import walk
from ..files.reading import BLANKS, read_table
from .validate import FALSE, TRUE
from ..files.cells import FORMULA_START

APPEARED, DISAPPEARED, CHANGED = "appeared", "disappeared", "changed"
COLUMNS = ["status", "email_address", "executive_old", "executive_new", "realname_old", "realname_new", "id_old",
           "id_new"]
IMPORT_COLUMNS = ["action", "email_address", "executive", "realname"]


@dataclass
class Snapshot:
    """One inventory: mailboxes by lower-cased address, as email_address, executive, realname, id."""

    where: str
    mailboxes: dict[str, dict] = field(default_factory=dict)
    has_executive: bool = True
    has_realname: bool = True


def _flag(value) -> int | None:
    """The executive flag as 0/1, whatever type the service or a spreadsheet gave it (0, "0",
    1.0, True, "yes"); None when unknown (a blank cell, a null)."""
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, (int, float)):
        return int(value != 0)
    text = str(value).strip(BLANKS).lower()
    if text in TRUE or text in FALSE:
        return None if text == "" else int(text in TRUE)
    try:
        return int(float(text) != 0)
    except ValueError:
        return 0


def _name(value) -> str:
    """The name as compared: a null and a single space (what the service sends for "no name")
    are both "", and the apostrophe bulkmail puts before a formula-like CSV cell is not part
    of the name."""
    text = "" if value is None else str(value)
    if text[:1] == "'" and text[1:2] in FORMULA_START:
        text = text[1:]
    return text.strip(BLANKS)


def _id(value) -> str:
    """An id as text, 12182348 whether it came as 12182348, "12182348" or 12182348.0."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else str(value).strip(BLANKS)
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def read_snapshot(path: str | os.PathLike) -> Snapshot:
    """An export file (bulkmail's, or any with a recognised address column)."""
    sheet = read_table(path, hidden_rows=True)  # an inventory is all its rows, filtered or not
    fields = sheet.fields
    snapshot = Snapshot(sheet.where, has_executive="executive" in fields, has_realname="realname" in fields)
    blank = [""] * len(sheet)
    ids = sheet.column("id") if "id" in sheet.columns else blank
    executive = sheet.column(fields["executive"]) if "executive" in fields else blank
    names = sheet.column(fields["realname"]) if "realname" in fields else blank
    for address, flag, name, mailbox_id in zip(sheet.column(fields["email_address"]), executive, names, ids):
        if address:
            snapshot.mailboxes[address_key(address)] = {"email_address": address, "executive": _flag(flag),
                                                   "realname": _name(name), "id": _id(mailbox_id)}
    return snapshot


def live_snapshot(client: Client, concurrency: int | None = None) -> Snapshot:
    """The service now, read in one walk."""
    snapshot = Snapshot(f"the live service ({client.base_url}, account {client.account_id})")
    for page in walk(client, concurrency=concurrency):
        for mailbox in page.items:
            address = str(mailbox.get("email_address", ""))
            snapshot.mailboxes[address_key(address)] = {
                "email_address": address, "executive": _flag(mailbox.get("executive")),
                "realname": _name(mailbox.get("realname")), "id": _id(mailbox.get("id"))}
    return snapshot


def compare(old: Snapshot, new: Snapshot) -> list[dict]:
    """One line per address that appeared, disappeared or changed, by address; the executive
    flag and the name are compared only where both sides have the column."""
    lines = []
    flags, names = old.has_executive and new.has_executive, old.has_realname and new.has_realname
    for key in sorted(old.mailboxes.keys() | new.mailboxes.keys()):
        before, after = old.mailboxes.get(key), new.mailboxes.get(key)
        if before and after:
            differs = ((flags and before["executive"] != after["executive"])
                       or (names and same_name(before["realname"]) != same_name(after["realname"])))
            if not differs:
                continue
            status = CHANGED
        else:
            status = APPEARED if after else DISAPPEARED
        before, after = before or {}, after or {}
        lines.append({"status": status, "email_address": (after or before)["email_address"],
                      "executive_old": before.get("executive", ""), "executive_new": after.get("executive", ""),
                      "realname_old": before.get("realname", ""), "realname_new": after.get("realname", ""),
                      "id_old": before.get("id", ""), "id_new": after.get("id", "")})
    return lines


def counts(lines: list[dict]) -> Counter:
    return Counter(line["status"] for line in lines)


def as_import(lines: list[dict]) -> list[dict]:
    """The import rows that turn NEW back into OLD: appeared -> remove, disappeared -> add (with
    the old flag and name). A changed mailbox cannot be turned back: the API has no update call."""
    rows = []
    for line in lines:
        if line["status"] == APPEARED:
            rows.append({"action": "remove", "email_address": line["email_address"], "executive": "", "realname": ""})
        elif line["status"] == DISAPPEARED:
            flag = line["executive_old"]
            rows.append({"action": "add", "email_address": line["email_address"],
                         "executive": "" if flag in ("", None) else ("yes" if flag else "no"),
                         "realname": line["realname_old"]})
    return rows
