"""What the commands share: the run's environment and state, the option groups, settings and
login, the output-path rule, and how results are told on the terminal."""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from ..config import DEFAULT_BASE_URL, ConnectionSettings, credentials_hint, describe, fill_password, resolve
from ..errors import InputError, OutputExists
from ..files.paths import check_output
from ..records import NOT_ATTEMPTED, PLANNED, STATUSES
from ..api.retry import Retry
from ..words import plural, printable

if TYPE_CHECKING:
    from ..api.client import Client
    from ..jobs.options import ReadOptions

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
    hidden_rows = False  # --hidden-rows: read the rows a workbook hides

    def __init__(self, env: Environment | None = None):
        from ..cancel import Cancel

        self.profiles: list[str] = []  # --profile, in the order given
        self.env = env or Environment()
        self.json = False  # --json: one JSON object on standard output, humans' text on standard error
        self.result: dict = {}  # what the command did, for that object
        # Set by Ctrl-C, SIGTERM and --max-duration; every client of this run watches it.
        self.cancel = Cancel()
        # True while the library runs against the service: a signal then asks it to stop
        # cleanly instead of raising where the main thread happens to be.
        self.settling = False


def output_options(f):
    """-v/-q are accepted before and after the command name."""

    def set_verbose(ctx, _param, value):
        ctx.ensure_object(State).verbose += value
        setup_logging(ctx.ensure_object(State).verbose)

    def set_quiet(ctx, _param, value):
        ctx.ensure_object(State).quiet |= value

    def add_profiles(ctx, _param, value):
        ctx.ensure_object(State).profiles.extend(value)

    def set_json(ctx, _param, value):
        ctx.ensure_object(State).json |= value

    f = click.option("-v", "--verbose", count=True, expose_value=False, callback=set_verbose,
                     help="Say more (-vv: every HTTP call, never its headers).")(f)
    f = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=set_quiet,
                     help="No progress bars.")(f)
    f = click.option("--json", "as_json", is_flag=True, expose_value=False, callback=set_json,
                     help="Print one JSON object with the run's results on standard output (text goes to stderr).")(f)
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


def max_duration_option(f):
    """--max-duration: past it, the run stops as after Ctrl-C (report written, --resume
    finishes it) and exits 4. The clock starts when the command does."""

    def start_clock(ctx, _param, value):
        if value is None:
            return
        seconds = parse_duration(value)
        from ..errors import TimeLimit

        reason = TimeLimit(f"--max-duration {value} ran out")
        timer = threading.Timer(seconds, ctx.ensure_object(State).cancel.set, [reason])
        timer.daemon = True
        timer.start()
        ctx.call_on_close(timer.cancel)

    return click.option("--max-duration", metavar="DURATION", expose_value=False, callback=start_clock,
                        help="Stop cleanly after this long (e.g. 90m, 2h, 45s): the report is written, the rest is "
                             "not_attempted, exit 4; --resume finishes it.")(f)


def parse_duration(text: str) -> float:
    """'90m', '2h', '1h30m', '45s' or plain seconds, as seconds."""
    import re

    parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text or "")
    if not parts or not any(parts.groups()):
        raise click.BadParameter(f"{text!r} is not a duration; use e.g. 90m, 2h, 1h30m or 45s.",
                                 param_hint="'--max-duration'")
    hours, minutes, seconds = (float(p) if p else 0.0 for p in parts.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise click.BadParameter(f"{text!r} is no time at all; give a duration above zero.",
                                 param_hint="'--max-duration'")
    return total


def force_option(f):
    return click.option("--force", is_flag=True, help="Replace an existing output file (never the input).")(f)


def interactive() -> bool:
    return bool(state().env.stdin_isatty)


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


def state() -> State:
    return click.get_current_context().ensure_object(State)


def echo(message: str = "") -> None:
    """Warnings and errors: standard error, always."""
    click.echo(message, err=True)


def say(message: str = "", err: bool = False) -> None:
    """What a person reads: standard output, or standard error under --json (whose standard
    output carries exactly one JSON object)."""
    click.echo(message, err=err or state().json)


def record(**fields) -> None:
    """Facts for the --json object (and the audit log) of this run."""
    state().result.update(fields)


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
    f = click.option("--only", metavar="STATUS[,STATUS]", callback=parse_only,
                     help="Read a results report back and keep only its rows of these statuses, e.g. "
                          "--only failed,not_attempted (their row numbers stay those of the original file).")(f)
    f = click.option("--hidden-rows", is_flag=True, expose_value=False,
                     callback=lambda ctx, _param, value: setattr(ctx.ensure_object(State), "hidden_rows", value),
                     help="Read the rows a workbook hides (by a filter or by hand); they are left out otherwise.")(f)
    f = force_option(f)
    return f


def parse_only(_ctx, _param, value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    wanted = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = [s for s in wanted if s not in {str(status) for status in STATUSES}]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} is no status; use some of: "
                                 f"{', '.join(str(s) for s in STATUSES)}.")
    return wanted


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


def reading_options(sheet, mapping, action, domains, only=()) -> ReadOptions:
    """How to read the input, from the shared file options."""
    from ..jobs.options import ReadOptions

    return ReadOptions(sheet=sheet, mapping=parse_mapping(mapping), action=action and action.lower(),
                       domains=tuple(domains), only=tuple(only), hidden_rows=state().hidden_rows)


def report_reading(table, count: int) -> None:
    """What was read; the reader's notices (another sheet or column chosen, hidden rows, formulas
    without values, merged cells) are said always, the rest of the detection with -v."""
    log.info("read %s: %s", table.where, ", ".join(table.notes))
    say(f"Read {plural(count, 'row')} from {table.where}.")
    for notice in table.notices:
        say(notice)


def tally_line(tally) -> str:
    return ", ".join(f"{s} {tally[s]}" for s in STATUSES if tally[s]) if tally else "no rows"


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


def input_facts(path, rows: int) -> dict:
    """The input as the audit log and --json name it: absolute path, SHA-256, data rows."""
    from ..jobs.journal import file_hash

    source = None if str(path) == "-" else Path(path)
    return {"path": str(source.resolve()) if source else "-",
            "sha256": file_hash(source) if source and source.is_file() else None, "rows": rows}


def record_result(result, path, quiet=()) -> None:
    """An import's or a validation's facts for --json: counts, files, input, first problems (not
    the rows whose status is in ``quiet``, as on the terminal)."""
    from ..files.report import problems

    record(counts={str(status): count for status, count in result.counts.items()},
           report=str(result.report) if result.report else None,
           undo=str(result.undo) if getattr(result, "undo", None) else None,
           plan=state().result.get("plan"),
           input=state().result.get("input") or input_facts(path, len(result.rows)),
           problems=[{"row": r.row, "email_address": r.email_address, "status": str(r.status), "detail": r.detail}
                     for r in problems(result.rows) if r.status not in quiet][:20])
    stopped = getattr(result, "stopped", None) or getattr(result, "refused", None)
    if stopped is not None:
        record(error=str(stopped))


def tell_run(result, path, client=None, plan_out=None, quiet=()) -> None:
    """After an import, apply or sync: its notes and errors, the plan it wrote (--plan-out),
    the results, and the --json facts."""
    for note in result.notes:
        say(note)
    if result.stopped is not None:
        echo(f"Error: {result.stopped}")
    if result.refused is not None:
        echo(f"Warning: the real run would be refused: {result.refused}")
    if plan_out and result.stopped is None:
        from ..jobs.planfile import build_plan, write_plan

        facts = state().result["input"]
        write_plan(plan_out, build_plan(client, result.rows, result.counts, {k: facts[k] for k in ("path", "sha256")}))
        say(f"Plan: {plan_out} (review it with the report; then: bulkmail apply {plan_out})")
        record(plan=str(plan_out))
    print_results(result, quiet)
    record_result(result, path, quiet)


def print_results(result, quiet=()) -> None:
    """The counts, the first rows to look at (not those whose status is in ``quiet``),
    warnings, and where the report is."""
    from ..files.report import problems

    say(f"Results: {tally_line(result.counts)}")
    look = [row for row in problems(result.rows) if row.status not in quiet]
    if getattr(result, "stopped", None) is not None:  # the error says why these were not sent, once
        look = [row for row in look if row.status != NOT_ATTEMPTED]
    if look:
        say("Rows to look at:")
        for row in look[:SHOW_PROBLEMS]:
            where = f"row {row.row}" if row.row > 0 else "live"  # sync's live mailboxes have no roster row
            say(f"  {where}  {printable(row.email_address) or '(no address)'}  {row.status}  {printable(row.detail)}")
        if len(look) > SHOW_PROBLEMS:
            say(f"  and {len(look) - SHOW_PROBLEMS} more — see the report")
    for warning in result.warnings:
        echo(f"Warning: {warning}")
    if getattr(result, "undo", None):
        from ..files.undo import CANNOT_COME_BACK

        removed = result.counts.get("removed")
        what = plural(removed or 0, "removed mailbox", "removed mailboxes")
        lost = f"; for the {what}, {CANNOT_COME_BACK}" if removed else ""
        say(f"Undo: {result.undo} (import it to revert this run{lost})")
    say(f"Report: {result.report}")  # the last line, always: scripts read it


def setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bulkmail: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG)
    log.propagate = False
