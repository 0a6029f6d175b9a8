"""`bulkmail ui`: the import workflow on a local web page (bulkmail/ui), and the page on a
built-in sandbox for `bulkmail demo --ui`."""

from __future__ import annotations

from pathlib import Path

import click

from .context import echo, say, state
from .options import output_options
from ..errors import ExitStatus, InputError

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _needs_extra() -> None:
    try:
        import jinja2, python_multipart, starlette, uvicorn  # noqa: F401,E401
    except ImportError as exc:
        raise InputError(f"bulkmail ui needs the ui extra ({exc.name} is missing): pip install 'bulkmail[ui]'") from None


@click.command("ui")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="Port to listen on (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback lets other machines reach the page (a warning says so).")
@click.option("--no-browser", is_flag=True, help="Print the link only; do not open the browser.")
@output_options
def ui_command(port, host, no_browser):
    """The import workflow on a local web page: prints its link (with a one-time token) and opens the browser."""
    from ..api.http import is_loopback

    _needs_extra()
    if host in ("0.0.0.0", "::", ""):
        raise InputError(f"--host {host or '(empty)'} would listen on every address; give the one address to listen on.")
    if not is_loopback(host):
        echo(f"Warning: the page listens on {host}: anyone who can reach this machine at that address and gets the "
             "link can use it. The link's token and the cookie travel unencrypted (http).")
    from ..ui.server import serve

    names = state().profiles
    serve(host, port, say, open_browser=not no_browser, profile=names[0] if names else None)
    return ExitStatus.OK


def demo_page() -> int:
    """`bulkmail demo --ui`: a sandbox with 250 mailboxes, and the page logged in to it."""
    from ..config import ConnectionSettings
    from ..sandbox import Sandbox

    _needs_extra()
    from ..cancel import Cancel
    from ..ui.app import Account
    from ..ui.jobs import connect
    from ..ui.server import serve

    with Sandbox(seed_mailboxes=250) as server:
        settings = ConnectionSettings(base_url=server.url, username=server.settings.username,
                                      password=server.settings.password)
        with connect(settings, Cancel()) as client:
            account = Account(settings, client.account_id or "")
        say(f"Started a sandbox at {server.url} with 250 mailboxes (domains {', '.join(server.settings.domains)}); "
            f"the page is logged in to it. Try the sample {SAMPLES / 'every-error.xlsx'}.")
        serve("127.0.0.1", 0, say, account=account)
    return ExitStatus.OK
