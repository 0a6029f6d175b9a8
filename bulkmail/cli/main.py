"""The command line: options -> one library call -> a summary and an exit status.

main() is the one place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import _thread
import faulthandler
import gc
import logging
import os
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator, TextIO

import click

from .. import __version__
from ..errors import FULL_DISK, BulkmailError, ExitStatus, Interrupted, Terminated
from .accounts import profile
from .commands import export, import_, login, template, validate
from .context import Environment, State
from .log import log_command
from .options import output_options
from .recurring import apply_command, diff_command, sync_command
from .rehearse import demo, sandbox
from .ui import ui_command
from .undo import undo_command

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
for command in (login, export, import_, validate, template, sandbox, demo, ui_command):
    cli.add_command(command)


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
    # A run makes a record per input row and keeps them all: the default collector (a pass every
    # 700 new objects, the full ones ever more often) would walk them again and again, 40% of
    # the time of a million-row validation. Rarer passes; what start-up loaded is never walked.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    code = run(argv)
    # The work is done and told: a signal now (the process is on its way out) must not turn a
    # finished run into a killed one.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    sys.exit(code)


def run(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """The command line's exit status for ``argv``, run in ``env`` (default: this process's).
    Under --json, standard output gets exactly one JSON object at the end, whatever happened."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ctx_state = State(env)
    started, clock = datetime.now(timezone.utc), time.monotonic()
    with stopping_on_signals(ctx_state):
        code, error = _run(argv, ctx_state)
    if ctx_state.json or "--json" in argv:
        try:
            _print_json(ctx_state, argv, int(code), error, started, time.monotonic() - clock)
        except OSError as exc:
            if exc.errno not in FULL_DISK:
                raise
            code = _disk_full(ctx_state, exc)
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
        if ctx_state.redelivered:  # our own repeat of a stop a finalizer dropped: not a second signal
            ctx_state.redelivered = False
        elif not ctx_state.cancel.set(reason) and ctx_state.settling:
            _stop_at_once(terminated)
        if not ctx_state.settling:  # (settling, the cancel flag set by the first one stops the run)
            raise reason if terminated else KeyboardInterrupt

    def unraisable(event) -> None:
        """Our stop, raised where Python cannot raise (a finalizer, a weakref callback) and
        dropped there: raise it again where it counts, without the 'Exception ignored' noise."""
        if (isinstance(event.exc_value, (KeyboardInterrupt, Interrupted)) and ctx_state.cancel.is_set()
                and not ctx_state.settling):
            ctx_state.redelivered = True
            number = signal.SIGTERM if isinstance(event.exc_value, Terminated) else signal.SIGINT
            # from a thread of its own, a moment later: here the main thread is still in the finalizer
            # (_thread, not threading: no lock the interrupted code could hold)
            _thread.start_new_thread(_signal_main_soon, (number,))
            return
        hook(event)

    saved = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    hook, sys.unraisablehook = sys.unraisablehook, unraisable
    if os.environ.get("BULKMAIL_THREAD_DUMP") and hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # the combined-fault harness's hang report
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)
        sys.unraisablehook = hook


def _signal_main_soon(number: int) -> None:
    time.sleep(0.01)
    _thread.interrupt_main(number)


def _stop_at_once(terminated: bool) -> None:
    """A second Ctrl-C/SIGTERM while a run settles: end now. No finally block runs, so the
    files being written are removed here; nothing is imported (a handler must take no lock)."""
    writing = sys.modules.get("bulkmail.files.writing")
    for temporary in list(getattr(writing, "PENDING", ())):
        try:
            os.unlink(temporary)
        except OSError:
            pass
    journal = sys.modules.get("bulkmail.jobs.journal")
    resumable = journal is not None and journal.Journal.opened > 0
    os.write(2, b"\nStopped at once." + (b" The journal keeps what was sent: run the same command with --resume."
                                          if resumable else b" Nothing was written.") + b"\n")
    os._exit(ExitStatus.TERMINATED if terminated else ExitStatus.INTERRUPTED)


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
        click.echo("\nInterrupted.", file=ctx_state.env.stderr)
        return ExitStatus.INTERRUPTED, "Interrupted."
    except BulkmailError as exc:
        click.echo(f"Error: {exc}", file=ctx_state.env.stderr)
        return exc.exit_status, str(exc)
    except BrokenPipeError:  # the reader of stdout went away (bulkmail … | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
        return ExitStatus.ROWS_FAILED, "standard output was closed"
    except OSError as exc:
        if exc.errno not in FULL_DISK:
            return _internal_error(ctx_state, exc)
        return _disk_full(ctx_state, exc), f"{exc.strerror}"
    except Exception as exc:  # a bug: say so plainly; the traceback only with -v
        return _internal_error(ctx_state, exc)
    finally:
        log.handlers.clear()  # the handler holds this run's stderr



def _disk_full(ctx_state: State, exc: OSError) -> ExitStatus:
    """What the command wrote to (its output, standard output) is on a full disk: exit 4."""
    try:
        sys.stdout.flush()
    except OSError:  # standard output is what is full: Python's own flush at exit must not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    click.echo(f"Error: Could not write the output ({exc.strerror}); is the disk full? Free some space and run the "
               "command again.", file=ctx_state.env.stderr)
    return ExitStatus.UNREACHABLE


def _internal_error(ctx_state: State, exc: Exception) -> tuple[int, str]:
    """A bug: say so plainly; the traceback only with -v."""
    if ctx_state.verbose:
        traceback.print_exc()
    click.echo(f"Internal error: {type(exc).__name__}: {exc}. Run again with -v and report it.",
               file=ctx_state.env.stderr)
    return ExitStatus.ROWS_FAILED, f"Internal error: {type(exc).__name__}: {exc}"


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
    click.echo(json.dumps(keys, default=str), file=ctx_state.env.stdout)
