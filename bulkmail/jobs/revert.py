"""Undo by run id: `bulkmail undo RUN_ID` finds a run in the audit log (its end record names
its report, and the undo file lies beside it) and applies that file through the change
pipeline, with the rails, the prompt and a journal like any import."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..files.undo import undo_path
from ..records import ADDED, REMOVED, Row

if TYPE_CHECKING:
    from ..api.client import Client
    from ..files.sheet import Sheet
    from .change import ImportResult
    from .options import Hooks, ImportOptions


@dataclass
class UndoTarget:
    """A run to undo, as the audit log tells it, with its undo file read and checked offline."""

    run: dict  # the run's facts (start and end records merged)
    undo: Path
    table: Sheet
    rows: list[Row]
    undone_by: dict | None = None  # an earlier undo of this run that changed something

    @property
    def run_id(self) -> str:
        return self.run["run_id"]

    def describe(self) -> str:
        """'run 5f0c2a9e41b7 (import of /srv/hr/leavers.csv, 2026-11-25T02:00:03+00:00)'."""
        source = (self.run.get("input") or {}).get("path")
        return (f"run {self.run_id} ({self.run.get('command')}{f' of {source}' if source else ''}, "
                f"{self.run.get('time')})")


def find_run(run_id: str) -> UndoTarget:
    """The run ``run_id`` of the audit log and its undo file, read and checked offline. A run
    that is unknown, unfinished, changed nothing, or whose undo file is gone: InputError."""
    from ..audit import AuditLog, runs
    from ..jobs.change import load

    log = AuditLog()
    records = list(log.records())
    every = runs(records)
    run = every.get(run_id)
    if run is None:
        raise InputError(f"No run {run_id} in the audit log {log.path}. bulkmail log lists the runs with their ids.")
    name = f"Run {run_id} ({run.get('command')}, {run.get('time')})"
    if run.get("event") != "end":
        raise InputError(f"{name} has not finished (it was killed, or is still running), so it has no undo file yet. "
                         f"Finish it with --resume, then undo the run that finished it (bulkmail log lists it).")
    if not any((run.get("counts") or {}).get(status) for status in (ADDED, REMOVED)):
        raise InputError(f"{name} added and removed no mailbox: there is nothing to undo. Check the run id with "
                         "bulkmail log.")
    report = Path(str(run.get("report")))
    # where the run wrote it (a full disk may have sent it elsewhere); a run logged before the
    # end record said so wrote it beside its report
    undo = Path(run["undo"]) if run.get("undo") else undo_path(report if report.is_absolute() else report.resolve())
    if not undo.is_file():
        raise InputError(f"The undo file of {name[0].lower()}{name[1:]}, {undo}, is gone (moved or deleted), so "
                         "that run cannot be undone by its id. If you have a copy of it, import that: bulkmail "
                         "import COPY.csv")
    table, rows = load(undo)
    _check_written_by(run, name, undo, rows, records)
    undone = [other for other in every.values() if other.get("undoes") == run_id and other.get("event") == "end"
              and any((other.get("counts") or {}).get(status) for status in (ADDED, REMOVED))]
    return UndoTarget(run, undo, table, rows, max(undone, key=lambda r: r.get("time", "")) if undone else None)


def _check_written_by(run: dict, name: str, undo: Path, rows: list[Row], records: list[dict]) -> None:
    """Refuse an undo file the run did not write: another run's --report --force, or an edit,
    may have put another run's changes under this name. The run's end record holds the file's
    SHA-256; a run logged before it did is checked row by row against its change records."""
    from .journal import file_hash

    where = f"The undo file of {name[0].lower()}{name[1:]}, {undo},"
    remedy = (f"Nothing was sent. If you are sure of what it holds, import it yourself: bulkmail import {undo} "
              "--dry-run")
    if run.get("undo_sha256"):
        if file_hash(undo) != run["undo_sha256"]:
            raise InputError(f"{where} is not the file that run wrote: it was changed or replaced since (another "
                             f"run's --report --force writes one of the same name). {remedy}")
        return
    changed = _changes_of(run, records)
    undoes = {"add": "remove", "remove": "add"}  # an undo row reverts the change of the other action
    for row in rows:
        if (row.key, undoes.get(row.action)) not in changed:
            did = "remove" if row.action == "add" else "add"
            raise InputError(f"{where} does not match that run's changes in the audit log (row {row.row}: "
                             f"{row.action} {row.email_address}, but that run did not {did} it). {remedy}")


def _changes_of(run: dict, records: list[dict]) -> set[tuple[str, str]]:
    """(address key, action) of each change the run logged; for a resumed run, also those its
    interrupted runs of the same file logged (each change is logged once, by the run that made it)."""
    from ..addresses import address_key

    def ours(record: dict) -> bool:
        if record.get("run_id") == run["run_id"]:
            return True
        source = run.get("input") or {}
        return bool(run.get("resume") and source.get("sha256") and record.get("input") == source
                    and record.get("time", "") <= run.get("time", ""))

    return {(address_key(str(r.get("email_address", ""))), str(r.get("action"))) for r in records
            if r.get("type") == "change" and ours(r)}


def undo_run(client: Client, target: UndoTarget, options: ImportOptions, hooks: Hooks | None = None, *,
             report: str | os.PathLike | None = None) -> ImportResult:
    """Apply a run's undo file like an import of it (a plan against the live service, the
    rails, the prompt, a journal, the report and the undo's own undo file); refused when the
    login is for another account or service than the run's."""
    from .change import run_change
    from .options import Hooks
    from .planfile import check_target

    check_target(target.run, client, target.describe(), made="ran on", remedy="")
    return run_change(client, target.table, target.rows, dataclasses.replace(options, undoes=target.run_id),
                      hooks or Hooks(), report=report, source=target.undo)
