"""One exception tree. Each branch says what happens next: the run stops (fatal), the call is
tried again (retriable), or one row is reported and the run goes on (skippable)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes of the command line; scheduled jobs depend on them."""

    OK = 0
    ROWS_FAILED = 1  # some rows invalid, failed or not attempted; report written
    BAD_INPUT = 2  # input or command line unusable; nothing sent
    AUTH = 3  # login or authorisation failed
    UNREACHABLE = 4  # service unreachable or kept failing
    INTERRUPTED = 130


class BulkmailError(Exception):
    """Root of every error bulkmail raises on purpose."""

    exit_status = ExitStatus.ROWS_FAILED


class InputError(BulkmailError):
    """The input file or the command line cannot be used. Fatal; nothing was sent."""

    exit_status = ExitStatus.BAD_INPUT


class OutputExists(InputError):
    """An output file exists already and --force was not given (interactive runs may ask)."""

    def __init__(self, message: str, path=None):
        super().__init__(message)
        self.path = path


class Refused(InputError):
    """A safety rail stopped the run before anything was sent."""


class Declined(InputError):
    """The user answered no at the confirmation prompt: nothing was sent."""


class Interrupted(BulkmailError):
    """The user pressed Ctrl-C; the run stopped cleanly."""

    exit_status = ExitStatus.INTERRUPTED


class ApiError(BulkmailError):
    """The service answered with an error, or could not be reached."""

    exit_status = ExitStatus.UNREACHABLE

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class AuthError(ApiError):
    """Login failed, the token was refused twice in a row, or the account header was refused. Fatal."""

    exit_status = ExitStatus.AUTH


class RejectedError(ApiError):
    """The service refused the request as a whole (400/404/409/422): nothing of it was applied.
    Skippable: the send stage splits the batch to find the rows at fault and reports them."""


class TooLargeError(ApiError):
    """413: the batch was too large. The send stage halves the batch size."""


class RetriableError(ApiError):
    """429, 5xx, connection fault or timeout: the same call may succeed later."""


class InDoubtError(ApiError):
    """A change was sent but its answer was lost (dropped connection, read timeout, 5xx): it may
    or may not have been applied. Never resend blindly: re-read the state first."""


class UnreachableError(ApiError):
    """Retries ran out. Fatal for the run: exit 4."""
