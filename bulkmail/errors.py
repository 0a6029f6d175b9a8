"""One exception tree, by consequence: each branch says what happens next.

    BulkmailError
    ├── Fatal                the run stops; the CLI says why and exits with the error's status
    │   ├── InputError         2  input, command line or an output unusable; nothing was sent
    │   │   └── OutputExists, NoKeyring, Refused (a safety rail), Declined (a no at the prompt)
    │   ├── AuthError          3  login or authorisation refused
    │   ├── ServiceError       4  the service answered something bulkmail cannot work with
    │   │   └── UnreachableError  it could not be reached, or kept failing, until retries ran out
    │   ├── DiskFull           4  a file the run needs (journal, audit log, report) cannot be written
    │   └── Interrupted      130  Ctrl-C (the run stopped cleanly)
    │       ├── Terminated   143  SIGTERM
    │       └── TimeLimit      4  --max-duration ran out
    ├── RetriableError       the same call may succeed later (429, 5xx, connection fault)
    │   └── InDoubtError       a change may have been applied: re-read, never resend blindly
    └── SkippableError       the service refused one batch: split it, report the rows at fault
        ├── RejectedError      400/404/409/422; nothing of the batch was applied
        └── TooLargeError      413; halve the batch size

Every error that comes from the service is also an ApiError, with its HTTP ``status`` (and
``retry_after``). The exit status lives on each class; cli.run() is the one place that turns
an error into a message and that status."""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes of the command line; scheduled jobs depend on them."""

    OK = 0
    ROWS_FAILED = 1  # some rows invalid, failed or not attempted; report written
    BAD_INPUT = 2  # input or command line unusable; nothing sent
    AUTH = 3  # login or authorisation failed
    UNREACHABLE = 4  # service unreachable or kept failing (also: a disk full, --max-duration)
    INTERRUPTED = 130
    TERMINATED = 143  # SIGTERM, as systemd, cron wrappers and CI stop a job


class BulkmailError(Exception):
    """Root of every error bulkmail raises on purpose."""

    exit_status = ExitStatus.ROWS_FAILED


class Fatal(BulkmailError):
    """The run cannot go on: stop, report what was done, exit with this error's status."""


class InputError(Fatal):
    """The input file, the command line or an output path cannot be used; nothing was sent."""

    exit_status = ExitStatus.BAD_INPUT


class OutputExists(InputError):
    """An output file exists already and --force was not given (interactive runs may ask)."""

    def __init__(self, message: str, path=None):
        super().__init__(message)
        self.path = path


class NoKeyring(InputError):
    """This machine has no keyring backend (a headless server)."""


class Refused(InputError):
    """A safety rail stopped the run before anything was sent."""


class Declined(InputError):
    """The user answered no at the confirmation prompt: nothing was sent."""


class Interrupted(Fatal):
    """The user pressed Ctrl-C; the run stopped cleanly."""

    exit_status = ExitStatus.INTERRUPTED


class Terminated(Interrupted):
    """SIGTERM: stopped like Ctrl-C."""

    exit_status = ExitStatus.TERMINATED


class TimeLimit(Interrupted):
    """--max-duration ran out: stopped like Ctrl-C."""

    exit_status = ExitStatus.UNREACHABLE


class DiskFull(Fatal):
    """A file the run needs (journal, audit log, report, undo file, plan) cannot be written:
    sending stops, the report goes where it can."""

    exit_status = ExitStatus.UNREACHABLE


# The errno values of a write a full disk (or a full quota) refused: DiskFull, not a bug.
FULL_DISK = frozenset({errno.ENOSPC, errno.EDQUOT})


class ApiError(BulkmailError):
    """Anything the service answered (or failed to answer): carries the HTTP status."""

    exit_status = ExitStatus.UNREACHABLE

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ServiceError(ApiError, Fatal):
    """The service answered something bulkmail cannot work with (an unknown status, a list
    answer without data, a server that ignores paging)."""


class AuthError(ApiError, Fatal):
    """Login failed, the token was refused twice in a row, or the account header was refused."""

    exit_status = ExitStatus.AUTH


class UnreachableError(ServiceError):
    """The service could not be reached, or kept failing, until the retries ran out."""


class RetriableError(ApiError):
    """429, 5xx, connection fault or timeout: the same call may succeed later."""


class InDoubtError(RetriableError):
    """A change was sent but its answer was lost (dropped connection, read timeout, 5xx): it may
    or may not have been applied. Never resend blindly: re-read the state first."""


class SkippableError(ApiError):
    """The service refused one batch as a whole: split it; the rows at fault are reported and
    the run goes on."""


class RejectedError(SkippableError):
    """400/404/409/422: nothing of the batch was applied."""


class TooLargeError(SkippableError):
    """413: the batch was too large; the send stage halves the batch size."""
