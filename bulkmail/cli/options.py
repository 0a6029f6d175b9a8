"""The option groups the commands share, each option named as its library field."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import DEFAULT_BASE_URL
from ..errors import InputError
from ..records import STATUSES
from .context import State, setup_logging, state

if TYPE_CHECKING:
    from ..jobs.options import ReadOptions


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
