"""The command line: options -> one library call -> a summary and an exit status.

main() is the one place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

import click

from .. import __version__
from .accounts import export_accounts, profile, profile_path
from .log import audited, log_command
from .recurring import apply_command, diff_command, run_outcome, sync_command
from .undo import undo_command
from .common import (Environment, State, claim_output, confirmation, connect, connection_options, echo,
                         file_options, force_option, input_facts, login_options, max_duration_option, output_options, print_results,
                         reading_options, record, record_result, report_option, report_reading, say, settings_for,
                         state, tell_run)
from ..errors import BulkmailError, ExitStatus, InputError, Interrupted, Terminated
from ..files.paths import REPORTS, STDIO, default_output, timestamp, unused_path
from ..words import plural
from .progress import bars

# The library's heavy parts (requests, pandas, werkzeug) are imported inside the commands that
# use them, so that --help, --version and completion start in a blink.

log = logging.getLogger("bulkmail")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bulkmail")
@output_options
def cli():
    """Export, add and remove the mailboxes of an Email Security console in bulk.

    \b
    Start with:  bulkmail demo      (a full cycle on a built-in sandbox)
    Then:        bulkmail export -o mailboxes.xlsx
                 bulkmail import wave.xlsx --dry-run
    """


cli.add_command(profile)
cli.add_command(log_command)
cli.add_command(diff_command)
cli.add_command(apply_command)
cli.add_command(sync_command)
cli.add_command(undo_command)


@cli.command()
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


@cli.command()
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
        echo("Error: others kept changing the mailbox list during the export, and bulkmail could not be sure it read "
             f"every mailbox {'; '.join(result.uncertain)}. Run the export again when the list is quieter.")
        record(uncertain=result.uncertain)
    summary = (f"Exported {plural(result.rows, 'mailbox')} ({plural(result.pages, 'page')}, {result.seconds:.1f}s) "
               f"to {'standard output' if to_stdout else result.path}")
    say(summary, err=to_stdout)  # stdout carries the CSV itself then
    record(output=str(STDIO if to_stdout else result.path), mailboxes=result.rows, pages=result.pages)
    return status


@cli.command("import")
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
                            resume=resume, fresh=fresh)
    client = connect(settings, concurrency, retries)
    confirm = confirmation(client, rows, yes)  # asked before the audit run starts: a no there is a plain refusal
    facts = input_facts(path, len(rows))
    record(input=facts)
    with audited("import", client, input=facts, dry_run=dry_run, resume=resume) as (run, outcome):
        lent = Hooks(watch=bars(not state().quiet), confirm=confirm, audit=None if dry_run else run)
        result = run_change(client, table, rows, options, lent, report=report,
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
    tell_run(result, path, client, plan_out)
    return result.exit_status


@cli.command()
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
    record_result(result, path)
    return result.exit_status


@cli.command()
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


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option("--port", type=int, default=8025, show_default=True, help="0 picks a free port.")
@click.option("--mailboxes", type=click.IntRange(0), default=250, show_default=True, help="Mailboxes to start with.")
@click.option("--page-size-max", type=click.IntRange(1), default=100, show_default=True,
              help="Largest page the list call grants, whatever is asked.")
@click.option("--token-lifetime", type=float, default=86400, show_default=True,
              help="Seconds a login token lasts (then calls answer 401).")
@click.option("--duplicate-add", type=click.Choice(["conflict", "ignore"]), default="conflict", show_default=True,
              help="Adding an existing mailbox: 409 for the batch, or a silent no-op.")
@click.option("--missing-remove", type=click.Choice(["not_found", "ignore"]), default="not_found", show_default=True,
              help="Removing a missing mailbox: 404 for the batch, or silently ignored.")
@click.option("--post-answer", type=click.Choice(["success", "list", "created", "empty"]), default="success",
              show_default=True, help='Answer to an add: 200 {"success": true}, 200 with the created list, 201, or 204.')
@click.option("--delete-answer", type=click.Choice(["body", "empty"]), default="body", show_default=True,
              help="Answer to a remove: 200 with a body, or 204.")
@click.option("--error-style", type=click.Choice(["message", "error", "html"]), default="message", show_default=True,
              help='Errors as {"message": …}, {"error": …}, or a proxy\'s HTML page.')
@click.option("--ignore-realname", is_flag=True, help="Drop the name given in an add (the mailbox shows ' ').")
@click.option("--max-batch", type=click.IntRange(1), help="Larger batches get 413.")
@click.option("--latency", type=float, default=0.0, show_default=True, help="Seconds added to every answer.")
@click.option("--rate-limit-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Share of calls answered 429.")
@click.option("--retry-after", type=float, help="Retry-After seconds on 429s (default: no header).")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Share of calls answered 5xx.")
@click.option("--lost-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of changes applied, then the connection dropped.")
@click.option("--bucket-rate", type=click.FloatRange(0), default=0.0, show_default=True,
              help="A rate limit shared by every client: requests a second refilling a token bucket (0: off).")
@click.option("--bucket-burst", type=click.IntRange(1), default=10, show_default=True,
              help="The token bucket's size: requests allowed at once after a quiet spell.")
@click.option("--no-bucket-retry-after", "bucket_retry_after", flag_value=False, default=True,
              help="The bucket's 429s carry no Retry-After header.")
@click.option("--revoke-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of calls whose live token is revoked (401), as when a session is ended elsewhere.")
@click.option("--single-session", is_flag=True, help="A login ends the user's older tokens (one session per user).")
@click.option("--empty-page-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of list answers with no data while meta still counts the rows.")
@click.option("--stall-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of calls that stall before answering.")
@click.option("--stall-seconds", type=click.FloatRange(0), default=1.0, show_default=True,
              help="How long a stalled call waits.")
@click.option("--churn-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of list calls after which another writer removes one mailbox and adds one.")
@click.option("--ignore-page-size", is_flag=True, help="Always send pages of 20.")
@click.option("--ignore-page", is_flag=True, help="Always send the first page.")
@click.option("--no-meta", "send_meta", flag_value=False, default=True, help="List answers without a page count.")
@click.option("--two-factor", is_flag=True, help="Login answers ask for a second factor.")
@click.option("--seed", type=int, help="Random seed for the fault knobs.")
@click.option("--accounts", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Customer accounts to serve, each with its own login, id, domains and mailboxes.")
def sandbox(host, port, mailboxes, accounts, **knobs):
    """Run the local API emulator (every variant of the API, with fault knobs)."""
    from ..api.http import is_loopback
    from ..sandbox import Sandbox, Settings

    if not is_loopback(host):
        raise InputError(f"The sandbox listens on loopback only; {host} is not a loopback address.")
    server = Sandbox(Settings(**knobs), host=host, port=port, seed_mailboxes=mailboxes, accounts=accounts)
    settings = server.settings
    say(f"Sandbox listening on {server.url} with {mailboxes} mailboxes (Ctrl-C to stop). Demo credentials:")
    say(f"  export BULKMAIL_BASE_URL={server.url}")
    say(f"  export BULKMAIL_USERNAME={settings.username}")
    say(f"  export BULKMAIL_PASSWORD={settings.password}")
    say(f"Registered domains: {', '.join(settings.domains)}")
    for account in server.accounts[1:]:
        say(f"Account {account.account_id}: user {account.username}, password {account.password}, "
                   f"domains {', '.join(account.domains)}")
    try:
        server.serve_forever()
    finally:
        server.close()
    return ExitStatus.OK


# The demo's inputs ship with the package, so the demo works outside a checkout too.
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@cli.command()
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=REPORTS, show_default=True,
              help="Folder for the demo's exports and report.")
@output_options
def demo(output_dir):
    """A full cycle on a built-in sandbox: export the mailboxes, import a sample sheet, report."""
    from ..api.client import Client
    from ..jobs.export import ExportOptions, export_mailboxes
    from ..jobs.change import load, run_change
    from ..jobs.options import Hooks
    from ..sandbox import Sandbox

    sample = SAMPLES / "onboarding-wave.xlsx"
    if not sample.is_file():
        raise InputError(f"The demo's sample {sample} is missing: reinstall bulkmail.")
    with Sandbox(seed_mailboxes=250) as server:
        say(f"Started a sandbox at {server.url} with 250 mailboxes "
                   f"(domains {', '.join(server.settings.domains)}).")
        client = Client(server.url, server.settings.username, server.settings.password)
        client.login()
        stamp = timestamp()
        for suffix in ("csv", "xlsx"):
            result = export_mailboxes(client, output_dir / f"demo-mailboxes-{stamp}.{suffix}", ExportOptions(),
                                      bars(not state().quiet))
            say(f"Exported {plural(result.rows, 'mailbox')} ({plural(result.pages, 'page')}) to {result.path}")
        table, rows = load(sample)
        say(f"Importing {plural(len(rows), 'row')} from {table.where} ...")
        outcome = run_change(client, table, rows, hooks=Hooks(watch=bars(not state().quiet)),
                             report=default_output(sample, folder=output_dir))
        print_results(outcome)
        after = export_mailboxes(client, output_dir / f"demo-mailboxes-after-{stamp}.csv")
        say(f"Exported {plural(after.rows, 'mailbox')} after the import to {after.path}")
        settings = server.settings
    say("Next, rehearse on your own: run 'bulkmail sandbox' in another terminal, then here:")
    say(f"  BULKMAIL_BASE_URL=http://127.0.0.1:8025 BULKMAIL_USERNAME={settings.username} "
               f"BULKMAIL_PASSWORD={settings.password} bulkmail import {SAMPLES / 'every-error.xlsx'} --dry-run")
    return outcome.exit_status


@contextmanager
def reading_from(stdin: TextIO) -> Iterator[None]:
    """Prompts and '-' inputs read ``stdin`` (click and the readers use sys.stdin)."""
    saved, sys.stdin = sys.stdin, stdin
    try:
        yield
    finally:
        sys.stdin = saved


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status."""
    if argv is None and os.environ.get("_BULKMAIL_COMPLETE"):  # shell completion: click answers and exits
        cli.main(prog_name="bulkmail")
    sys.exit(run(argv))


def run(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """The command line's exit status for ``argv``, run in ``env`` (default: this process's).
    Under --json, standard output gets exactly one JSON object at the end, whatever happened."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ctx_state = State(env)
    started, clock = datetime.now(timezone.utc), time.monotonic()
    with stopping_on_signals(ctx_state):
        code, error = _run(argv, ctx_state)
    if ctx_state.json or "--json" in argv:
        _print_json(ctx_state, argv, int(code), error, started, time.monotonic() - clock)
    return code


@contextmanager
def stopping_on_signals(ctx_state: State) -> Iterator[None]:
    """Ctrl-C and SIGTERM (what systemd, cron wrappers and CI send). While the library works
    against the service, the first asks it to stop cleanly: nothing new is sent, what is on
    the wire is settled, the report is written, exit 130 or 143. Before that (reading, the
    prompt) it stops at once, as nothing was sent. A second signal always stops at once; the
    journal keeps what --resume needs."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return

    def stop(signum, _frame):
        terminated = signum == signal.SIGTERM
        reason = Terminated("Stopped by SIGTERM") if terminated else Interrupted("Interrupted")
        if not ctx_state.cancel.set(reason) and ctx_state.settling:
            os.write(2, b"\nStopped at once. The journal keeps what was sent: run the same command with --resume.\n")
            os._exit(ExitStatus.TERMINATED if terminated else ExitStatus.INTERRUPTED)
        if not ctx_state.settling:
            raise reason if terminated else KeyboardInterrupt

    saved = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    if os.environ.get("BULKMAIL_THREAD_DUMP") and hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # the combined-fault harness's hang report
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def _run(argv: list[str], ctx_state: State) -> tuple[int, str | None]:
    """(exit status, error message or None): the one place that turns exceptions into both."""
    try:
        with reading_from(ctx_state.env.stdin), cli.make_context("bulkmail", list(argv), obj=ctx_state) as ctx:
            code = int(cli.invoke(ctx) or 0)
            return code, ctx_state.result.pop("error", None)
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code, None
    except click.ClickException as exc:
        exc.show()
        return (ExitStatus.BAD_INPUT if exc.exit_code == 2 else exc.exit_code), exc.format_message()
    except (KeyboardInterrupt, click.exceptions.Abort):
        echo("\nInterrupted.")
        return ExitStatus.INTERRUPTED, "Interrupted."
    except BulkmailError as exc:
        echo(f"Error: {exc}")
        return exc.exit_status, str(exc)
    except BrokenPipeError:  # the reader of stdout went away (bulkmail … | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
        return ExitStatus.ROWS_FAILED, "standard output was closed"
    except Exception as exc:  # a bug: say so plainly; the traceback only with -v
        if ctx_state.verbose:
            traceback.print_exc()
        echo(f"Internal error: {type(exc).__name__}: {exc}. Run again with -v and report it.")
        return ExitStatus.ROWS_FAILED, f"Internal error: {type(exc).__name__}: {exc}"
    finally:
        log.handlers.clear()  # the handler holds this run's stderr


def command_name(argv: list[str]) -> str | None:
    """The command the arguments name ('import', 'profile list'), skipping global options."""
    words, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--profile":
            skip = True
        elif not word.startswith("-"):
            words.append(word)
    if not words:
        return None
    return " ".join(words[:2]) if words[0] == "profile" and len(words) > 1 else words[0]


def _print_json(ctx_state: State, argv: list[str], code: int, error: str | None, started: datetime,
                seconds: float) -> None:
    """The --json object: the keys every command has, then what the command recorded."""
    import json

    keys = {"command": command_name(argv), "exit_status": code, "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "duration_s": round(seconds, 3),
            "version": __version__, "profile": None, "service": None, "account": None, "error": error}
    keys.update({k: v for k, v in ctx_state.result.items() if k not in ("command", "exit_status", "error")})
    click.echo(json.dumps(keys, default=str))
