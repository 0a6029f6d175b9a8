"""The import pipeline: read_table -> validate -> plan -> send -> verify -> write_report."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .client import Client
from .errors import ApiError, BulkmailError, Declined, ExitStatus, Fatal, InputError, Interrupted, Refused
from .journal import Journal
from .paths import REPORTS, default_output, fallback_folder, now
from .plan import Plan, make_plan, verify
from .records import PLANNED, VALID, Row
from .report import counts, exit_status, write_report
from .send import Sender
from .table import Sheet, read_table
from .validate import validate


@dataclass
class ImportResult:
    sheet: Sheet
    rows: list[Row]
    plan: Plan | None = None
    report: Path | None = None
    stopped: BulkmailError | None = None  # why the run ended early
    refused: Refused | None = None  # a dry run whose real run a safety rail would stop
    strict: bool = False  # already_present / not_found count as problems
    summary: list[tuple[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # for the user, said once by the CLI

    @property
    def counts(self) -> Counter:
        return counts(self.rows)

    @property
    def exit_status(self) -> ExitStatus:
        if self.stopped:
            return self.stopped.exit_status
        if self.refused:
            return self.refused.exit_status
        return exit_status(self.counts, self.strict)


# A plan removing more than this share of the account, and more than MASS_MIN mailboxes,
# needs --allow-mass-remove: a wrong column or sheet should not empty a tenant.
MASS_SHARE, MASS_MIN = 0.2, 20


class AlreadyFinished(BulkmailError):
    """--resume of a run that had finished: nothing to do; its report stands."""

    def __init__(self, message: str, report: str, exit_status: int):
        super().__init__(message)
        self.report, self.exit_status = report, ExitStatus(exit_status)


def open_journal(source: str | os.PathLike, account: str = "", *, resume: bool = False, fresh: bool = False,
                 folder: str | os.PathLike | None = None) -> tuple[Journal, bool]:
    """The journal of this input file in this account, locked for this run, and whether the run
    resumes one. Raises AlreadyFinished for --resume of a run of this same file that finished."""
    journal = Journal(source, account, folder)
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
    """Refuse (before anything is sent) a plan that removes more than the user allowed."""
    count = len(plan.to_remove)
    if max_remove is not None and count > max_remove:
        raise Refused(f"The plan removes {count} mailboxes, more than --max-remove {max_remove}. Nothing was sent. "
                      "Check the file, or raise --max-remove.")
    if count > MASS_MIN and not allow_mass_remove:
        # The plan's walk counted the account; else the service says, or a walk counts it.
        total = plan.account_size if plan.account_size is not None else client.count()
        if total is None:
            raise Refused(f"The plan removes {count} mailboxes, and the service does not tell how many the account "
                          "has, so bulkmail cannot rule out a mass removal. Nothing was sent. If that is really "
                          "intended, add --allow-mass-remove.")
        if count > MASS_SHARE * total:
            raise Refused(f"The plan removes {count} of the account's {total} mailboxes ({count / max(total, 1):.0%}). "
                          "Nothing was sent. If that is really intended, add --allow-mass-remove.")


def default_report_path(source: str | os.PathLike, kind: str = "results", folder: str | os.PathLike | None = None
                        ) -> Path:
    """reports/<input-stem>-<timestamp>-<kind>.<xlsx for a spreadsheet input, else csv>."""
    return default_output(source, kind, REPORTS if folder is None else folder)


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
               allow_mass_remove: bool = False, strict: bool = False) -> ImportResult:
    """Plan the checked rows against the live state, send, verify, and write the report.

    A run stopped by a fatal error or Ctrl-C still writes its report, the unsent rows
    not_attempted, and leaves its ``journal`` unfinished (when something was sent) so that
    ``resuming`` can finish it. A dry run checks the safety rails too, and says in
    ``refused`` what the real run would be refused for."""
    result = ImportResult(table, rows, strict=strict)
    result.summary = [*([("profile", client.profile)] if client.profile else []),
                      ("service", client.base_url), ("account", client.account_id),
                      ("run", "dry run: nothing changed" if dry_run else "resumed import" if resuming else "import"),
                      ("started", now())]
    if journal is not None and resuming:
        result.summary.append(("settled by the interrupted run", journal.restore(rows)))
    try:
        result.plan = make_plan(client, rows, concurrency, dry_run)
        result.warnings += result.plan.warnings
        if journal is not None:
            journal.record([r for r in rows if r.status != PLANNED])
        if dry_run:
            try:
                check_rails(client, result.plan, max_remove, allow_mass_remove)
            except Refused as refusal:
                result.refused = refusal
                result.summary.append(("the real run", f"would be refused: {refusal}"))
        elif result.plan.changes:
            check_rails(client, result.plan, max_remove, allow_mass_remove)
            if confirm is not None and not confirm(result.plan):
                raise Declined("You answered no at the prompt; nothing was sent.")
            sender = Sender(client, batch_size=batch_size, concurrency=concurrency, progress=progress,
                            on_send=journal.mark_sent if journal is not None else None)
            sender.send(result.plan)
            result.stopped = sender.stopped
            if sender.stopped is None:
                verify(client, rows, concurrency, check)
    except (Fatal, ApiError) as err:  # a service error no stage handled stops the run too
        result.stopped = err
    except KeyboardInterrupt:
        result.stopped = Interrupted("Interrupted.")
    if journal is not None:
        journal.record(rows)  # before closing: sent rows stay "sent", so a resume re-reads them
    _close_open_rows(rows, result.stopped)
    result.summary.append(("exit status", int(result.exit_status)))
    result.report = _write_report_somewhere(report or default_report_path(table.path), result)
    if journal is not None:
        resumable = result.stopped is not None and not isinstance(result.stopped, InputError) and journal.any_sent()
        if not resumable:  # finished, or stopped before anything was sent: nothing to resume
            journal.finish(result.report, int(result.exit_status))
    return result


def _write_report_somewhere(path: str | os.PathLike, result: ImportResult) -> Path:
    """The report, at ``path`` or, when that fails after changes were made, in a fallback folder
    (said in a warning): a run never ends without its report."""
    try:
        return write_report(path, result.sheet, result.rows, result.summary)
    except OSError as exc:
        fallback = fallback_folder() / Path(path).name
        result.warnings.append(f"Could not write the report to {path} ({exc.strerror or exc}); "
                               f"it was written to {fallback} instead.")
        return write_report(fallback, result.sheet, result.rows, result.summary)


def _close_open_rows(rows: list[Row], stopped: BulkmailError | None) -> None:
    """No row leaves the run in a working state: unsent -> not_attempted; sent but not
    re-read -> added/removed on the service's word, saying so."""
    for row in rows:
        row.close_unsent(stopped)
        row.close_unverified(stopped)


def import_file(client: Client, path: str | os.PathLike, *, sheet: str | None = None,
                mapping: dict[str, str] | None = None, action: str | None = None, domains: Iterable[str] = (),
                **options) -> ImportResult:
    """Read, check and apply one file; see run_import() for the options."""
    table, rows = load(path, sheet=sheet, mapping=mapping, action=action, domains=domains)
    return run_import(client, table, rows, **options)
