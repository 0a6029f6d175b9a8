"""The audit log on the command line: every run that talks to the service is recorded, and
`bulkmail log` answers "who removed this, and when?"."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterator

import click

from ..audit import AuditLog, Run, begin, find_changes, recent_runs
from ..errors import BulkmailError, ExitStatus
from .context import echo, record, say, state
from .options import output_options

if TYPE_CHECKING:
    from ..api.client import Client


@contextmanager
def audited(command: str, client: Client, **facts) -> Iterator[tuple[Run, dict]]:
    """Write the run's start record now (a log that cannot be written stops the run before
    anything is sent) and its end record after, with what the caller put in the dict (and the
    error, when one escapes)."""
    run = begin(command, client, **facts)
    log = run.log
    record(run_id=run.run_id)
    outcome: dict = {}
    current = state()
    current.settling = True  # from here a signal asks the run to stop cleanly (see cli.run)
    try:
        yield run, outcome
    except BulkmailError as exc:
        outcome.update(exit_status=int(exc.exit_status), error=str(exc))
        raise
    except KeyboardInterrupt:
        outcome.update(exit_status=int(ExitStatus.INTERRUPTED), error="Interrupted.")
        raise
    finally:
        # settling stays on: a signal that comes once the work is done (while the result is told)
        # only sets the cancel flag, and the run ends with the status of what it did.
        try:
            run.end(**outcome)
        except OSError as exc:
            echo(f"Warning: the end of this run could not be written to the audit log {log.path} "
                 f"({exc.strerror or exc}).")


def parse_since(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM.") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@click.command("log")
@click.option("--email", metavar="ADDRESS", help="The changes to this address (any case), newest first.")
@click.option("--since", metavar="DATE", help="Only what happened since this date (YYYY-MM-DD[THH:MM], UTC).")
@click.option("--run", "run_id", metavar="ID", help="One run: its start, its changes, its end.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="How many lines at most.")
@output_options
def log_command(email, since, run_id, limit):
    """Answer from the audit log: who changed a mailbox, from which file, when; or the last runs."""
    log = AuditLog()
    since_time = parse_since(since) if since else None
    if email or run_id:
        lines = find_changes(log, email, run_id, since_time, limit)
        record(changes=lines, log=str(log.path))
        if not lines:
            say(f"No changes found in {log.path}.")
        for line in lines:
            source = (line.get("input") or {}).get("path") or "-"
            # A change sent by a run that stopped before re-reading it (or an add under --no-verify)
            # has no id on record: say so rather than "None".
            mailbox = line.get("mailbox_id")
            mailbox = "? (its id was not read back)" if mailbox is None else mailbox
            status = line.get("status") if line.get("verified", True) else f"{line.get('status')}, not verified"
            say(f"{line['time']}  {status}  {line.get('email_address')}  mailbox {mailbox}  "
                f"by {line.get('operator')}@{line.get('host')}  run {line.get('run_id')}  from {source}")
        return ExitStatus.OK
    listed = recent_runs(log, since_time, limit)
    record(runs=listed, log=str(log.path))
    if not listed:
        say(f"No runs found in {log.path}.")
    for item in listed:
        counts = ", ".join(f"{k} {v}" for k, v in (item.get("counts") or {}).items()) or "-"
        command = f"{item.get('command')} of run {item['undoes']}" if item.get("undoes") else item.get("command")
        say(f"{item.get('time')}  run {item.get('run_id')}  {command}  by {item.get('operator')}@"
            f"{item.get('host')}  account {item.get('account')}  exit {item.get('exit_status', '?')}  {counts}")
    return ExitStatus.OK

