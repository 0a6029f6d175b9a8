"""The change pipeline: read_table -> validate -> plan -> send -> verify -> write_report, one
pipeline for import, apply, sync and undo (run_change()).

Options travel as values (ReadOptions, ImportOptions) from the front-end to here, hooks lend
what it asks and tells; the journal's whole life (open, restore, record, finish, close) is
owned by run_change()."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..api.client import Client
from ..errors import ApiError, BulkmailError, Declined, DiskFull, ExitStatus, Fatal, InputError, Interrupted, Refused
from ..files.fields import REPORT_COLUMNS
from ..files.paths import default_output, fallback_folder, now, unused_path
from ..files.reading import read_table
from ..files.report import counts, exit_status, write_report
from ..files.sheet import Sheet
from ..files.undo import CANNOT_COME_BACK, cannot_come_back, undo_path, write_undo
from ..records import ADDED, IN_DOUBT, PLANNED, REMOVED, SENT, Row
from .facts import audit_facts, input_facts
from .journal import FinishedRun, Journal, open_journal
from .planning import Plan, make_plan
from .rails import check_rails
from .send import Sender
from .verify import verify

if TYPE_CHECKING:
    from ..audit import Run

Rail = Callable[[Plan], None]  # raises Refused for a plan that must not run
from .live import Live
from .options import Hooks, ImportOptions, ReadOptions
from .validate import validate


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
    plan_file: Path | None = None  # the plan a dry run wrote (--plan-out)
    input: dict = field(default_factory=dict)  # input_facts(): path, sha256, rows
    audited: bool = False  # its changes go to the audit log
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


def load(path: str | os.PathLike, reading: ReadOptions = ReadOptions()) -> tuple[Sheet, list[Row]]:
    """Read and check a file offline: the sheet as read, and one Row per data row."""
    table = read_table(path, reading.sheet, dict(reading.mapping), reading.hidden_rows)
    if reading.only:
        if not table.from_report:
            raise InputError(f"--only keeps rows of a results report by their status, and {table.where} is not "
                             f"one (it has no {', '.join(REPORT_COLUMNS)} columns). Leave --only out.")
        status = table.columns.index("status")
        table = table.rows(lambda _, cells: cells[status] in reading.only)
    return table, validate(table, reading.action, reading.domains)


def check_file(path: str | os.PathLike, reading: ReadOptions = ReadOptions(), *,
               report: str | os.PathLike | None = None) -> ImportResult:
    """`bulkmail validate`: offline checks only, and a report of every row (default name:
    reports/<input>-<timestamp>-validation.<format>)."""
    table, rows = load(path, reading)
    for row in rows:
        row.valid()
    facts = input_facts(table.path, len(rows))
    result = ImportResult(table, rows, input=facts, summary=[("run", "offline validation"), *audit_facts(facts),
                                                ("started", now())])
    result.report = write_report(report or default_output(path, "validation"), table, rows, result.summary)
    return result


def import_file(client: Client, path: str | os.PathLike, options: ImportOptions = ImportOptions(),
                hooks: Hooks = Hooks(), *, reading: ReadOptions = ReadOptions(),
                report: str | os.PathLike | None = None) -> ImportResult:
    """Read, check and apply one file, with a journal (see run_change())."""
    table, rows = load(path, reading)
    return run_change(client, table, rows, options, hooks, report=report, source=path)


def run_change(client: Client, table: Sheet, rows: list[Row], options: ImportOptions = ImportOptions(),
               hooks: Hooks = Hooks(), *, report: str | os.PathLike | None = None,
               source: str | os.PathLike | None = None, rail: Rail | None = None, live: Live | None = None,
               notes: list[str] = (), facts: dict | None = None) -> ImportResult:
    """The one change pipeline of import, apply, sync and undo: plan the checked rows against
    the live state, ask, send, verify, and write the report and the undo file.

    ``source`` is the input file: a real run keeps a journal of it, so that a crash, Ctrl-C or
    SIGTERM can be finished with ``options.resume`` (None: no journal, e.g. standard input).
    ``hooks`` lend a progress watcher, the question asked before anything is sent, and the
    audit log's run (each change logged exactly once across an interrupted run and its
    resumes). ``rail(plan)`` raises Refused for a plan that must not run (default: import's
    --max-remove and mass-removal rail); ``live`` is a read of the live state the caller made
    already (sync's). The report goes to ``report`` (default
    reports/<input>-<timestamp>-results.<format>). ``facts``: input_facts() of the input, when
    the caller has them (the file is hashed once). The client's ``cancel`` stops the run."""
    facts = facts or input_facts(source if source is not None else table.path, len(rows))
    journal, resuming, finished = None, False, None
    if source is not None and not options.dry_run:
        journal, resuming, finished = open_journal(source, client.account_id or "", resume=options.resume,
                                                   fresh=options.fresh, content_hash=facts["sha256"])
    try:
        if finished is not None:
            return ImportResult(table, rows, report=Path(finished.report), finished_before=finished)
        result = ImportResult(table, rows, strict=options.strict, resumed=resuming, notes=list(notes), input=facts)
        if options.resume and not resuming:
            result.notes.append("No interrupted run of this file to resume; starting a new run.")
        if rail is None:
            def rail(plan: Plan) -> None:
                check_rails(client, plan, options.max_remove, options.allow_mass_remove)
        _Change(client, result, options, hooks, journal, rail, live).run()
        _write_outputs(result, Path(report or default_output(table.path)), hooks)
        if options.plan_out is not None and options.dry_run and result.stopped is None:
            _write_plan(client, result, options.plan_out)
        if journal is not None and not _resumable(result, journal):
            _finish(result, journal)
        return result
    finally:
        if journal is not None:
            journal.close()


def _resumable(result: ImportResult, journal: Journal) -> bool:
    """Is there something left for --resume: rows in doubt, changes not yet in the audit log,
    a report not written, or a stop after something was sent?"""
    if result.report is None or any(r.status == IN_DOUBT or (r.status in (ADDED, REMOVED) and not r.logged
                                                              and result.audited) for r in result.rows):
        return True
    return result.stopped is not None and not isinstance(result.stopped, InputError) and journal.any_sent()


def _finish(result: ImportResult, journal: Journal) -> None:
    try:
        if result.stopped is not None:  # stopped before anything was sent
            journal.forget()
        else:
            journal.finish(result.report, int(result.exit_status))
    except DiskFull as err:  # the run is done and reported; a later --resume only finds it again
        result.warnings.append(str(err))


def _write_outputs(result: ImportResult, report: Path, hooks: Hooks) -> None:
    """The report and, when something changed, the undo file beside it; where they cannot go
    (a full disk), somewhere they can, or a stop that says what is full."""
    changed = [r for r in result.rows if r.status in (ADDED, REMOVED)]
    if changed:
        result.summary += [("undo file", f"{undo_path(report).name}, beside this report: import it to revert "
                                         "this run")]
        if any(r.status == REMOVED for r in changed):
            result.summary = [line for line in result.summary if line[0] != "cannot come back"]  # said once
            result.summary.append(("cannot come back", cannot_come_back(changed)))
    result.report = _somewhere(report, "report", result, lambda path: write_report(
        path, result.sheet, result.rows, result.summary, hooks.watch), undo_path if changed else None)
    if changed and result.report is not None:
        result.undo = _somewhere(undo_path(result.report), "undo file", result,
                                 lambda path: write_undo(path, result.rows))


@dataclass
class _Change:
    """One run of the pipeline's stages over ``result.rows``."""

    client: Client
    result: ImportResult
    options: ImportOptions
    hooks: Hooks
    journal: Journal | None
    rail: Rail
    live: Live | None

    def run(self) -> None:
        """The stages; a run stopped by a fatal error, a cancel or Ctrl-C ends with every row closed."""
        result, journal = self.result, self.journal
        result.summary = self._facts()
        try:
            if journal is not None and result.resumed:
                result.summary.append(("settled by the interrupted run", journal.restore(result.rows)))
            if journal is not None and self.hooks.audit is not None:
                _claim_logged(journal, self.hooks.audit, result.rows, result.resumed)
            result.plan = make_plan(self.client, result.rows, dry_run=self.options.dry_run, live=self.live)
            result.warnings += result.plan.warnings
            if journal is not None:
                journal.record([r for r in result.rows if r.status != PLANNED])
            if self.options.dry_run:
                self._judge_rail()
            elif result.plan.changes:
                self._apply()
        except (Fatal, ApiError) as err:  # a service error no stage handled stops the run too
            result.stopped = err
        except KeyboardInterrupt:
            result.stopped = Interrupted("Interrupted.")
        self._close()

    def _facts(self) -> list[tuple[str, object]]:
        client, result, undoes = self.client, self.result, self.options.undoes
        what = f"undo of run {undoes}" if undoes else "import"
        if self.options.dry_run:
            run = f"dry run{f' of the {what}' if undoes else ''}: nothing changed"
        else:
            run = f"resumed {what}" if result.resumed else what
        # an undo's adds bring back mailboxes the run removed: say now what they come back without
        lost = [("cannot come back", CANNOT_COME_BACK)] if undoes and any(
            r.action == "add" and r.status == PLANNED for r in result.rows) else []
        return [*([("profile", client.profile)] if client.profile else []), ("service", client.base_url),
                ("account", client.account_id), ("run", run), *lost, *audit_facts(result.input),
                ("started", now())]

    def _judge_rail(self) -> None:
        """A dry run: would a safety rail refuse the real run? Say so, and why."""
        try:
            self.rail(self.result.plan)
        except Refused as refusal:
            self.result.refused = refusal
            self.result.summary.append(("the real run", f"would be refused: {refusal}"))

    def _apply(self) -> None:
        """The rail, the prompt, sending, verifying."""
        result, journal = self.result, self.journal
        self.rail(result.plan)
        if self.hooks.confirm is not None and not self.hooks.confirm(result.plan):
            raise Declined("You answered no at the prompt; nothing was sent.")
        sender = Sender(self.client, batch_size=self.options.batch_size, watch=self.hooks.watch,
                        on_send=journal.mark_sent if journal is not None else None)
        sender.send(result.plan)
        result.stopped = sender.stopped
        if sender.stopped is None:
            verify(self.client, result.rows, check=self.options.verify)

    def _close(self) -> None:
        """Log the changes, keep what a resume needs, close every row, stamp the Summary."""
        result, journal = self.result, self.journal
        _tell_changes(result, self.hooks.audit)
        if journal is not None and result.stopped is not None:
            # What a resume needs, before closing: sent rows stay "sent", so it re-reads them. A
            # finished run needs none of it (finish() says so), and 50k rows cost half a second.
            try:
                journal.record(result.rows)
            except DiskFull as err:
                if str(err) != str(result.stopped):  # the same full journal that stopped the run is said once
                    result.warnings.append(str(err))
        for row in result.rows:
            row.close_unsent(result.stopped)
            row.close_unverified(result.stopped)
        result.summary += [("finished", now()), ("exit status", int(result.exit_status))]


def _claim_logged(journal: Journal, audit: Run, rows: list[Row], resumed: bool) -> None:
    """Name this run in the journal before it logs a change, and mark the rows whose change an
    interrupted run already logged (found in the audit log by that run's id): each change is
    logged once, even when a run was killed between logging and recording that it had."""
    earlier = journal.audit_runs() if resumed else []
    journal.add_audit_run(audit.run_id)
    done = audit.logged_before(earlier)
    for row in rows:
        if (row.key, row.action) in done:
            row.logged = True


def _tell_changes(result: ImportResult, audit: Run | None) -> None:
    """Log each change not logged before; rows the service accepted count even when the run
    stopped before re-reading them. A log that cannot be written stops the run (exit 4): its
    changes stay unlogged in the journal, and --resume logs them."""
    if audit is None:
        return
    result.audited = True
    changed = [r for r in result.rows if not r.logged and r.status in (ADDED, REMOVED, SENT)]
    if not changed:
        return
    try:
        audit.changes(changed)
    except OSError as exc:
        error = DiskFull(f"The audit log {audit.log.path} cannot be written ({exc.strerror or exc}); is the disk "
                         "full? The changes this run made are in its report, not yet in the audit log. Free some space, "
                         "then run the same command with --resume: it logs them.")
        result.stopped = result.stopped or error
        if result.stopped is not error:
            result.warnings.append(str(error))
        return
    for row in changed:
        row.logged = True


def _write_plan(client: Client, result: ImportResult, path: Path) -> None:
    """The plan file of a dry run (--plan-out): what bulkmail apply will send, with its facts."""
    from .planfile import build_plan, write_plan

    try:
        result.plan_file = write_plan(path, build_plan(client, result.rows, result.counts,
                                                       {k: result.input[k] for k in ("path", "sha256")}))
    except OSError as exc:
        result.stopped = DiskFull(f"Could not write the plan {path} ({exc.strerror or exc}); is the disk full? Nothing "
                                  "was sent. Free some space and run the dry run again.")


def _somewhere(path: Path, what: str, result: ImportResult, write: Callable[[Path], Path],
               companion: Callable[[Path], Path] | None = None) -> Path | None:
    """``write(path)``, or, when that fails (a full disk, a folder gone), ``write`` under a new
    name in a fallback folder, said in a warning: a run never ends without its report. None
    (and a stop that says what is full) when neither place takes it. ``companion(path)``: the
    file that goes beside it (a report's undo file), whose name must be free there too."""
    try:
        return write(path)
    except OSError as exc:
        first = exc
    except Exception as exc:  # not the disk (a bug, or data no writer expected): another folder would fail alike
        _stop(result, Fatal(f"Could not write the {what} to {path} ({type(exc).__name__}: {exc}). This is a bug in "
                            "bulkmail: please report it. What was sent stays sent; run the same command with --resume "
                            f"to write the {what} again."))
        return None
    fallback = unused_path(fallback_folder() / path.name, companion)  # always a new name: never another run's file
    try:
        written = write(fallback)
    except OSError as exc:
        error = DiskFull(f"Could not write the {what} to {path} ({first.strerror or first}) nor to {fallback} "
                         f"({exc.strerror or exc}); is the disk full? Free some space, then run the same command with "
                         "--resume to write it.")
        _stop(result, error)
        return None
    result.warnings.append(f"Could not write the {what} to {path} ({first.strerror or first}); it was written to "
                           f"{written} instead.")
    return written


def _stop(result: ImportResult, error: BulkmailError) -> None:
    """The first reason a run stops is its exit status; a later one is said as a warning."""
    if result.stopped is None:
        result.stopped = error
    else:
        result.warnings.append(str(error))
