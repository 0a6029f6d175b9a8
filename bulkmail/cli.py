"""The command line: options -> one library call -> a summary and an exit status.

main() is the one place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, TextIO

import click

from . import __version__
from .config import DEFAULT_BASE_URL, ConnectionSettings, describe, fill_password, resolve
from .errors import BulkmailError, ExitStatus, InputError, OutputExists
from .paths import REPORTS, STDIO, check_output, default_output, timestamp, unused_path
from .records import NOT_ATTEMPTED, PLANNED, STATUSES
from .retry import Retry
from .words import plural

if TYPE_CHECKING:
    from .client import Client
    from .export import ExportOptions
    from .importer import ReadOptions

# The library's heavy parts (requests, pandas, werkzeug) are imported inside the commands that
# use them, so that --help, --version and completion start in a blink.

log = logging.getLogger("bulkmail")
# The terminal lists this many rows to look at; the report has them all.
SHOW_PROBLEMS = 10


@dataclass
class Environment:
    """What the command line runs in (like httpie's Environment): standard input and whether a
    person is typing there. Tests make their own instead of replacing sys.stdin."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdin_isatty: bool | None = None

    def __post_init__(self):
        if self.stdin_isatty is None:
            self.stdin_isatty = bool(self.stdin and self.stdin.isatty())


class State:
    verbose = 0
    quiet = False

    def __init__(self, env: Environment | None = None):
        self.profiles: list[str] = []  # --profile, in the order given
        self.env = env or Environment()


def output_options(f):
    """-v/-q are accepted before and after the command name."""

    def set_verbose(ctx, _param, value):
        ctx.ensure_object(State).verbose += value
        setup_logging(ctx.ensure_object(State).verbose)

    def set_quiet(ctx, _param, value):
        ctx.ensure_object(State).quiet |= value

    def add_profiles(ctx, _param, value):
        ctx.ensure_object(State).profiles.extend(value)

    f = click.option("-v", "--verbose", count=True, expose_value=False, callback=set_verbose,
                     help="Say more (-vv: every HTTP call, never its headers).")(f)
    f = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=set_quiet,
                     help="No progress bars.")(f)
    f = click.option("--profile", multiple=True, metavar="NAME", expose_value=False, callback=add_profiles,
                     help="Use this profile of the config file (env BULKMAIL_PROFILE; export takes several).")(f)
    return f


def login_options(f):
    f = click.option("--base-url", metavar="URL",
                     help=f"API address (else BULKMAIL_BASE_URL, the profile's, or {DEFAULT_BASE_URL}). Credentials "
                          "come from BULKMAIL_USERNAME/BULKMAIL_PASSWORD, the profile and the keyring, or a prompt.")(f)
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
    return bool(state().env.stdin_isatty)


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
    from .client import Client
    fill_password(settings, ask if interactive() else None)
    for line in describe(settings):
        log.info(line)
    client = Client(settings.base_url, settings.username, settings.password, account_id=settings.account_id,
                    concurrency=concurrency, retry=Retry(attempts=retries + 1), profile=settings.profile)
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
@click.option("--save", is_flag=True, help="Store the typed password in the OS keyring for this address and user.")
def login(base_url, retries, save):
    """Check the credentials and print the account id."""
    from .config import keyring_set

    settings = settings_for(base_url=base_url)
    client = connect(settings, 1, retries)
    click.echo(f"Logged in to {client.base_url} as {client.username}; account {client.account_id}")
    if save:
        if settings.sources["password"] != "prompt":
            click.echo(f"Nothing to save: the password came from {settings.sources['password']}.")
        else:
            keyring_set(settings.base_url, settings.username, settings.password)
            click.echo(f"Saved the password in the keyring for {settings.username} at {settings.base_url}.")
    return ExitStatus.OK


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="File to write, .csv or .xlsx; - for CSV on standard output  "
                   "[default: reports/mailboxes-<timestamp>.csv]")
@click.option("--search", help="Only mailboxes whose address or name contains this text.")
@click.option("--page-size", type=click.IntRange(1, 100_000), help="Rows per page to ask for (the server may grant fewer).")
@click.option("--all-profiles", is_flag=True, help="Export every profile's account (see --profile), with a first "
                                                   "column 'profile'; -o 'name-{profile}.xlsx' writes one file each.")
@force_option
@output_options
@connection_options
def export(output, search, page_size, all_profiles, force, base_url, concurrency, retries):
    """Write every mailbox to a CSV or XLSX file."""
    from .export import ExportOptions, export_mailboxes
    options = ExportOptions(search=search, page_size=page_size, concurrency=concurrency, progress=not state().quiet)
    if all_profiles or len(state().profiles) > 1:
        return export_accounts(output, all_profiles, force, base_url, retries, options)
    to_stdout = str(output) == STDIO
    if not to_stdout:
        output = claim_output(output or unused_path(REPORTS / f"mailboxes-{timestamp()}.csv"), "--output", force=force)
    client = connect(settings_for(base_url=base_url), concurrency, retries)
    result = export_mailboxes(client, STDIO if to_stdout else output, options)
    if result.total_changed:
        echo(f"Warning: the mailbox count changed during the export ({result.totals[0]} -> {result.totals[-1]}): "
             "mailboxes were added or removed meanwhile. Run it again for an exact snapshot.")
    summary = (f"Exported {plural(result.rows, 'mailbox')} ({plural(result.pages, 'page')}, {result.seconds:.1f}s) "
               f"to {'standard output' if to_stdout else result.path}")
    click.echo(summary, err=to_stdout)  # stdout carries the CSV itself then
    return ExitStatus.OK


def export_accounts(output, all_profiles, force, base_url, retries, options: ExportOptions) -> int:
    """One export across accounts: a file with a first column 'profile', or one file per
    profile when the name holds {profile}. An account that fails is reported; the others are
    written all the same (exit 1, or the failure's own code when every account failed)."""
    from .export import collect_mailboxes, export_mailboxes
    from .config import load_config
    from .writing import write_table

    names = sorted(load_config().profiles) if all_profiles else list(dict.fromkeys(state().profiles))
    if not names:
        raise InputError("--all-profiles found no profiles. Add one with: bulkmail profile add NAME --base-url URL "
                         "--username USER")
    output = output or unused_path(REPORTS / f"mailboxes-{timestamp()}.csv")
    if str(output) == STDIO:
        raise InputError("An export across profiles writes files; give -o a file name.")
    each = "{profile}" in str(output)
    paths = {name: Path(str(output).replace("{profile}", name)) for name in names} if each else {}
    for path in paths.values() or [output]:
        claim_output(path, "--output", force=force)
    failures, columns, collected = [], [], []
    for name in names:
        try:
            client = connect(settings_for(name, base_url=base_url), options.concurrency, retries)
            if each:
                result = export_mailboxes(client, paths[name], options)
                click.echo(f"Exported {plural(result.rows, 'mailbox')} of profile {name} to {result.path}")
            else:
                found, rows, result = collect_mailboxes(client, name, options)
                columns += [c for c in found if c not in columns]
                collected += rows
                click.echo(f"Read {plural(result.rows, 'mailbox')} of profile {name}")
        except BulkmailError as err:
            echo(f"Error: profile {name}: {err}")
            failures.append(err)
    if not each and len(failures) < len(names):
        count = write_table(output, ["profile", *columns], collected)
        click.echo(f"Exported {plural(count, 'mailbox')} of {plural(len(names) - len(failures), 'profile')} to {output}")
    if failures:
        return failures[0].exit_status if len(failures) == len(names) else ExitStatus.ROWS_FAILED
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
    from .report import problems
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
    from .importer import ImportOptions, load, run_import
    if resume and (fresh or dry_run):
        raise InputError("--resume cannot be combined with --fresh or --dry-run.")
    from_stdin = str(path) == STDIO
    if from_stdin and resume:
        raise InputError("--resume needs the input file again; standard input cannot be read twice. "
                         "Save the input to a file and import that.")
    report = claim_output(report or default_output(path), "--report", inputs=[path], force=force)
    settings = settings_for(base_url=base_url, domains=domains, max_remove=max_remove)
    table, rows = load(path, reading_options(sheet, mapping, action, settings.domains))
    report_reading(table, len(rows))
    options = ImportOptions(dry_run=dry_run, batch_size=batch_size, concurrency=concurrency, verify=not no_verify,
                            max_remove=settings.max_remove, allow_mass_remove=allow_mass_remove, strict=strict,
                            resume=resume, fresh=fresh, progress=not state().quiet)
    client = connect(settings, concurrency, retries)

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

    result = run_import(client, table, rows, options, report=report, confirm=confirm,
                        source=None if from_stdin else path)  # standard input has no journal
    if result.finished_before is not None:
        done = result.finished_before
        click.echo(f"Nothing to resume: the last run of {Path(path).name} finished at {done.finished}. "
                   f"Report: {done.report}")
        return result.exit_status
    for note in result.notes:
        click.echo(note)
    if result.stopped is not None:
        echo(f"Error: {result.stopped}")
    if result.refused is not None:
        echo(f"Warning: the real run would be refused: {result.refused}")
    print_results(result)
    return result.exit_status


def reading_options(sheet, mapping, action, domains) -> ReadOptions:
    """How to read the input, from the shared file options."""
    from .importer import ReadOptions

    return ReadOptions(sheet=sheet, mapping=parse_mapping(mapping), action=action and action.lower(),
                       domains=tuple(domains))


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
    from .importer import check_file
    report = claim_output(report or default_output(path, "validation"), "--report", inputs=[path], force=force)
    result = check_file(path, reading_options(sheet, mapping, action, settings_for(domains=domains).domains),
                        report=report)
    report_reading(result.sheet, len(result.rows))
    print_results(result)
    return result.exit_status


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("import-template.xlsx"),
              show_default=True, help=".xlsx (with dropdowns and instructions) or .csv")
@force_option
def template(output, force):
    """Write an import template to fill in."""
    from .template import write_template
    claim_output(output, "-o", force=force)
    click.echo(f"Wrote {write_template(output)}")
    return ExitStatus.OK


@cli.group()
def profile():
    """Named connections in the config file (passwords go to the keyring, never the file)."""


@profile.command("add")
@click.argument("name")
@click.option("--base-url", metavar="URL", required=True, help="API address of this account's service.")
@click.option("--username", metavar="USER", required=True, help="The API user's login name.")
@click.option("--account-id", metavar="ID", help="Account header to send instead of the one the login returns.")
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN",
              help="Default allow-list for import and validate (repeatable), like --domain there.")
@click.option("--max-remove", type=click.IntRange(0), metavar="N", help="Default --max-remove for imports.")
@click.option("--password-command", metavar="CMD",
              help="A command that prints the password (e.g. 'pass show bulkmail/acme'), for unattended runs.")
@click.option("--no-keyring", is_flag=True, help="Do not store the password; it comes from BULKMAIL_PASSWORD or "
                                                 "the prompt at each run.")
@click.option("--no-check", is_flag=True, help="Do not log in once to check the credentials.")
@output_options
def profile_add(name, base_url, username, account_id, domains, max_remove, password_command, no_keyring, no_check):
    """Add a profile; the password is checked by one login and stored in the OS keyring."""
    from .client import Client
    from .client import check_base_url
    from .config import Profile, load_config, run_password_command, _keyring, keyring_set

    config = load_config()
    if name in config.profiles:
        raise InputError(f"Profile {name!r} exists already in {config.path}. Remove it first "
                         f"(bulkmail profile remove {name}), or choose another name.")
    entry = Profile(name, check_base_url(base_url), username.strip(), account_id, list(domains), max_remove,
                    password_command)
    store = not no_keyring and not password_command
    if store:
        _keyring()  # no keyring on this machine: say so before asking anything
    password = None
    if password_command:
        password = run_password_command(password_command, name)
    elif store or not no_check:
        password = os.environ.get("BULKMAIL_PASSWORD") or (ask("Password", True) if interactive() else None)
        if password is None:
            raise InputError("No password to check and store: run this in a terminal to be asked, or set "
                             "BULKMAIL_PASSWORD for this command.")
    if not no_check:
        with Client(entry.base_url, entry.username, password, account_id=account_id, retry=Retry(attempts=2)) as client:
            client.login()
        click.echo(f"Logged in to {entry.base_url} as {entry.username}; account {client.account_id}")
    if store:
        keyring_set(entry.base_url, entry.username, password)
    config.profiles[name] = entry
    config.default_profile = config.default_profile or name
    config.save()
    where = "the keyring" if store else "its password_command" if password_command else "BULKMAIL_PASSWORD or a prompt"
    default = " It is the default profile." if config.default_profile == name else ""
    click.echo(f"Added profile {name} to {config.path}; the password comes from {where}.{default}")
    return ExitStatus.OK


def profile_rows() -> list[dict]:
    from .config import load_config, password_source

    config = load_config()
    rows = []
    for name, entry in sorted(config.profiles.items()):
        settings = ConnectionSettings(base_url=entry.base_url, username=entry.username)
        rows.append({"name": name, "base_url": entry.base_url, "username": entry.username,
                     "account_id": entry.account_id or "", "password": password_source(settings, entry),
                     "default": name == config.default_profile, "domains": entry.domains,
                     "max_remove": entry.max_remove, "password_command": entry.password_command or ""})
    return rows


@profile.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array on standard output.")
@output_options
def profile_list(as_json):
    """The profiles: name, address, user, account, where the password comes from, the default."""
    import json

    rows = profile_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return ExitStatus.OK
    if not rows:
        click.echo("No profiles yet. Add one with: bulkmail profile add NAME --base-url URL --username USER")
        return ExitStatus.OK
    header = ["", "name", "base_url", "username", "account_id", "password"]
    table = [header] + [["*" if r["default"] else "", *(str(r[k]) for k in header[1:])] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    return ExitStatus.OK


@profile.command("show")
@click.argument("name")
@output_options
def profile_show(name):
    """One profile's settings (never a password)."""
    from .config import load_config

    load_config().profile(name)  # a clear error for an unknown name
    row = next(r for r in profile_rows() if r["name"] == name)
    for key, value in row.items():
        if key != "name" and value not in ("", None, []):
            click.echo(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    return ExitStatus.OK


@profile.command("remove")
@click.argument("name")
@output_options
def profile_remove(name):
    """Remove a profile, and its keyring entry unless another profile uses the same login."""
    from .config import keyring_delete, load_config

    config = load_config()
    entry = config.profile(name)
    del config.profiles[name]
    if config.default_profile == name:
        config.default_profile = None
    shared = any((p.base_url, p.username) == (entry.base_url, entry.username) for p in config.profiles.values())
    config.save()
    forgot = not shared and keyring_delete(entry.base_url, entry.username)
    click.echo(f"Removed profile {name}" + ("; its password was removed from the keyring." if forgot else "."))
    return ExitStatus.OK


@profile.command("default")
@click.argument("name")
@output_options
def profile_default(name):
    """Make a profile the one used when no --profile is given."""
    from .config import load_config

    config = load_config()
    config.profile(name)
    config.default_profile = name
    config.save()
    click.echo(f"Profile {name} is now the default.")
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
@click.option("--accounts", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Customer accounts to serve, each with its own login, id, domains and mailboxes.")
def sandbox(host, port, mailboxes, accounts, **knobs):
    """Run the local API emulator (every variant of the API, with fault knobs)."""
    from .client import is_loopback
    from .sandbox import Sandbox, Settings

    if not is_loopback(host):
        raise InputError(f"The sandbox listens on loopback only; {host} is not a loopback address.")
    server = Sandbox(Settings(**knobs), host=host, port=port, seed_mailboxes=mailboxes, accounts=accounts)
    settings = server.settings
    click.echo(f"Sandbox listening on {server.url} with {mailboxes} mailboxes (Ctrl-C to stop). Demo credentials:")
    click.echo(f"  export BULKMAIL_BASE_URL={server.url}")
    click.echo(f"  export BULKMAIL_USERNAME={settings.username}")
    click.echo(f"  export BULKMAIL_PASSWORD={settings.password}")
    click.echo(f"Registered domains: {', '.join(settings.domains)}")
    for account in server.accounts[1:]:
        click.echo(f"Account {account.account_id}: user {account.username}, password {account.password}, "
                   f"domains {', '.join(account.domains)}")
    try:
        server.serve_forever()
    finally:
        server.close()
    return ExitStatus.OK


# The demo's inputs ship with the package, so the demo works outside a checkout too.
SAMPLES = Path(__file__).resolve().parent / "samples"


@cli.command()
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=REPORTS, show_default=True,
              help="Folder for the demo's exports and report.")
@output_options
def demo(output_dir):
    """A full cycle on a built-in sandbox: export the mailboxes, import a sample sheet, report."""
    from .client import Client
    from .export import ExportOptions, export_mailboxes
    from .importer import ImportOptions, load, run_import
    from .sandbox import Sandbox

    sample = SAMPLES / "onboarding-wave.xlsx"
    if not sample.is_file():
        raise InputError(f"The demo's sample {sample} is missing: reinstall bulkmail.")
    with Sandbox(seed_mailboxes=250) as server:
        click.echo(f"Started a sandbox at {server.url} with 250 mailboxes "
                   f"(domains {', '.join(server.settings.domains)}).")
        client = Client(server.url, server.settings.username, server.settings.password)
        client.login()
        stamp = timestamp()
        for suffix in ("csv", "xlsx"):
            result = export_mailboxes(client, output_dir / f"demo-mailboxes-{stamp}.{suffix}",
                                      ExportOptions(progress=not state().quiet))
            click.echo(f"Exported {plural(result.rows, 'mailbox')} ({plural(result.pages, 'page')}) to {result.path}")
        table, rows = load(sample)
        click.echo(f"Importing {plural(len(rows), 'row')} from {table.where} ...")
        outcome = run_import(client, table, rows, ImportOptions(progress=not state().quiet),
                             report=default_output(sample, folder=output_dir))
        print_results(outcome)
        after = export_mailboxes(client, output_dir / f"demo-mailboxes-after-{stamp}.csv")
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
    """The command line's exit status for ``argv``, run in ``env`` (default: this process's)."""
    ctx_state = State(env)
    try:
        with reading_from(ctx_state.env.stdin), \
                cli.make_context("bulkmail", list(sys.argv[1:] if argv is None else argv), obj=ctx_state) as ctx:
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
