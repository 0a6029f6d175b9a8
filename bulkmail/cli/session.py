"""Settings, login and the questions asked before anything is sent: the profile's settings,
the password, a logged-in client, the output-path rule, the confirmation prompt."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..api.retry import Retry
from ..config import ConnectionSettings, credentials_hint, describe, fill_password, resolve
from ..errors import InputError, OutputExists
from ..files.paths import check_output
from ..records import PLANNED, STATUSES
from ..words import plural
from .context import echo, interactive, record, state

if TYPE_CHECKING:
    from ..api.client import Client

log = logging.getLogger("bulkmail")


def claim_output(path: Path, option: str, *, inputs=(), force: bool = False, formats=(".csv", ".xlsx")) -> Path:
    """Check an output path before anything is done; in a terminal, an existing file may be
    replaced after a yes. Everything else that is wrong stops the run with exit 2."""
    try:
        check_output(path, option, inputs=inputs, force=force, formats=formats)
    except OutputExists:
        if not interactive() or not click.confirm(f"{path} exists already. Replace it?", err=True):
            raise
        check_output(path, option, inputs=inputs, force=True, formats=formats)
    return path


def settings_for(profile: str | None = None, **options) -> ConnectionSettings:
    """This run's settings: options > BULKMAIL_* > the selected profile > defaults (no password yet)."""
    names = state().profiles
    if profile is None and len(names) > 1:
        raise InputError(f"--profile was given {len(names)} times; only export works across several profiles. "
                         "Run this command once per profile.")
    return resolve(options, profile or (names[0] if names else None))


def ask(label: str, secret: bool) -> str:
    return click.prompt(label, hide_input=secret, err=True)


def connect(settings: ConnectionSettings, concurrency: int, retries: int) -> Client:
    """A logged-in client; the password is asked without echo when nothing else has it and
    the run is interactive."""
    from ..api.client import Client
    fill_password(settings, ask if interactive() else None)
    for line in describe(settings):
        log.info(line)
    client = Client(settings.base_url, settings.username, settings.password, account_id=settings.account_id,
                    concurrency=concurrency, retry=Retry(attempts=retries + 1), profile=settings.profile,
                    cancel=state().cancel)
    record(profile=settings.profile, service=client.base_url)
    client.login_hint = credentials_hint(settings)
    client.login()
    record(account=client.account_id)
    return client


def confirmation(client: Client, rows, yes: bool):
    """The question asked before anything is sent: yes with --yes; without a terminal, a clear
    refusal; in one, the plan's counts and a prompt (Ctrl-C there stops like any Ctrl-C)."""

    def confirm(plan) -> bool:
        what = (f"add {len(plan.to_add)} and remove {plural(len(plan.to_remove), 'mailbox')} in account "
                f"{client.account_id}")
        if yes:
            return True
        if not interactive():
            raise InputError(f"This run would {what}. Nothing was sent: add --yes to run without a prompt, "
                             "or --dry-run to see the plan.")
        if rows:
            echo(f"Plan: {tally_line(plan_tally(rows))}")
        saved, state().settling = state().settling, False  # Ctrl-C at the prompt: nothing was sent
        try:
            return click.confirm(f"About to {what} ({client.base_url}). Continue?", err=True)
        except click.exceptions.Abort:
            raise KeyboardInterrupt from None
        finally:
            state().settling = saved

    return confirm


def hooks(client: Client, rows, yes: bool, audit=None):
    """What the command line lends a run: progress bars (unless --quiet), the prompt, the
    audit log's run."""
    from ..jobs.options import Hooks
    from .progress import bars

    return Hooks(watch=bars(not state().quiet), confirm=confirmation(client, rows, yes), audit=audit)


def plan_tally(rows):
    """What the plan holds, in the report's words: would_add/would_remove for the changes."""
    from collections import Counter

    return Counter(("would_" + row.action if row.status == PLANNED else row.status) for row in rows)


def tally_line(tally) -> str:
    return ", ".join(f"{s} {tally[s]}" for s in STATUSES if tally[s]) if tally else "no rows"
