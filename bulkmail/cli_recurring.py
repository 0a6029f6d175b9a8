"""The commands for recurring work: comparing inventories."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_audit import audited
from .cli_common import (claim_output, connect, connection_options, force_option, output_options, record, say,
                         settings_for)
from .errors import ExitStatus
from .paths import REPORTS, timestamp, unused_path
from .words import plural

LIVE = "live"


@click.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write, .csv or .xlsx  [default: reports/diff-<timestamp>.csv]")
@click.option("--as-import", is_flag=True, help="Write instead an import file (action column) that turns NEW back "
                                                "into OLD: appeared -> remove, disappeared -> add.")
@force_option
@output_options
@connection_options
def diff_command(old, new, output, as_import, force, base_url, concurrency, retries):
    """Compare two exports (or 'live' for the service now): what appeared, disappeared, changed."""
    from . import diff
    from .writing import write_table

    inputs = [p for p in (old, new) if p != LIVE]
    kind = "undo-diff" if as_import else "diff"
    output = claim_output(output or unused_path(REPORTS / f"{kind}-{timestamp()}.csv"), "--output", inputs=inputs,
                          force=force)
    snapshots = {name: diff.read_snapshot(name) for name in inputs}
    if LIVE in (old, new):
        client = connect(settings_for(base_url=base_url), concurrency, retries)
        with audited("diff", client) as (_, outcome):
            snapshots[LIVE] = diff.live_snapshot(client, concurrency)
            outcome.update(exit_status=0, mailboxes=len(snapshots[LIVE].mailboxes))
    lines = diff.compare(snapshots[old], snapshots[new])
    tally = diff.counts(lines)
    say(f"Compared {snapshots[old].where} ({plural(len(snapshots[old].mailboxes), 'mailbox')}) with "
        f"{snapshots[new].where} ({plural(len(snapshots[new].mailboxes), 'mailbox')}).")
    say("Diff: " + ", ".join(f"{s} {tally[s]}" for s in (diff.APPEARED, diff.DISAPPEARED, diff.CHANGED)))
    if as_import:
        rows = diff.as_import(lines)
        write_table(output, diff.IMPORT_COLUMNS, rows)
        if tally[diff.CHANGED]:
            say(f"{plural(tally[diff.CHANGED], 'changed mailbox', 'changed mailboxes')} cannot be turned back: the API "
                "has no call to change an existing mailbox.")
        say(f"Import file: {output} ({plural(len(rows), 'row')}; check it with bulkmail import {output} --dry-run)")
    else:
        write_table(output, diff.COLUMNS, lines)
        say(f"Report: {output}")
    record(counts={s: tally[s] for s in (diff.APPEARED, diff.DISAPPEARED, diff.CHANGED)}, output=str(output))
    return ExitStatus.OK
