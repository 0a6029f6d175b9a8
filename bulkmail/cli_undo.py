"""`bulkmail undo RUN_ID`: revert a run found in the audit log, through its undo file."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_audit import audited
from .cli_common import claim_output, connect, connection_options, force_option, input_facts, output_options, record, \
    say, settings_for
from .words import plural


@click.command("undo")
@click.argument("run_id", metavar="RUN_ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed when not run in a terminal).")
@click.option("--dry-run", is_flag=True, help="Plan the undo against the live service and write the report; change "
                                              "nothing.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Report file, .csv or .xlsx  [default: reports/<undo file>-<timestamp>-results.csv]")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Mailboxes per request.")
@click.option("--no-verify", is_flag=True, help="Trust the service's answers instead of re-reading the changes.")
@click.option("--resume", is_flag=True, help="Finish the interrupted undo of this same run.")
@click.option("--fresh", is_flag=True, help="Start over even though an undo of this run is unfinished.")
@click.option("--max-remove", type=click.IntRange(0), metavar="N",
              help="Stop before sending anything if the undo removes more than N mailboxes.")
@click.option("--allow-mass-remove", is_flag=True,
              help="Allow an undo that removes more than 20% of the account's mailboxes (and more than 20).")
@force_option
@output_options
@connection_options
def undo_command(run_id, yes, dry_run, report, batch_size, no_verify, resume, fresh, max_remove, allow_mass_remove,
                 force, base_url, concurrency, retries):
    """Revert a run by its id (bulkmail log lists them): its undo file, planned against the live service, then applied."""
    from .cli_common import confirmation, state, tell_run
    from .errors import InputError
    from .importer import ImportOptions
    from .paths import default_output
    from .undo import find_run, undo_path, undo_run

    if resume and (fresh or dry_run):
        raise InputError("--resume cannot be combined with --fresh or --dry-run.")
    target = find_run(run_id)
    record(undoes=run_id)
    say(f"Undoing {target.describe()}: {plural(len(target.rows), 'row')} in its undo file {target.undo}.")
    if target.undone_by:
        say(f"Note: run {target.undone_by['run_id']} already undid this run on {target.undone_by.get('time')}; what "
            "is undone already is left as it is.")
    report = claim_output(report or default_output(target.undo), "--report", inputs=[target.undo], force=force)
    if not dry_run:
        claim_output(undo_path(report), "the undo file", inputs=[target.undo], force=force)
    settings = settings_for(base_url=base_url, max_remove=max_remove)
    options = ImportOptions(dry_run=dry_run, batch_size=batch_size, concurrency=concurrency, verify=not no_verify,
                            max_remove=settings.max_remove, allow_mass_remove=allow_mass_remove, resume=resume,
                            fresh=fresh, progress=not state().quiet)
    client = connect(settings, concurrency, retries)
    facts = input_facts(target.undo, len(target.rows))
    record(input=facts)
    with audited("undo", client, input=facts, undoes=run_id, dry_run=dry_run, resume=resume) as (run, outcome):
        result = undo_run(client, target, options, report=report, confirm=confirmation(client, target.rows, yes),
                          on_changes=None if dry_run else run.changes)
        outcome.update(exit_status=int(result.exit_status), counts={str(k): v for k, v in result.counts.items()},
                       report=str(result.report.resolve()), error=str(result.stopped) if result.stopped else None)
    if result.finished_before is not None:
        say(f"Nothing to resume: the last undo of run {run_id} finished at {result.finished_before.finished}. "
            f"Report: {result.finished_before.report}")
        return result.exit_status
    tell_run(result, target.undo)
    return result.exit_status
