"""`bulkmail undo RUN_ID`: revert a run found in the audit log, through its undo file."""

from __future__ import annotations

import click

from ..words import plural
from .context import record, say
from .log import audited
from .recurring import change_options, tell_finished
from .session import claim_output, connect, settings_for


@click.command("undo")
@click.argument("run_id", metavar="RUN_ID")
@click.option("--dry-run", is_flag=True, help="Plan the undo against the live service and write the report; change "
                                              "nothing.")
@change_options("undo file", "undo of this same run")
def undo_command(run_id, yes, dry_run, report, batch_size, no_verify, resume, fresh, max_remove, allow_mass_remove,
                 force, base_url, concurrency, retries):
    """Revert a run by its id (bulkmail log lists them): its undo file, planned against the live service, then applied."""
    from ..errors import InputError
    from ..files.paths import default_output
    from ..files.undo import undo_path
    from ..jobs.facts import input_facts, run_outcome
    from ..jobs.options import ImportOptions
    from ..jobs.revert import find_run, undo_run
    from .session import hooks
    from .tell import tell_run

    if resume and (fresh or dry_run):
        raise InputError("--resume cannot be combined with --fresh or --dry-run.")
    target = find_run(run_id)
    record(undoes=run_id)
    say(f"Undoing {target.describe()}: {plural(len(target.rows), 'row')} in its undo file {target.undo}.")
    back = sum(1 for row in target.rows if row.action == "add")
    if back:
        from ..files.undo import CANNOT_COME_BACK

        say(f"It adds back {plural(back, 'mailbox', 'mailboxes')} that run removed: {CANNOT_COME_BACK}.")
    if target.undone_by:
        say(f"Note: run {target.undone_by['run_id']} already undid this run on {target.undone_by.get('time')}; what "
            "is undone already is left as it is.")
    report = claim_output(report or default_output(target.undo), "--report", inputs=[target.undo], force=force)
    if not dry_run:
        claim_output(undo_path(report), "the undo file", inputs=[target.undo], force=force)
    settings = settings_for(base_url=base_url, max_remove=max_remove)
    options = ImportOptions(dry_run=dry_run, batch_size=batch_size, verify=not no_verify,
                            max_remove=settings.max_remove, allow_mass_remove=allow_mass_remove, resume=resume,
                            fresh=fresh)
    client = connect(settings, concurrency, retries)
    facts = input_facts(target.undo, len(target.rows))
    record(input=facts)
    with audited("undo", client, input=facts, undoes=run_id, dry_run=dry_run, resume=resume) as (run, outcome):
        result = undo_run(client, target, options, hooks(client, target.rows, yes, None if dry_run else run),
                          report=report)
        outcome.update(run_outcome(result))
    if not tell_finished(result, f"undo of run {run_id}"):
        tell_run(result)
    return result.exit_status
