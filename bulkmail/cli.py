"""The command line: options -> one library call -> a summary and an exit status.

main() is the one place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .client import DEFAULT_BASE_URL, Client
from .config import load_settings
from .errors import BulkmailError, ExitStatus, InputError, OutputExists
from .export import export_mailboxes
from .importer import AlreadyFinished, check_file, default_report_path, load, open_journal, run_import
from .paths import REPORTS, STDIO, check_output, timestamp, unused_path
from .records import NOT_ATTEMPTED, PLANNED, STATUSES
from .report import problems
from .retry import Retry
from .table import check_safe_xml
from .template import write_template
from .words import plural

log = logging.getLogger("bulkmail")
# The terminal lists this many rows to look at; the report has them all.
SHOW_PROBLEMS = 10


class State:
    verbose = 0
    quiet = False


def output_options(f):
    """-v/-q are accepted before and after the command name."""

    def set_verbose(ctx, _param, value):
        ctx.ensure_object(State).verbose += value
        setup_logging(ctx.ensure_object(State).verbose)

    def set_quiet(ctx, _param, value):
        ctx.ensure_object(State).quiet |= value

    f = click.option("-v", "--verbose", count=True, expose_value=False, callback=set_verbose,
                     help="Say more (-vv: every HTTP call, never its headers).")(f)
    f = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=set_quiet,
                     help="No progress bars.")(f)
    return f


def login_options(f):
    f = click.option("--base-url", envvar="BULKMAIL_BASE_URL", default=DEFAULT_BASE_URL, show_default=True,
                     help="API address (env BULKMAIL_BASE_URL). Credentials come from BULKMAIL_USERNAME and "
                          "BULKMAIL_PASSWORD, or a prompt.")(f)
    f = click.option("--retries", type=click.IntRange(0, 20), default=5, show_default=True,
                     help="Tries again after a rate limit, server error or dropped connection.")(f)
    return f


def connection_options(f):
    f = login_options(f)
    f = click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True,
                     help="Requests in flight at once.")(f)
    return f


def force_option(f):
    return click.option("--force", is_flag=True, help="Replace an existing output file (never the input).")(f)


def interactive() -> bool:
    return sys.stdin.isatty()


def claim_output(path: Path, option: str, *, inputs=(), force: bool = False) -> Path:
    """Check an output path before anything is done; in a terminal, an existing file may be
    replaced after a yes. Everything else that is wrong stops the run with exit 2."""
    try:
        check_output(path, option, inputs=inputs, force=force)
    except OutputExists:
        if not interactive() or not click.confirm(f"{path} exists already. Replace it?", err=True):
            raise
        check_output(path, option, inputs=inputs, force=True)
    return path


def connect(base_url: str, concurrency: int, retries: int) -> Client:
    """A logged-in client; the password is asked without echo when missing and interactive."""
    def ask(label: str, secret: bool) -> str:
        return click.prompt(label, hide_input=secret, err=True)

    settings = load_settings(base_url, ask if interactive() else None)
    client = Client(settings.base_url, settings.username, settings.password, account_id=settings.account_id,
                    concurrency=concurrency, retry=Retry(attempts=retries + 1))
    client.login()
    return client


def state() -> State:
    return click.get_current_context().ensure_object(State)


def echo(message: str = "") -> None:
    click.echo(message, err=True)


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


@cli.command()
@output_options
@login_options
def login(base_url, retries):
    """Check the credentials and print the account id."""
    client = connect(base_url, 1, retries)
    click.echo(f"Logged in to {client.base_url} as {client.username}; account {client.account_id}")
    return ExitStatus.OK


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="File to write, .csv or .xlsx; - for CSV on standard output  "
                   "[default: reports/mailboxes-<timestamp>.csv]")
@click.option("--search", help="Only mailboxes whose address or name contains this text.")
@click.option("--page-size", type=click.IntRange(1, 100_000), help="Rows per page to ask for (the server may grant fewer).")
@force_option
@output_options
@connection_options
def export(output, search, page_size, force, base_url, concurrency, retries):
    """Write every mailbox to a CSV or XLSX file."""
    to_stdout = str(output) == STDIO
    if not to_stdout:
        output = claim_output(output or unused_path(REPORTS / f"mailboxes-{timestamp()}.csv"), "--output", force=force)
    client = connect(base_url, concurrency, retries)
    result = export_mailboxes(client, STDIO if to_stdout else output, search=search, page_size=page_size,
                              concurrency=concurrency, progress=not state().quiet)
    if result.total_changed:
        echo(f"Warning: the mailbox count changed during the export ({result.totals[0]} -> {result.totals[-1]}): "
             "mailboxes were added or removed meanwhile. Run it again for an exact snapshot.")
    summary = (f"Exported {plural(result.rows, 'mailbox')} ({plural(result.pages, 'page')}, {result.seconds:.1f}s) "
               f"to {'standard output' if to_stdout else result.path}")
    click.echo(summary, err=to_stdout)  # stdout carries the CSV itself then
    return ExitStatus.OK


def file_options(f):
    """How to read an input file: shared by import and validate."""
    f = click.argument("path", type=click.Path(allow_dash=True, path_type=Path))(f)
    f = click.option("--sheet", help="Sheet to read (default: the first, or the only one with an email column).")(f)
    f = click.option("--action", type=click.Choice(["add", "remove"], case_sensitive=False),
                     help="Action for rows without one (files with no action column).")(f)
    f = click.option("--map", "mapping", multiple=True, metavar='FIELD="Header"',
                     help="Read a field from a column whose header bulkmail does not know, e.g. "
                          '--map email_address="Mail Addr". Fields: action, email_address, executive, realname.')(f)
    f = click.option("--domain", "domains", multiple=True, metavar="DOMAIN",
                     help="Allow only addresses in this domain (repeatable); other rows are invalid.")(f)
    f = force_option(f)
    return f


def report_option(kind: str):
    return click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
                        help=f"Report file, .csv or .xlsx  [default: reports/<input>-<timestamp>-{kind}.<xlsx for a "
                             "spreadsheet input, else csv>]")


def parse_mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        name, equals, header = pair.partition("=")
        if not equals or not name.strip() or not header.strip():
            raise InputError(f'--map takes FIELD="Header", e.g. --map email_address="Mail Addr"; got {pair!r}.')
        mapping[name.strip()] = header.strip().strip('"')
    return mapping


def report_reading(table, count: int) -> None:
    """What was read; a switch to another sheet is said always, the rest of the detection with -v."""
    log.info("read %s: %s", table.where, ", ".join(table.notes))
    click.echo(f"Read {plural(count, 'row')} from {table.where}.")
    for note in table.notes:
        if "has no email column" in note:
            click.echo(note[0].upper() + note[1:] + ".")


def tally_line(tally) -> str:
    return ", ".join(f"{s} {tally[s]}" for s in STATUSES if tally[s]) if tally else "no rows"


def print_results(result) -> None:
    """The counts, the first rows to look at, warnings, and where the report is."""
    click.echo(f"Results: {tally_line(result.counts)}")
    look = problems(result.rows)
    if getattr(result, "stopped", None) is not None:  # the error says why these were not sent, once
        look = [row for row in look if row.status != NOT_ATTEMPTED]
    if look:
        click.echo("Rows to look at:")
        for row in look[:SHOW_PROBLEMS]:
            click.echo(f"  row {row.row}  {row.email_address or '(no address)'}  {row.status}  {row.detail}")
        if len(look) > SHOW_PROBLEMS:
            click.echo(f"  and {len(look) - SHOW_PROBLEMS} more — see the report")
    for warning in result.warnings:
        echo(f"Warning: {warning}")
    click.echo(f"Report: {result.report}")


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
@output_options
@connection_options
def import_(path, sheet, action, mapping, domains, force, report, dry_run, yes, batch_size, no_verify, resume, fresh,
            max_remove, allow_mass_remove, strict, base_url, concurrency, retries):
    """Add and remove the mailboxes listed in a CSV or XLSX file, and report every row."""
    if resume and (fresh or dry_run):
        raise InputError("--resume cannot be combined with --fresh or --dry-run.")
    from_stdin = str(path) == STDIO
    if from_stdin and resume:
        raise InputError("--resume needs the input file again; standard input cannot be read twice. "
                         "Save the input to a file and import that.")
    report = claim_output(report or default_report_path(path), "--report", inputs=[path], force=force)
    table, rows = load(path, sheet=sheet, mapping=parse_mapping(mapping), action=action and action.lower(),
                       domains=domains)
    report_reading(table, len(rows))
    client = connect(base_url, concurrency, retries)
    journal, resuming = None, False
    if not dry_run and not from_stdin:  # a journal keeps what a resume needs
        try:
            journal, resuming = open_journal(path, client.account_id, resume=resume, fresh=fresh)
        except AlreadyFinished as done:
            click.echo(f"{done} Report: {done.report}")
            return done.exit_status
    try:
        if resume and not resuming:
            click.echo("No interrupted run of this file to resume; starting a new run.")

        def confirm(plan) -> bool:
            what = (f"add {len(plan.to_add)} and remove {plural(len(plan.to_remove), 'mailbox')} in account "
                    f"{client.account_id}")
            if yes:
                return True
            if not interactive():
                raise InputError(f"This run would {what}. Nothing was sent: add --yes to run without a prompt, "
                                 "or --dry-run to see the plan.")
            echo(f"Plan: {tally_line(plan_tally(rows))}")
            try:
                return click.confirm(f"About to {what} ({client.base_url}). Continue?", err=True)
            except click.exceptions.Abort:  # Ctrl-C at the prompt: the run stops like any Ctrl-C
                raise KeyboardInterrupt from None

        result = run_import(client, table, rows, dry_run=dry_run, batch_size=batch_size, concurrency=concurrency,
                            check=not no_verify, report=report, confirm=confirm, progress=not state().quiet,
                            journal=journal, resuming=resuming, max_remove=max_remove,
                            allow_mass_remove=allow_mass_remove, strict=strict)
    finally:
        if journal is not None:
            journal.close()
    if result.stopped is not None:
        echo(f"Error: {result.stopped}")
    if result.refused is not None:
        echo(f"Warning: the real run would be refused: {result.refused}")
    print_results(result)
    return result.exit_status


def plan_tally(rows):
    """What the plan holds, in the report's words: would_add/would_remove for the changes."""
    from collections import Counter

    return Counter(("would_" + row.action if row.status == PLANNED else row.status) for row in rows)


@cli.command()
@file_options
@report_option("validation")
@output_options
def validate(path, sheet, action, mapping, domains, force, report):
    """Check a file offline (never touches the network) and report every row's problems."""
    report = claim_output(report or default_report_path(path, "validation"), "--report", inputs=[path], force=force)
    result = check_file(path, sheet=sheet, mapping=parse_mapping(mapping), action=action and action.lower(),
                        domains=domains, report=report)
    report_reading(result.sheet, len(result.rows))
    print_results(result)
    return result.exit_status


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("import-template.xlsx"),
              show_default=True, help=".xlsx (with dropdowns and instructions) or .csv")
@force_option
def template(output, force):
    """Write an import template to fill in."""
    claim_output(output, "-o", force=force)
    click.echo(f"Wrote {write_template(output)}")
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
@click.option("--ignore-page-size", is_flag=True, help="Always send pages of 20.")
@click.option("--ignore-page", is_flag=True, help="Always send the first page.")
@click.option("--no-meta", "send_meta", flag_value=False, default=True, help="List answers without a page count.")
@click.option("--two-factor", is_flag=True, help="Login answers ask for a second factor.")
@click.option("--seed", type=int, help="Random seed for the fault knobs.")
def sandbox(host, port, mailboxes, **knobs):
    """Run the local API emulator (every variant of the API, with fault knobs)."""
    from .client import is_loopback
    from .sandbox import Sandbox, Settings

    if not is_loopback(host):
        raise InputError(f"The sandbox listens on loopback only; {host} is not a loopback address.")
    server = Sandbox(Settings(**knobs), host=host, port=port, seed_mailboxes=mailboxes)
    settings = server.settings
    click.echo(f"Sandbox listening on {server.url} with {mailboxes} mailboxes (Ctrl-C to stop). Demo credentials:")
    click.echo(f"  export BULKMAIL_BASE_URL={server.url}")
    click.echo(f"  export BULKMAIL_USERNAME={settings.username}")
    click.echo(f"  export BULKMAIL_PASSWORD={settings.password}")
    click.echo(f"Registered domains: {', '.join(settings.domains)}")
    try:
        server.serve_forever()
    finally:
        server.close()
    return ExitStatus.OK


SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@cli.command()
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=REPORTS, show_default=True,
              help="Folder for the demo's exports and report.")
@output_options
def demo(output_dir):
    """A full cycle on a built-in sandbox: export the mailboxes, import a sample sheet, report."""
    from .sandbox import Sandbox

    sample = SAMPLES / "onboarding-wave.xlsx"
    if not sample.is_file():
        raise InputError(f"The demo's sample {sample} is missing; run bulkmail demo from a checkout "
                         "installed with pip install -e.")
    with Sandbox(seed_mailboxes=250) as server:
        click.echo(f"Started a sandbox at {server.url} with 250 mailboxes "
                   f"(domains {', '.join(server.settings.domains)}).")
        client = Client(server.url, server.settings.username, server.settings.password)
        client.login()
        stamp = timestamp()
        for suffix in ("csv", "xlsx"):
            result = export_mailboxes(client, output_dir / f"demo-mailboxes-{stamp}.{suffix}", progress=not state().quiet)
            click.echo(f"Exported {plural(result.rows, 'mailbox')} ({plural(result.pages, 'page')}) to {result.path}")
        table, rows = load(sample)
        click.echo(f"Importing {plural(len(rows), 'row')} from {table.where} ...")
        outcome = run_import(client, table, rows, report=default_report_path(sample, folder=output_dir),
                             progress=not state().quiet)
        print_results(outcome)
        after = export_mailboxes(client, output_dir / f"demo-mailboxes-after-{stamp}.csv", progress=False)
        click.echo(f"Exported {plural(after.rows, 'mailbox')} after the import to {after.path}")
        settings = server.settings
    click.echo("Next, rehearse on your own: run 'bulkmail sandbox' in another terminal, then here:")
    click.echo(f"  BULKMAIL_BASE_URL=http://127.0.0.1:8025 BULKMAIL_USERNAME={settings.username} "
               f"BULKMAIL_PASSWORD={settings.password} bulkmail import {SAMPLES / 'every-error.xlsx'} --dry-run")
    return outcome.exit_status


def setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bulkmail: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG)
    log.propagate = False


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status."""
    if argv is None and os.environ.get("_BULKMAIL_COMPLETE"):  # shell completion: click answers and exits
        cli.main(prog_name="bulkmail")
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    ctx_state = State()
    try:
        check_safe_xml()
        with cli.make_context("bulkmail", list(sys.argv[1:] if argv is None else argv), obj=ctx_state) as ctx:
            return int(cli.invoke(ctx) or 0)
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return ExitStatus.BAD_INPUT if exc.exit_code == 2 else exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        echo("\nInterrupted.")
        return ExitStatus.INTERRUPTED
    except BulkmailError as exc:
        echo(f"Error: {exc}")
        return exc.exit_status
    except BrokenPipeError:  # the reader of stdout went away (bulkmail … | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
        return ExitStatus.ROWS_FAILED
    except Exception as exc:  # a bug: say so plainly; the traceback only with -v
        if ctx_state.verbose:
            traceback.print_exc()
        echo(f"Internal error: {type(exc).__name__}: {exc}. Run again with -v and report it.")
        return ExitStatus.ROWS_FAILED
    finally:
        log.handlers.clear()  # the handler holds this run's stderr
