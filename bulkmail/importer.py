"""The import pipeline: read_table -> validate -> plan -> send -> verify -> write_report."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

from .client import Client
from .errors import ApiError, BulkmailError, ExitStatus, InputError, Interrupted
from .journal import Journal
from .plan import Plan, make_plan, verify
from .records import ADDED, NOT_ATTEMPTED, PLANNED, REMOVED, SENT, VALID, Row
from .report import counts, exit_status, write_report
from .send import Sender
from .table import Sheet, read_table, unused_path
from .validate import validate


@dataclass
class ImportResult:
    sheet: Sheet
    rows: list[Row]
    plan: Plan | None = None
    report: Path | None = None
    stopped: BulkmailError | None = None  # why the run ended early
    summary: list[tuple[str, object]] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return counts(self.rows)

    @property
    def exit_status(self) -> ExitStatus:
        return self.stopped.exit_status if self.stopped else exit_status(self.counts)


class Declined(BulkmailError):
    """The user answered no at the confirmation prompt."""


class Refused(InputError):
    """A safety rail stopped the run before anything was sent."""


# A plan removing more than this share of the account, and more than MASS_MIN mailboxes,
# needs --allow-mass-remove: a wrong column or sheet should not empty a tenant.
MASS_SHARE, MASS_MIN = 0.2, 20


class AlreadyFinished(BulkmailError):
    """--resume of a run that had finished: nothing to do; its report stands."""

    def __init__(self, message: str, report: str, exit_status: int):
        super().__init__(message)
        self.report, self.exit_status = report, ExitStatus(exit_status)


def open_journal(source: str | os.PathLike, *, resume: bool = False, fresh: bool = False,
                 folder: str | os.PathLike = "reports") -> tuple[Journal, bool]:
    """The journal of this input file, locked for this run, and whether the run resumes one.
    Raises AlreadyFinished for --resume of a run of this same file that finished."""
    journal = Journal(source, folder)
    try:
        resuming = journal.check_resumable() if resume else False
        done = journal.finished() if resume and not resuming else None
        if done:
            raise AlreadyFinished(f"Nothing to resume: the last run of {journal.source.name} finished at {done[0]}.",
                                  done[1], done[2])
        found = journal.unfinished()
        if found and not resume and not fresh:
            raise InputError(f"An interrupted run of {journal.source.name} from {found[0]} is not finished. Pass "
                             "--resume to finish it (rows it applied keep their status), or --fresh to start over.")
        if not resuming:
            journal.start()
        return journal, resuming
    except BaseException:
        journal.close()
        raise


def check_rails(client: Client, plan: Plan, max_remove: int | None, allow_mass_remove: bool) -> None:
    """Stop before anything is sent when the plan removes more than the user allowed."""
    count = len(plan.to_remove)
    if max_remove is not None and count > max_remove:
        raise Refused(f"The plan removes {count} mailboxes, more than --max-remove {max_remove}. Nothing was sent. "
                      "Check the file, or raise --max-remove.")
    if count > MASS_MIN and not allow_mass_remove:
        total = client.get_page(1, page_size=1).total or 0
        if count > MASS_SHARE * total:
            raise Refused(f"The plan removes {count} of the account's {total} mailboxes ({count / max(total, 1):.0%}). "
                          "Nothing was sent. If that is really intended, add --allow-mass-remove.")


def default_report_path(source: str | os.PathLike, kind: str = "results", folder: str | os.PathLike = "reports") -> Path:
    """reports/<input-stem>-<timestamp>-<kind>.<xlsx for an xlsx input, else csv>."""
    source = Path(source)
    suffix = ".xlsx" if source.suffix.lower() in (".xlsx", ".xlsm") else ".csv"
    return unused_path(Path(folder) / f"{source.stem}-{datetime.now():%Y%m%d-%H%M%S}-{kind}{suffix}")


def load(path: str | os.PathLike, *, sheet: str | None = None, mapping: dict[str, str] | None = None,
         action: str | None = None, domains: Iterable[str] = ()) -> tuple[Sheet, list[Row]]:
    """Read and check a file offline: the sheet as read, and one Row per data row."""
    table = read_table(path, sheet, mapping)
    return table, validate(table, action, domains)


def check_file(path: str | os.PathLike, *, report: str | os.PathLike | None = None, **options) -> ImportResult:
    """`bulkmail validate`: offline checks only, and a report of every row."""
    table, rows = load(path, **options)
    for row in rows:
        if row.status == PLANNED:
            row.status = VALID
    result = ImportResult(table, rows, summary=[("run", "offline validation")])
    result.report = write_report(report or default_report_path(path, "validation"), table, rows, result.summary)
    return result


def run_import(client: Client, table: Sheet, rows: list[Row], *, dry_run: bool = False, batch_size: int = 100,
               concurrency: int = 4, check: bool = True, report: str | os.PathLike | None = None,
               confirm: Callable[[Plan], bool] | None = None, progress: bool = False,
               journal: Journal | None = None, resuming: bool = False, max_remove: int | None = None,
               allow_mass_remove: bool = False) -> ImportResult:
    """Plan the checked rows against the live state, send, verify, and write the report.

    A run stopped by a fatal error or Ctrl-C still writes its report, the unsent rows
    not_attempted, and leaves its ``journal`` unfinished so that ``resuming`` can finish it."""
    result = ImportResult(table, rows)
    result.summary = [("service", client.base_url), ("account", client.account_id),
                      ("run", "dry run: nothing changed" if dry_run else "resumed import" if resuming else "import"),
                      ("started", f"{datetime.now():%Y-%m-%d %H:%M:%S}")]
    if journal is not None and resuming:
        result.summary.append(("settled by the interrupted run", journal.restore(rows)))
    try:
        result.plan = make_plan(client, rows, concurrency, dry_run)
        if journal is not None:
            journal.record([r for r in rows if r.status != PLANNED])
        if not dry_run and result.plan.changes:
            check_rails(client, result.plan, max_remove, allow_mass_remove)
            if confirm is not None and not confirm(result.plan):
                raise Declined("You answered no at the prompt; nothing was sent.")
            sender = Sender(client, batch_size=batch_size, concurrency=concurrency, progress=progress,
                            on_send=journal.mark_sent if journal is not None else None)
            sender.send(result.plan)
            result.stopped = sender.stopped
            if sender.stopped is None:
                verify(client, rows, concurrency, check)
    except (ApiError, Declined, InputError) as err:
        result.stopped = err
    except KeyboardInterrupt:
        result.stopped = Interrupted("Interrupted.")
    _close_open_rows(rows, result.stopped)
    result.summary.append(("exit status", int(result.exit_status)))
    if journal is not None:
        journal.record(rows)
    result.report = write_report(report or default_report_path(table.path), table, rows, result.summary)
    if journal is not None and not isinstance(result.stopped, (ApiError, Interrupted)):
        journal.finish(result.report, int(result.exit_status))  # nothing left to resume
    return result


def _close_open_rows(rows: list[Row], stopped: BulkmailError | None) -> None:
    """No row leaves the run in a working state: unsent -> not_attempted; sent but not
    re-read -> added/removed on the service's word, saying so."""
    for row in rows:
        if row.status == PLANNED:
            row.status, row.detail = NOT_ATTEMPTED, f"not sent: {stopped}"
        elif row.status == SENT:
            row.status = ADDED if row.action == "add" else REMOVED
            row.detail = f"accepted by the service; not verified because the run stopped ({stopped})"


def import_file(client: Client, path: str | os.PathLike, *, sheet: str | None = None,
                mapping: dict[str, str] | None = None, action: str | None = None, domains: Iterable[str] = (),
                **options) -> ImportResult:
    """Read, check and apply one file; see run_import() for the options."""
    table, rows = load(path, sheet=sheet, mapping=mapping, action=action, domains=domains)
    return run_import(client, table, rows, **options)
