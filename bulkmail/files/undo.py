"""Undo files: an import file that reverts a run. Removed mailboxes come back as `add` rows
with the executive flag and name read before removal; added ones go as `remove` rows
(jobs/revert.py applies one by the run's id)."""

from __future__ import annotations

import os
from pathlib import Path

from ..records import ADDED, REMOVED, Row
from ..words import plural
from .cells import SURROGATE
from .writing import write_table

COLUMNS = ["action", "email_address", "executive", "realname"]
# What a removal loses for good: what the console keeps for a mailbox outside this API (its
# Mailboxes page), and is_ad_mailbox, which the list shows but the add call cannot set.
CANNOT_COME_BACK = ("aliases, groups, name variants and exec-tracking settings kept by the console outside this API "
                    "are lost, and is_ad_mailbox comes back 0 (the add call cannot set it); only the address, the "
                    "executive flag and the name come back")


def undo_path(report: str | os.PathLike) -> Path:
    """<report-stem>-undo.csv beside the report."""
    report = Path(report)
    return report.with_name(f"{report.stem}-undo.csv")


def undo_rows(rows: list[Row]) -> list[list[str]]:
    """The import rows that revert these rows' changes, in the run's order, their cells in COLUMNS' order."""
    lines = []
    for row in rows:
        if row.status == REMOVED:
            mailbox = row.mailbox or {}
            # the address as the service held it, not as typed (mixed.case@ACME.COM, an IDN's other form)
            lines.append(["add", str(mailbox.get("email_address") or row.email_address),
                          "yes" if int(mailbox.get("executive") or 0) else "no",
                          str(mailbox.get("realname") or "")])  # exactly: the files round-trip it
        elif row.status == ADDED:
            lines.append(["remove", row.email_address, "", ""])
    return lines


def cannot_come_back(rows: list[Row]) -> str:
    """CANNOT_COME_BACK, and which removed mailboxes' names come back altered: a name with a
    lone surrogate (which the service can send) is written with U+FFFD in its place."""
    altered = [row.email_address for row in rows
               if row.status == REMOVED and SURROGATE.search(str((row.mailbox or {}).get("realname") or ""))]
    if not altered:
        return CANNOT_COME_BACK
    listed = ", ".join(altered[:5]) + (", …" if len(altered) > 5 else "")
    return (f"{CANNOT_COME_BACK}; {plural(len(altered), 'name')} ({listed}) held characters that no file can carry "
            "(lone surrogates) and come back with U+FFFD (\ufffd) in their place")


def write_undo(path: str | os.PathLike, rows: list[Row]) -> Path | None:
    """Write the undo file when the run changed something; None when it changed nothing."""
    lines = undo_rows(rows)
    if not lines:
        return None
    write_table(path, COLUMNS, lines)
    return Path(path)
