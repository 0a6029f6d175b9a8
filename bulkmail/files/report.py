"""Rows -> the results report (one line per input data row, in input order) and the counts."""

from __future__ import annotations

import os
from collections import Counter
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Callable, Iterator

from ..errors import ExitStatus
from .fields import REPORT_COLUMNS, REPORT_MORE_COLUMNS
from ..progress import Tracker, Watch
from ..records import ENDED_WELL, NO_OPS, QUIET, STATUSES, Row, Status
from .sheet import Sheet
from .writing import Style, write_table

FIRST_COLUMNS, MORE_COLUMNS = REPORT_COLUMNS, REPORT_MORE_COLUMNS
GREEN, PALE_GREEN, RED, GREY, AMBER, PALE_GREY = "C6EFCE", "E2F0D9", "FFC7CE", "D9D9D9", "FFEB9C", "EDEDED"
# Nothing was changed for these rows, and a typo looks just like them: colours of their own.
ORANGE, BLUE = "F8CBAD", "BDD7EE"
FILLS = {Status.ADDED: GREEN, Status.REMOVED: GREEN, Status.ALREADY_PRESENT: BLUE, Status.NOT_FOUND: ORANGE,
         Status.WOULD_ADD: PALE_GREEN, Status.WOULD_REMOVE: PALE_GREEN, Status.VALID: PALE_GREEN,
         Status.DUPLICATE: AMBER, Status.INVALID: RED, Status.FAILED: RED, Status.NOT_ATTEMPTED: GREY,
         Status.KEPT: PALE_GREY}


def counts(rows: list[Row]) -> Counter:
    return Counter(row.status for row in rows)


def exit_status(tally: Counter, strict: bool = False) -> ExitStatus:
    """0 when every row ended well, else 1 (the CLI raises it to 3/4/130 for a stopped run).
    ``strict``: already_present and not_found rows count as problems too."""
    good = ENDED_WELL - NO_OPS if strict else ENDED_WELL
    return ExitStatus.OK if set(tally) <= good else ExitStatus.ROWS_FAILED


def problems(rows: list[Row]) -> list[Row]:
    """The rows a person should look at: everything but the changes (and validate's valid)."""
    return [row for row in rows if row.status not in QUIET]


def report_columns(sheet: Sheet) -> tuple[list[str], dict[str, str]]:
    """The report's columns and, for the input's own ones, the name each gets. The input's action
    and address columns are not repeated (the first columns carry them); an input column named
    like one of ours gets ' (input)' — unless the input is itself a report, whose own columns
    are regenerated, not carried."""
    ours = FIRST_COLUMNS + MORE_COLUMNS
    skip = {sheet.fields.get("action"), sheet.fields["email_address"]}
    if sheet.from_report:
        skip |= set(ours)
    renamed = {c: (f"{c} (input)" if c in ours else c) for c in sheet.columns if c not in skip}
    return ours + list(renamed.values()), renamed


def report_rows(sheet: Sheet, rows: list[Row], told: Callable[[int], None] | None = None) -> Iterator[tuple]:
    """Each row's report line, its cells in report_columns' order: its outcome, then its own
    input cells as they were read. Made a column at a time for a thousand rows at a time (a
    million rows: a few C loops per column instead of a Python loop per row); ``told(n)``
    after each thousand (progress per row cost more than the row)."""
    _, renamed = report_columns(sheet)
    columns = sheet.columns
    where = [columns.index(c) for c in renamed]
    for start in range(0, len(rows), 1000):
        part = rows[start:start + 1000]
        mailboxes = [row.mailbox or _NO_MAILBOX for row in part]
        # a live mailbox that sync removes or keeps has no row of the roster: its row stays empty
        numbers = [number if number > 0 else "" for number in map(_ROW, part)]
        ours = [numbers, list(map(_ACTION, part)), list(map(_ADDRESS, part)), list(map(_STATUS, part)),
                list(map(_DETAIL, part)), [m.get("id", "") for m in mailboxes],
                [m.get("email_address_id", "") for m in mailboxes], [v or "" for v in map(_BATCH, part)],
                [v or "" for v in map(_HTTP, part)], [v or "" for v in map(_ATTEMPTS, part)]]
        cells = list(map(_CELLS, part))
        whole = set(map(len, cells)) == {len(columns)}  # else some rows have no (or fewer) input cells
        own = [list(map(itemgetter(i), cells)) if whole else [c[i] if i < len(c) else "" for c in cells]
               for i in where]
        yield from zip(*ours, *own)
        if told is not None:
            told(len(part))


_NO_MAILBOX: dict = {}
_ROW, _ACTION, _ADDRESS, _STATUS, _DETAIL, _BATCH, _HTTP, _ATTEMPTS, _CELLS = map(
    attrgetter, ("row", "action", "email_address", "status", "detail", "batch", "http_status", "attempts", "cells"))


def write_report(path: str | os.PathLike, sheet: Sheet, rows: list[Row], summary: list[tuple[str, object]] = (),
                 watch: Watch | None = None) -> Path:
    """Write the report as .csv or .xlsx (coloured statuses, frozen header, filter, a Summary
    sheet), telling ``watch`` how far it got."""
    columns, _ = report_columns(sheet)
    tally = counts(rows)
    notes = [("reading", notice) for notice in sheet.notices]  # said before anything was sent, kept here
    lines = [("input", sheet.where), *notes, *summary] + [(s.value, tally[s]) for s in STATUSES if tally[s]]
    style = Style(fill_column="status", fills={s.value: rgb for s, rgb in FILLS.items()}, summary=lines,
                  sheet_title="Results")
    with Tracker(watch, "Writing the report", len(rows)) as bar:
        write_table(path, columns, report_rows(sheet, rows, bar.update), style)
    return Path(path)
