"""The commands for recurring work: comparing inventories."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ExitStatus
from ..files.paths import REPORTS, timestamp, unused_path
from ..words import plural
from .context import record, say
from .log import audited
from .options import connection_options, force_option, max_duration_option, output_options
from .session import claim_output, connect, settings_for

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
    from ..files.writing import write_table
    from ..jobs import diff

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


def change_options(source: str, run: str):
    """The options of a command that applies a file bulkmail wrote (apply a plan, undo a run):
    ``source`` names that file in --report's default, ``run`` the run --resume finishes."""

    def decorate(f):
        for option in reversed([
                click.option("-y", "--yes", is_flag=True,
                             help="Do not ask for confirmation (needed when not run in a terminal)."),
                click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
                             help=f"Report file, .csv or .xlsx  [default: reports/<{source}>-<timestamp>-results.csv]"),
                click.option("--batch-size", type=click.IntRange(1, 10_000), default=100, show_default=True,
                             help="Mailboxes per request."),
                click.option("--no-verify", is_flag=True,
                             help="Trust the service's answers instead of re-reading the changes."),
                click.option("--resume", is_flag=True, help=f"Finish the interrupted {run}."),
                click.option("--fresh", is_flag=True, help=f"Start over even though the {run} is unfinished."),
                click.option("--max-remove", type=click.IntRange(0), metavar="N",
                             help="Stop before sending anything if more than N mailboxes would be removed."),
                click.option("--allow-mass-remove", is_flag=True,
                             help="Allow removing more than 20% of the account's mailboxes (and more than 20)."),
                max_duration_option, force_option, output_options, connection_options]):
            f = option(f)
        return f

    return decorate




def tell_finished(result, what: str) -> bool:
    """For --resume of a run that had finished: say so (nothing was done) and return True."""
    if result.finished_before is None:
        return False
    say(f"Nothing to resume: the last {what} finished at {result.finished_before.finished}. "
        f"Report: {result.finished_before.report}")
    return True


@click.command("apply")
@click.argument("plan_path", metavar="PLAN.json", type=click.Path(dir_okay=False, path_type=Path))
@change_options("plan", "apply of this same plan")
def apply_command(plan_path, yes, report, batch_size, no_verify, resume, fresh, max_remove, allow_mass_remove, force,
                  base_url, concurrency, retries):
    """Apply an approved plan exactly: refused when it no longer matches the service."""
    from ..errors import InputError
    from ..files.paths import default_output
    from ..files.undo import undo_path
    from ..jobs.change import run_change
    from ..jobs.facts import input_facts, run_outcome
    from ..jobs.journal import refuse_unfinished
    from ..jobs.options import ImportOptions
    from ..jobs.planfile import check_target, load_plan, plan_rows, refuse_stale, stale_changes
    from .session import hooks
    from .tell import tell_run

    if resume and fresh:
        raise InputError("--resume cannot be combined with --fresh.")
    plan = load_plan(plan_path)
    report = claim_output(report or default_output(plan_path, suffix=".csv"), "--report", inputs=[plan_path],
                          force=force)
    claim_output(undo_path(report), "the undo file", inputs=[plan_path], force=force)
    settings = settings_for(base_url=base_url, max_remove=max_remove)
    client = connect(settings, concurrency, retries)
    check_target(plan, client, plan_path.name)
    table, rows = plan_rows(plan, plan_path)
    if not resume:  # a resumed apply re-reads what it sent itself: its own changes are not staleness
        if not fresh:
            refuse_unfinished(plan_path, client.account_id)
        refuse_stale(stale_changes(plan, client, concurrency), plan_path, plan, client.account_id)
    say(f"Applying {plural(len(rows), 'change')} of {plan_path.name} (made {plan['created']} from "
        f"{plan['input']['path']}).")
    options = ImportOptions(batch_size=batch_size, verify=not no_verify,
                            max_remove=settings.max_remove, allow_mass_remove=allow_mass_remove, resume=resume,
                            fresh=fresh)
    facts = input_facts(plan_path, len(rows))
    record(input=facts)
    with audited("apply", client, input=facts, plan_input=plan["input"], plan_digest=plan["digest"]) as (run, outcome):
        result = run_change(client, table, rows, options, hooks(client, rows, yes, run), report=report,
                            source=plan_path, facts=facts)
        outcome.update(run_outcome(result))
    if not tell_finished(result, f"apply of {plan_path.name}"):
        tell_run(result)
    return result.exit_status


@click.command("sync")
@click.argument("roster", type=click.Path(allow_dash=True, path_type=Path))
@click.option("--sheet", help="Sheet to read (default: the first, or the only one with an email column).")
@click.option("--map", "mapping", multiple=True, metavar='FIELD="Header"',
              help='Read a field from a column whose header bulkmail does not know, e.g. --map email_address="Mail".')
@click.option("--scope", multiple=True, metavar="DOMAIN",
              help="A domain sync manages (repeatable; default: the domains in the roster). Others are never touched.")
@click.option("--keep", multiple=True, metavar="PATTERN|FILE",
              help="Never remove these: a pattern like 'svc-*@acme.com', or a file of addresses (repeatable).")
@click.option("--add-only", is_flag=True, help="Only add roster addresses that are missing; remove nothing.")
@click.option("--remove-only", is_flag=True, help="Only remove live mailboxes not on the roster; add nothing.")
@click.option("--max-remove", metavar="N|N%",
              help="Refuse a plan removing more than N mailboxes, or N% of the scope [default: 10% of the scope, "
                   "and more than 20].")
@click.option("--allow-mass-remove", is_flag=True, help="Allow a plan past --max-remove (after checking the roster!).")
@click.option("--skip-invalid", is_flag=True, help="Go on although some roster rows are invalid (they are reported).")
@click.option("--dry-run", is_flag=True, help="Plan against the live service and write the report; change nothing.")
@click.option("--plan-out", type=click.Path(dir_okay=False, path_type=Path), metavar="PLAN.json",
              help="With --dry-run: write the plan for someone to approve; bulkmail apply PLAN.json applies it.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed when not run in a terminal).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Report file, .csv or .xlsx  [default: reports/<roster>-<timestamp>-results.<roster's format>]")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Mailboxes per request.")
@click.option("--resume", is_flag=True, help="Finish the interrupted sync of this same roster.")
@click.option("--fresh", is_flag=True, help="Start over even though a sync of this roster is unfinished.")
@max_duration_option
@force_option
@output_options
@connection_options
def sync_command(roster, sheet, mapping, scope, keep, add_only, remove_only, max_remove, allow_mass_remove,
                 skip_invalid, dry_run, plan_out, yes, report, batch_size, resume, fresh, force, base_url, concurrency,
                 retries):
    """Make the service match a roster: add who is missing, remove who is not on it (within the scope)."""
    from ..files.paths import default_output
    from ..files.reading import read_table
    from ..files.undo import undo_path
    from ..jobs.facts import input_facts, run_outcome
    from ..jobs.options import ImportOptions
    from ..jobs.sync import SyncOptions, sync
    from .options import parse_mapping
    from .session import hooks
    from .tell import report_reading, tell_run

    _check_sync_options(add_only, remove_only, max_remove, resume, fresh, dry_run, plan_out)
    inputs = [roster, *(item for item in keep if Path(item).is_file())]  # a --keep file is read too
    if plan_out:
        claim_output(plan_out, "--plan-out", inputs=inputs, force=force, formats=(".json",))
    report = claim_output(report or default_output(roster), "--report", inputs=inputs, force=force)
    if not dry_run:
        claim_output(undo_path(report), "the undo file", inputs=inputs, force=force)
    # A roster's hidden rows are read: left out, their mailboxes would be removed.
    table = read_table(roster, sheet, parse_mapping(mapping), hidden_rows=True)
    report_reading(table, len(table))
    settings = settings_for(base_url=base_url)
    options = SyncOptions(scope=tuple(scope), keep=tuple(keep), add_only=add_only, remove_only=remove_only,
                          max_remove=max_remove, allow_mass_remove=allow_mass_remove, skip_invalid=skip_invalid)
    importing = ImportOptions(dry_run=dry_run, batch_size=batch_size, resume=resume, fresh=fresh, plan_out=plan_out)
    client = connect(settings, concurrency, retries)
    facts = input_facts(roster, len(table))
    record(input=facts)
    with audited("sync", client, input=facts, dry_run=dry_run, resume=resume) as (run, outcome):
        result = sync(client, table, options, importing, hooks(client, [], yes, None if dry_run else run),
                      report=report, source=None if str(roster) == "-" else roster, facts=facts)
        outcome.update(run_outcome(result))
    if not tell_finished(result, f"sync of {roster.name}"):
        tell_run(result, quiet=("already_present",))  # present is a roster's normal case
    return result.exit_status


def _check_sync_options(add_only, remove_only, max_remove, resume, fresh, dry_run, plan_out) -> None:
    """Options that cannot go together stop the sync before the login."""
    from ..errors import InputError
    from ..jobs.rails import limit

    if add_only and remove_only:
        raise InputError("--add-only and --remove-only together would change nothing. Keep one of them.")
    limit(max_remove, 0)  # a --max-remove that cannot be used
    if resume and (fresh or dry_run):
        raise InputError("--resume cannot be combined with --fresh or --dry-run.")
    if plan_out and not dry_run:
        raise InputError("--plan-out goes with --dry-run: a plan is what a dry run would do. Add --dry-run.")
