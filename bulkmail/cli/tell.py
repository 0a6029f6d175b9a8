"""Telling a run's result on the terminal: what was read, the counts, the rows to look at,
warnings, the report and undo file; and the --json facts."""

from __future__ import annotations

import logging

from ..records import NOT_ATTEMPTED
from ..words import plural, printable
from .context import echo, record, say
from .session import tally_line

log = logging.getLogger("bulkmail")


# The terminal lists this many rows to look at; the report has them all.
SHOW_PROBLEMS = 10


def report_reading(table, count: int) -> None:
    """What was read; the reader's notices (another sheet or column chosen, hidden rows, formulas
    without values, merged cells) are said always, the rest of the detection with -v."""
    log.info("read %s: %s", table.where, ", ".join(table.notes))
    say(f"Read {plural(count, 'row')} from {table.where}.")
    for notice in table.notices:
        say(notice)


def record_result(result, quiet=()) -> None:
    """An import's or a validation's facts for --json: counts, files, input, first problems (not
    the rows whose status is in ``quiet``, as on the terminal)."""
    from ..files.report import problems

    record(counts={str(status): count for status, count in result.counts.items()},
           report=str(result.report) if result.report else None,
           undo=str(result.undo) if getattr(result, "undo", None) else None,
           plan=str(result.plan_file) if getattr(result, "plan_file", None) else None,
           input=result.input,
           problems=[{"row": r.row, "email_address": r.email_address, "status": str(r.status), "detail": r.detail}
                     for r in problems(result.rows) if r.status not in quiet][:20])
    stopped = getattr(result, "stopped", None) or getattr(result, "refused", None)
    if stopped is not None:
        record(error=str(stopped))


def tell_run(result, quiet=()) -> None:
    """After an import, apply or sync: its notes and errors, the plan it wrote (--plan-out),
    the results, and the --json facts."""
    for note in result.notes:
        say(note)
    if result.stopped is not None:
        echo(f"Error: {result.stopped}")
    if result.refused is not None:
        echo(f"Warning: the real run would be refused: {result.refused}")
    if result.plan_file is not None:
        say(f"Plan: {result.plan_file} (review it with the report; then: bulkmail apply {result.plan_file})")
    print_results(result, quiet)
    record_result(result, quiet)


def print_results(result, quiet=()) -> None:
    """The counts, the first rows to look at (not those whose status is in ``quiet``),
    warnings, and where the report is."""
    from ..files.report import problems

    say(f"Results: {tally_line(result.counts)}")
    look = [row for row in problems(result.rows) if row.status not in quiet]
    if getattr(result, "stopped", None) is not None:  # the error says why these were not sent, once
        look = [row for row in look if row.status != NOT_ATTEMPTED]
    if look:
        say("Rows to look at:")
        for row in look[:SHOW_PROBLEMS]:
            where = f"row {row.row}" if row.row > 0 else "live"  # sync's live mailboxes have no roster row
            say(f"  {where}  {printable(row.email_address) or '(no address)'}  {row.status}  {printable(row.detail)}")
        if len(look) > SHOW_PROBLEMS:
            say(f"  and {len(look) - SHOW_PROBLEMS} more — see the report")
    for warning in result.warnings:
        echo(f"Warning: {warning}")
    if getattr(result, "undo", None):
        from ..files.undo import CANNOT_COME_BACK

        removed = result.counts.get("removed")
        what = plural(removed or 0, "removed mailbox", "removed mailboxes")
        lost = f"; for the {what}, {CANNOT_COME_BACK}" if removed else ""
        say(f"Undo: {result.undo} (import it to revert this run{lost})")
    say(f"Report: {result.report}")  # the last line, always: scripts read it
