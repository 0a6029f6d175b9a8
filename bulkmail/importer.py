"""The import pipeline: read_table -> validate -> plan -> send -> verify -> write_report.

Options travel as values (ReadOptions, ImportOptions) from the command line to here; the
journal's whole life (open, restore, record, finish, close) is owned by run_import()."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from .client import Client
from .fields import REPORT_COLUMNS
from .errors import ApiError, BulkmailError, Declined, ExitStatus, Fatal, InputError, Interrupted, Refused
from .journal import Journal
from .paths import default_output, fallback_folder, now
from .plan import Plan, make_plan, verify
from .records import ADDED, PLANNED, REMOVED, SENT, VALID, Row
from .report import counts, exit_status, write_report
from .send import Sender
from .reading import Sheet, read_table
from .undo import CANNOT_COME_BACK, undo_path, write_undo
from .validate import validate

# A plan removing more than this share of the account, and more than MASS_MIN mailboxes,
# needs --allow-mass-remove: a wrong column or sheet should not empty a tenant.
MASS_SHARE, MASS_MIN = 0.2, 20


@dataclass(frozen=True)
class ReadOptions:
    """How to read an input file (import and validate): --sheet, --map, --action, --domain."""

    sheet: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    action: str | None = None  # for rows without one (files with no action column)
    domains: tuple[str, ...] = ()  # allow-list; other rows are invalid
    only: tuple[str, ...] = ()  # a results report read back: keep only the rows with these statuses
    hidden_rows: bool = False  # read the rows a workbook hides (left out by default)


@dataclass(frozen=True)
class ImportOptions:
    """How to run an import; each field is the command-line option of the same name."""

    dry_run: bool = False
    batch_size: int = 100
    concurrency: int = 4
    verify: bool = True  # --no-verify turns it off: trust the service's 2xx
    max_remove: int | None = None
    allow_mass_remove: bool = False
    strict: bool = False  # already_present / not_found count as problems
    resume: bool = False  # finish the interrupted run of this file
    fresh: bool = False  # start over although a run of this file is unfinished
    progress: bool = False


@dataclass(frozen=True)
class FinishedRun:
    """The earlier run a --resume found finished: nothing to do, its report stands."""

    finished: str
    report: str
    exit_status: ExitStatus


@dataclass
class ImportResult:
    sheet: Sheet
    rows: list[Row]
    plan: Plan | None = None
    report: Path | None = None
    stopped: BulkmailError | None = None  # why the run ended early
    refused: Refused | None = None  # a dry run whose real run a safety rail would stop
    strict: bool = False
    resumed: bool = False  # this run finished an interrupted one
    finished_before: FinishedRun | None = None  # --resume of a run that had finished: nothing done
    undo: Path | None = None  # the import file that reverts this run's changes
    summary: list[tuple[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # for the user, said once by the CLI
    notes: list[str] = field(default_factory=list)  # plain facts for the user

    @property
    def counts(self) -> Counter:
        return counts(self.rows)

    @property
    def exit_status(self) -> ExitStatus:
        if self.finished_before:
            return self.finished_before.exit_status
        if self.stopped:
            return self.stopped.exit_status
        if self.refused:
            return self.refused.exit_status
        return exit_status(self.counts, self.strict)


def open_journal(source: str | os.PathLike, account: str = "", *, resume: bool = False, fresh: bool = False,
                 folder: str | os.PathLike | None = None) -> tuple[Journal, bool, FinishedRun | None]:
    """The journal of this input file in this account, locked for this run; whether the run
    resumes one; and, for --resume of a run of this same file that finished, that run."""
    journal = Journal(source, account, folder)
    try:
        resuming = journal.check_resumable() if resume else False
        done = journal.finished() if resume and not resuming else None
        if done:
            return journal, False, FinishedRun(done[0], done[1], ExitStatus(done[2]))
        found = journal.unfinished()
        if found and not resume and not fresh:
            raise _unfinished(journal.source.name, found[0])
        if not resuming:
            journal.start()
        return journal, resuming, None
    except BaseException:
        journal.close()
        raise


def audit_facts(source: str | os.PathLike) -> list[tuple[str, object]]:
    """Who ran it, where, with which version, on which exact input: for the report's Summary."""
    from . import __version__
    from .audit import operator
    from .journal import file_hash

    user, host = operator()
    path = Path(source)
    digest = file_hash(path) if str(source) != "-" and path.is_file() else "(standard input)"
    return [("operator", user), ("host", host), ("tool version", __version__), ("input sha256", digest)]


def refuse_unfinished(source: str | os.PathLike, account: str) -> None:
    """Stop when an interrupted run of this file (in this account) waits for --resume or --fresh."""
    with Journal(source, account) as journal:
        found = journal.unfinished()
    if found:
        raise _unfinished(Path(source).name, found[0])


def _unfinished(name: str, started: str) -> InputError:
    return InputError(f"An interrupted run of {name} from {started} is not finished. Pass --resume to finish it "
                      "(rows it applied keep their status), or --fresh to start over.")


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


def load(path: str | os.PathLike, reading: ReadOptions = ReadOptions()) -> tuple[Sheet, list[Row]]:
    """Read and check a file offline: the sheet as read, and one Row per data row."""
    table = read_table(path, reading.sheet, dict(reading.mapping), reading.hidden_rows)
    if reading.only:
        if not table.from_report:
            raise InputError(f"--only keeps rows of a results report by their status, and {table.where} is not "
                             f"one (it has no {', '.join(REPORT_COLUMNS)} columns). Leave --only out.")
        table = dataclasses.replace(table, frame=table.frame[table.frame["status"].isin(reading.only)])
    return table, validate(table, reading.action, reading.domains)


def check_file(path: str | os.PathLike, reading: ReadOptions = ReadOptions(), *,
               report: str | os.PathLike | None = None) -> ImportResult:
    """`bulkmail validate`: offline checks only, and a report of every row (default name:
    reports/<input>-<timestamp>-validation.<format>)."""
    table, rows = load(path, reading)
    for row in rows:
        if row.status == PLANNED:
            row.status = VALID
    result = ImportResult(table, rows, summary=[("run", "offline validation"), *audit_facts(table.path),
                                                ("started", now())])
    result.report = write_report(report or default_output(path, "validation"), table, rows, result.summary)
    return result


def import_file(client: Client, path: str | os.PathLike, options: ImportOptions = ImportOptions(), *,
                reading: ReadOptions = ReadOptions(), report: str | os.PathLike | None = None,
                confirm: Callable[[Plan], bool] | None = None) -> ImportResult:
    """Read, check and apply one file, with a journal (see run_import())."""
    table, rows = load(path, reading)
    return run_import(client, table, rows, options, report=report, confirm=confirm, source=path)


def run_import(client: Client, table: Sheet, rows: list[Row], options: ImportOptions = ImportOptions(), *,
               report: str | os.PathLike | None = None, confirm: Callable[[Plan], bool] | None = None,
               source: str | os.PathLike | None = None,
               on_changes: Callable[[list[Row]], None] | None = None) -> ImportResult:
    """Plan the checked rows against the live state, send, verify, and write the report.

    ``source`` is the input file: a real run keeps a journal of it, so that a crash or Ctrl-C
    can be finished with ``options.resume`` (None: no journal, e.g. standard input).
    ``confirm(plan)`` may say no before anything is sent. ``on_changes(rows)`` is told, once
    per row even across an interrupted run and its resume, of every mailbox this run added or
    removed (the audit log). The report goes to ``report`` (default
    reports/<input>-<timestamp>-results.<format>)."""
    journal, resuming, finished = None, False, None
    if source is not None and not options.dry_run:
        journal, resuming, finished = open_journal(source, client.account_id or "", resume=options.resume,
                                                   fresh=options.fresh)
    try:
        if finished is not None:
            return ImportResult(table, rows, report=Path(finished.report), finished_before=finished)
        result = ImportResult(table, rows, strict=options.strict, resumed=resuming)
        if options.resume and not resuming:
            result.notes.append("No interrupted run of this file to resume; starting a new run.")
        _run(client, result, options, confirm, journal, on_changes)
        report = Path(report or default_output(table.path))
        changed = [r for r in rows if r.status in (ADDED, REMOVED)]
        if changed:
            result.summary += [("undo file", f"{undo_path(report).name}, beside this report: import it to revert "
                                             "this run")]
            if any(r.status == REMOVED for r in changed):
                result.summary.append(("cannot come back", CANNOT_COME_BACK))
        result.report = _write_report_somewhere(report, result, options.progress)
        if changed:
            result.undo = write_undo(undo_path(result.report), rows)
        if journal is not None:
            resumable = result.stopped is not None and not isinstance(result.stopped, InputError) and journal.any_sent()
            if not resumable:  # finished, or stopped before anything was sent: nothing to resume
                journal.finish(result.report, int(result.exit_status))
        return result
    finally:
        if journal is not None:
            journal.close()


def _run(client: Client, result: ImportResult, options: ImportOptions, confirm, journal: Journal | None,
         on_changes: Callable[[list[Row]], None] | None) -> None:
    """The stages; a run stopped by a fatal error or Ctrl-C ends with every row closed."""
    rows = result.rows
    result.summary = [*([("profile", client.profile)] if client.profile else []),
                      ("service", client.base_url), ("account", client.account_id),
                      ("run", "dry run: nothing changed" if options.dry_run else
                       "resumed import" if result.resumed else "import"),
                      *audit_facts(result.sheet.path), ("started", now())]
    if journal is not None and result.resumed:
        result.summary.append(("settled by the interrupted run", journal.restore(rows)))
    try:
        result.plan = make_plan(client, rows, options.concurrency, options.dry_run)
        result.warnings += result.plan.warnings
        if journal is not None:
            journal.record([r for r in rows if r.status != PLANNED])
        if options.dry_run:
            _judge_rails(client, result, options)
        elif result.plan.changes:
            _apply(client, result, options, confirm, journal)
    except (Fatal, ApiError) as err:  # a service error no stage handled stops the run too
        result.stopped = err
    except KeyboardInterrupt:
        result.stopped = Interrupted("Interrupted.")
    _tell_changes(rows, on_changes)
    if journal is not None and result.stopped is not None:
        # What a resume needs, before closing: sent rows stay "sent", so it re-reads them. A
        # finished run needs none of it (finish() says so), and 50k rows cost half a second.
        journal.record(rows)
    for row in rows:
        row.close_unsent(result.stopped)
        row.close_unverified(result.stopped)
    result.summary += [("finished", now()), ("exit status", int(result.exit_status))]


def _judge_rails(client: Client, result: ImportResult, options: ImportOptions) -> None:
    """A dry run: would a safety rail refuse the real run? Say so, and why."""
    try:
        check_rails(client, result.plan, options.max_remove, options.allow_mass_remove)
    except Refused as refusal:
        result.refused = refusal
        result.summary.append(("the real run", f"would be refused: {refusal}"))


def _apply(client: Client, result: ImportResult, options: ImportOptions, confirm, journal: Journal | None) -> None:
    """Rails, the prompt, sending, verifying."""
    check_rails(client, result.plan, options.max_remove, options.allow_mass_remove)
    if confirm is not None and not confirm(result.plan):
        raise Declined("You answered no at the prompt; nothing was sent.")
    sender = Sender(client, batch_size=options.batch_size, concurrency=options.concurrency,
                    progress=options.progress, on_send=journal.mark_sent if journal is not None else None)
    sender.send(result.plan)
    result.stopped = sender.stopped
    if sender.stopped is None:
        verify(client, result.rows, options.concurrency, options.verify)


def _tell_changes(rows: list[Row], on_changes: Callable[[list[Row]], None] | None) -> None:
    """Tell ``on_changes`` (the audit log) of each change not told before; rows the service
    accepted count even when the run stopped before re-reading them."""
    if on_changes is None:
        return
    changed = [r for r in rows if not r.logged and r.status in (ADDED, REMOVED, SENT)]
    if changed:
        on_changes(changed)
    for row in changed:
        row.logged = True


def _write_report_somewhere(path: str | os.PathLike, result: ImportResult, progress: bool = False) -> Path:
    """The report, at ``path`` or, when that fails after changes were made, in a fallback folder
    (said in a warning): a run never ends without its report."""
    try:
        return write_report(path, result.sheet, result.rows, result.summary, progress)
    except OSError as exc:
        fallback = fallback_folder() / Path(path).name
        result.warnings.append(f"Could not write the report to {path} ({exc.strerror or exc}); "
                               f"it was written to {fallback} instead.")
        return write_report(fallback, result.sheet, result.rows, result.summary)
