"""The everyday commands: login, export, import, validate, template."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..errors import ExitStatus, InputError, Interrupted
from ..files.paths import REPORTS, STDIO, default_output, timestamp, unused_path
from ..words import plural
from .accounts import export_accounts
from .context import echo, record, say, state
from .log import audited
from .options import (
    connection_options,
    file_options,
    force_option,
    login_options,
    max_duration_option,
    output_options,
    reading_options,
    report_option,
)
from .progress import bars
from .session import claim_output, confirmation, connect, settings_for
from .tell import print_results, record_result, report_reading, tell_run

# The library's heavy parts (requests, pandas, werkzeug) are imported inside the commands that
# use them, so that --help, --version and completion start in a blink.

log = logging.getLogger("bulkmail")


@click.command()
@output_options
@login_options
@click.option("--save", is_flag=True, help="Store the typed password in the OS keyring for this address and user.")
def login(base_url, retries, save):
    """Check the credentials and print the account id."""
    from ..config import keyring_set

    settings = settings_for(base_url=base_url)
    client = connect(settings, 1, retries)
    with audited("login", client):
        pass
    say(f"Logged in to {client.base_url} as {client.username}; account {client.account_id}")
    if save:
        if settings.sources["password"] != "prompt":
            say(f"Nothing to save: the password came from {settings.sources['password']}.")
        else:
            keyring_set(settings.base_url, settings.username, settings.password)
            say(f"Saved the password in the keyring for {settings.username} at {settings.base_url}.")
    return ExitStatus.OK


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="File to write, .csv or .xlsx; - for CSV on standard output  "
                   "[default: reports/mailboxes-<timestamp>.csv]")
@click.option("--search", help="Only mailboxes whose address or name contains this text.")
@click.option("--page-size", type=click.IntRange(1, 100_000), help="Rows per page to ask for (the server may grant fewer).")
@click.option("--all-profiles", is_flag=True, help="Export every profile's account (see --profile), with a first "
                                                   "column 'profile'; -o 'name-{profile}.xlsx' writes one file each.")
@max_duration_option
@force_option
@output_options
@connection_options
def export(output, search, page_size, all_profiles, force, base_url, concurrency, retries):
    """Write every mailbox to a CSV or XLSX file."""
    from ..jobs.accounts import profile_path
    from ..jobs.export import ExportOptions, export_mailboxes
    options = ExportOptions(search=search, page_size=page_size, concurrency=concurrency)
    if all_profiles or len(state().profiles) > 1:
        return export_accounts(output, all_profiles, force, base_url, retries, options)
    to_stdout = str(output) == STDIO
    settings = settings_for(base_url=base_url)
    if not to_stdout:
        output = profile_path(output, settings.profile) if output else None  # {profile}: one profile is one file
        output = claim_output(output or unused_path(REPORTS / f"mailboxes-{timestamp()}.csv"), "--output", force=force)
    client = connect(settings, concurrency, retries)
    with audited("export", client, output=str(output or STDIO)) as (_, outcome):
        try:
            result = export_mailboxes(client, STDIO if to_stdout else output, options, bars(not state().quiet))
        except Interrupted as err:  # an export is whole or not at all (written to a temporary file first)
            raise type(err)(f"{err}: the export was not written.") from None
        outcome.update(exit_status=1 if result.uncertain else 0, mailboxes=result.rows, pages=result.pages)
    status = ExitStatus.OK
    if result.uncertain:
        status = ExitStatus.ROWS_FAILED
        echo(f"Error: bulkmail could not be sure it read every mailbox: {'; '.join(result.uncertain)}. The file holds "
             "what was read; run the export again later.")
        record(uncertain=result.uncertain)
    summary = (f"Exported {plural(result.rows, 'mailbox')} ({plural(result.pages, 'page')}, {result.seconds:.1f}s) "
               f"to {'standard output' if to_stdout else result.path}")
    say(summary, err=to_stdout)  # stdout carries the CSV itself then
    record(output=str(STDIO if to_stdout else result.path), mailboxes=result.rows, pages=result.pages)
    return status


@click.command("import")
@file_options
@report_option("results")
@click.option("--dry-run", is_flag=True, help="Plan against the live service and write the report; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed when not run in a terminal).")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Mailboxes per request.")
@click.option("--no-verify", is_flag=True, help="Trust the service's answers instead of re-reading the changes.")
@click.option("--resume", is_flag=True, help="Finish the interrupted run of this same file (rows it applied keep "
                                              "their status; one report covers every row).")
@click.option("--fresh", is_flag=True, help="Start over even though an interrupted run of this file is unfinished.")
@click.option("--max-remove", type=click.IntRange(0), metavar="N",
              help="Stop before sending anything if the plan removes more than N mailboxes.")
@click.option("--allow-mass-remove", is_flag=True,
              help="Allow a plan that removes more than 20% of the account's mailboxes (and more than 20).")
@click.option("--strict", is_flag=True, help="Exit 1 when rows are already_present or not_found (for scheduled "
                                              "jobs: a typo in a leavers list must not pass unnoticed).")
@click.option("--plan-out", type=click.Path(dir_okay=False, path_type=Path), metavar="PLAN.json",
              help="With --dry-run: write the plan for someone to approve; bulkmail apply PLAN.json applies it.")
@max_duration_option
@output_options
@connection_options
def import_(path, sheet, action, mapping, domains, only, force, report, dry_run, yes, batch_size, no_verify, resume,
            fresh, max_remove, allow_mass_remove, strict, plan_out, base_url, concurrency, retries):
    """Add and remove the mailboxes listed in a CSV or XLSX file, and report every row."""
    from ..jobs.change import load, run_change
    from ..jobs.facts import input_facts, run_outcome
    from ..jobs.options import Hooks, ImportOptions
    if resume and (fresh or dry_run):
        raise InputError("--resume cannot be combined with --fresh or --dry-run.")
    from_stdin = str(path) == STDIO
    if from_stdin and resume:
        raise InputError("--resume needs the input file again; standard input cannot be read twice. "
                         "Save the input to a file and import that.")
    if plan_out and not dry_run:
        raise InputError("--plan-out goes with --dry-run: a plan is what a dry run would do. Add --dry-run.")
    if plan_out:
        claim_output(plan_out, "--plan-out", inputs=[path], force=force, formats=(".json",))
    report = claim_output(report or default_output(path), "--report", inputs=[path], force=force)
    if not dry_run:
        from ..files.undo import undo_path
        claim_output(undo_path(report), "the undo file", inputs=[path], force=force)
    settings = settings_for(base_url=base_url, domains=domains, max_remove=max_remove)
    table, rows = load(path, reading_options(sheet, mapping, action, settings.domains, only))
    report_reading(table, len(rows))
    options = ImportOptions(dry_run=dry_run, batch_size=batch_size, verify=not no_verify,
                            max_remove=settings.max_remove, allow_mass_remove=allow_mass_remove, strict=strict,
                            resume=resume, fresh=fresh, plan_out=plan_out)
    client = connect(settings, concurrency, retries)
    confirm = confirmation(client, rows, yes)  # asked before the audit run starts: a no there is a plain refusal
    facts = input_facts(path, len(rows))
    record(input=facts)
    with audited("import", client, input=facts, dry_run=dry_run, resume=resume) as (run, outcome):
        lent = Hooks(watch=bars(not state().quiet), confirm=confirm, audit=None if dry_run else run)
        result = run_change(client, table, rows, options, lent, report=report, facts=facts,
                            source=None if from_stdin else path)  # standard input has no journal
        outcome.update(run_outcome(result))
        if result.finished_before is not None:
            done = result.finished_before
            note = f"Nothing to resume: the last run of {Path(path).name} finished at {done.finished}."
            outcome.update(counts={}, note=note)
    if result.finished_before is not None:
        say(f"{note} Report: {done.report}")
        record(report=done.report, note=note)
        return result.exit_status
    tell_run(result)
    return result.exit_status


@click.command()
@file_options
@report_option("validation")
@output_options
def validate(path, sheet, action, mapping, domains, only, force, report):
    """Check a file offline (never touches the network) and report every row's problems."""
    from ..jobs.change import check_file
    report = claim_output(report or default_output(path, "validation"), "--report", inputs=[path], force=force)
    result = check_file(path, reading_options(sheet, mapping, action, settings_for(domains=domains).domains, only),
                        report=report)
    report_reading(result.sheet, len(result.rows))
    print_results(result)
    record_result(result)
    return result.exit_status


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("import-template.xlsx"),
              show_default=True, help=".xlsx (with dropdowns and instructions) or .csv")
@force_option
@output_options
def template(output, force):
    """Write an import template to fill in."""
    from ..files.template import write_template
    claim_output(output, "-o", force=force)
    say(f"Wrote {write_template(output)}")
    record(output=str(output))
    return ExitStatus.OK
