"""The command line's run: where it reads and writes (Environment), what it was told (State),
and the few ways it speaks: say() for people, echo() for warnings, record() for --json."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import TextIO

import click

log = logging.getLogger("bulkmail")


@dataclass
class Environment:
    """What the command line runs in (like httpie's Environment): standard input and whether a
    person is typing there, and where people's text and the --json object go. Tests make their
    own instead of replacing sys.stdin and sys.stdout."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdin_isatty: bool | None = None
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

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
        self.redelivered = False  # the next signal is our repeat of a stop a finalizer dropped


def state() -> State:
    return click.get_current_context().ensure_object(State)


def interactive() -> bool:
    return bool(state().env.stdin_isatty)


def echo(message: str = "") -> None:
    """Warnings and errors: standard error, always."""
    click.echo(message, file=state().env.stderr)


def say(message: str = "", err: bool = False) -> None:
    """What a person reads: standard output, or standard error under --json (whose standard
    output carries exactly one JSON object)."""
    env = state().env
    click.echo(message, file=env.stderr if err or state().json else env.stdout)


def record(**fields) -> None:
    """Facts for the --json object (and the audit log) of this run."""
    state().result.update(fields)


def setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bulkmail: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG)
    log.propagate = False
