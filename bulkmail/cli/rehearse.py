"""Rehearsing: the local API emulator (`bulkmail sandbox`) and a full cycle on it (`bulkmail demo`)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ExitStatus, InputError
from ..files.paths import REPORTS, default_output, timestamp
from ..words import plural
from .context import say, state
from .options import output_options
from .progress import bars
from .tell import print_results

# The library's heavy parts (requests, pandas, werkzeug) are imported inside the commands that
# use them, so that --help, --version and completion start in a blink.


# The demo's inputs ship with the package, so the demo works outside a checkout too.
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@click.command()
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


@click.command()
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=REPORTS, show_default=True,
              help="Folder for the demo's exports and report.")
@click.option("--ui", "page", is_flag=True, help="Instead: start the sandbox and open the web page (bulkmail ui) on it.")
@output_options
def demo(output_dir, page):
    """A full cycle on a built-in sandbox: export the mailboxes, import a sample sheet, report."""
    if page:
        from .ui import demo_page

        return demo_page()
    from ..api.client import Client
    from ..jobs.change import load, run_change
    from ..jobs.export import ExportOptions, export_mailboxes
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
