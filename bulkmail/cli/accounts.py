"""The commands for several accounts: profiles in the config file, and one export across them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from ..api.retry import Retry
from ..config import ConnectionSettings, credentials_hint
from ..errors import ExitStatus, InputError
from ..files.paths import REPORTS, STDIO, timestamp, unused_path
from ..words import plural
from .context import echo, interactive, record, say, state
from .log import audited
from .options import output_options
from .progress import bars
from .session import ask, claim_output, connect, settings_for

if TYPE_CHECKING:
    from ..jobs.export import ExportOptions


@click.group()
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
    from ..api.client import Client
    from ..api.http import check_base_url
    from ..config import Profile, _keyring, keyring_set, load_config, profile_name_problem, run_password_command

    if problem := profile_name_problem(name):
        raise InputError(problem)
    config = load_config()
    if name in config.profiles or name in config.broken:
        raise InputError(f"Profile {name!r} exists already in {config.path}. Remove it first "
                         f"(bulkmail profile remove {name}), or choose another name.")
    entry = Profile(name, check_base_url(base_url), username.strip(), account_id, list(domains), max_remove,
                    password_command)
    store = not no_keyring and not password_command
    if store:
        _keyring()  # no keyring on this machine: say so before asking anything
    password, source = None, "password_command" if password_command else "BULKMAIL_PASSWORD"
    if password_command:
        password = run_password_command(password_command, name)
    elif store or not no_check:
        password = os.environ.get("BULKMAIL_PASSWORD")
        if password is None and interactive():
            password, source = ask("Password", True), "prompt"
        if password is None:
            raise InputError("No password to check and store: run this in a terminal to be asked, or set "
                             "BULKMAIL_PASSWORD for this command.")
    if not no_check:
        with Client(entry.base_url, entry.username, password, account_id=account_id, retry=Retry(attempts=2)) as client:
            sources = {"username": "command line", "password": source}
            client.login_hint = credentials_hint(ConnectionSettings(entry.base_url, entry.username, profile=name,
                                                                    sources=sources))
            client.login()
        say(f"Logged in to {entry.base_url} as {entry.username}; account {client.account_id}")
    if store:
        keyring_set(entry.base_url, entry.username, password)
    config.profiles[name] = entry
    config.default_profile = config.default_profile or name
    config.save()
    where = "the keyring" if store else "its password_command" if password_command else "BULKMAIL_PASSWORD or a prompt"
    default = " It is the default profile." if config.default_profile == name else ""
    say(f"Added profile {name} to {config.path}; the password comes from {where}.{default}")
    return ExitStatus.OK


def profile_rows() -> list[dict]:
    """Each profile of the file by name: its settings and where its password comes from, or
    for one bulkmail cannot use, why (under "error")."""
    from ..config import load_config, password_source

    config = load_config()
    rows = []
    for name in sorted(config.profiles.keys() | config.broken.keys()):
        entry = config.profiles.get(name)
        if entry is None:
            rows.append({"name": name, "default": name == config.default_profile, "error": config.broken[name]})
            continue
        settings = ConnectionSettings(base_url=entry.base_url, username=entry.username)
        rows.append({"name": name, "base_url": entry.base_url, "username": entry.username,
                     "account_id": entry.account_id or "", "password": password_source(settings, entry),
                     "default": name == config.default_profile, "domains": entry.domains,
                     "max_remove": entry.max_remove, "password_command": entry.password_command or "",
                     "error": None})
    return rows


@profile.command("list")
@output_options
def profile_list():
    """The profiles: name, address, user, account, where the password comes from, the default
    (with --json: the list under "profiles")."""
    rows = profile_rows()
    if state().json:
        record(profiles=rows)
        return ExitStatus.OK
    if not rows:
        say("No profiles yet. Add one with: bulkmail profile add NAME --base-url URL --username USER")
        return ExitStatus.OK
    header = ["", "name", "base_url", "username", "account_id", "password"]
    # A broken profile shows its mark and name only; why follows the table.
    table = [header] + [["!" if r["error"] else "*" if r["default"] else "", r["name"],
                         *(["(cannot be used: see below)"] if r["error"] else [str(r[k]) for k in header[2:]])]
                        for r in rows]
    widths = [max(len(line[i]) for line in table if i < 2 or len(line) == len(header)) for i in range(len(header))]
    for line in table:
        say("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    for row in rows:
        if row["error"]:
            say(f"Profile {row['name']} cannot be used: {row['error']}")
    return ExitStatus.OK


@profile.command("show")
@click.argument("name")
@output_options
def profile_show(name):
    """One profile's settings (never a password)."""
    from ..config import load_config

    load_config().profile(name)  # a clear error for an unknown or broken one
    row = next(r for r in profile_rows() if r["name"] == name)
    for key, value in row.items():
        if key not in ("name", "error") and value not in ("", None, []):
            say(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    return ExitStatus.OK


@profile.command("remove")
@click.argument("name")
@output_options
def profile_remove(name):
    """Remove a profile, and its keyring entry unless another profile uses the same login."""
    from ..config import keyring_delete, load_config

    config = load_config()
    if name in config.broken:  # removing it is one way to mend the file; its keyring entry, if any, stays
        del config.broken[name], config.broken_values[name]
        config.default_profile = None if config.default_profile == name else config.default_profile
        config.save()
        say(f"Removed profile {name}.")
        return ExitStatus.OK
    entry = config.profile(name)
    del config.profiles[name]
    if config.default_profile == name:
        config.default_profile = None
    shared = any((p.base_url, p.username) == (entry.base_url, entry.username) for p in config.profiles.values())
    config.save()
    forgot = not shared and keyring_delete(entry.base_url, entry.username)
    say(f"Removed profile {name}" + ("; its password was removed from the keyring." if forgot else "."))
    return ExitStatus.OK


@profile.command("default")
@click.argument("name")
@output_options
def profile_default(name):
    """Make a profile the one used when no --profile is given."""
    from ..config import load_config

    config = load_config()
    config.profile(name)
    config.default_profile = name
    config.save()
    say(f"Profile {name} is now the default.")
    return ExitStatus.OK


def export_accounts(output, all_profiles, force, base_url, retries, options: ExportOptions) -> int:
    """`bulkmail export --all-profiles` / several --profile: the accounts' export (see
    jobs/accounts.py), each account logged in and audited like a one-account export."""
    from contextlib import contextmanager

    from ..config import load_config
    from ..jobs.accounts import export_accounts as export_all
    from ..jobs.accounts import profile_path

    config = load_config()  # a broken profile is named among the failures, not skipped in silence
    every = sorted(config.profiles.keys() | config.broken.keys())
    names = every if all_profiles else list(dict.fromkeys(state().profiles))
    if not names:
        raise InputError("--all-profiles found no profiles. Add one with: bulkmail profile add NAME --base-url URL "
                         "--username USER")
    output = output or unused_path(REPORTS / f"mailboxes-{timestamp()}.csv")
    if str(output) == STDIO:
        raise InputError("An export across profiles writes files; give -o a file name.")
    targets = [profile_path(output, name) for name in names] if "{profile}" in str(output) else [output]
    for path in targets:
        claim_output(path, "--output", force=force)

    @contextmanager
    def open_account(account):
        client = connect(settings_for(account.profile, base_url=base_url), options.concurrency, retries)
        with audited("export", client, output=account.output) as (_, outcome):
            yield client
            outcome.update(exit_status=0, mailboxes=account.mailboxes, pages=account.pages)

    def told(account, result):
        where = f"to {result.path}" if "{profile}" in str(output) else ""
        say(f"Exported {plural(result.rows, 'mailbox')} of profile {account.profile} {where}".rstrip()
            if where else f"Read {plural(result.rows, 'mailbox')} of profile {account.profile}")

    done = export_all(names, output, options, open_account, bars(not state().quiet), told)
    for account in done.failures:
        echo(f"Error: profile {account.profile}: {account.error}")
    if done.output is not None:
        say(f"Exported {plural(done.mailboxes, 'mailbox')} of {plural(len(names) - len(done.failures), 'profile')} "
            f"to {done.output}")
        record(output=str(done.output), mailboxes=done.mailboxes)
    _record_accounts(done)
    return done.exit_status


def _record_accounts(done) -> None:
    """The --json facts of an export across accounts: one entry per account, with its error."""
    accounts = [{"profile": a.profile, "account": a.account, "mailboxes": a.mailboxes, "pages": a.pages,
                 "output": a.output, "error": str(a.error) if a.error else None} for a in done.accounts]
    record(accounts=accounts, pages=sum(a["pages"] for a in accounts), profile=None, service=None, account=None,
           error="; ".join(f"profile {a['profile']}: {a['error']}" for a in accounts if a["error"]) or None)
