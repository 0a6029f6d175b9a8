"""The record every stage passes along: one Row per input data row, and the status names."""

from __future__ import annotations

from dataclasses import dataclass

ADDED, REMOVED = "added", "removed"
ALREADY_PRESENT, NOT_FOUND = "already_present", "not_found"
INVALID, DUPLICATE, FAILED, NOT_ATTEMPTED = "invalid", "duplicate", "failed", "not_attempted"
WOULD_ADD, WOULD_REMOVE = "would_add", "would_remove"
VALID = "valid"  # `bulkmail validate` only: passed the offline checks
# Working states inside a run; none of them reaches a report.
PLANNED, SENT = "planned", "sent"

ENDED_WELL = {ADDED, REMOVED, ALREADY_PRESENT, NOT_FOUND, DUPLICATE, WOULD_ADD, WOULD_REMOVE, VALID}
# Ended well, but worth a look: nothing was changed for these rows (--strict counts them as problems).
NO_OPS = {ALREADY_PRESENT, NOT_FOUND}
CHANGES = {ADDED, REMOVED, WOULD_ADD, WOULD_REMOVE, VALID}
STATUSES = [ADDED, REMOVED, ALREADY_PRESENT, NOT_FOUND, WOULD_ADD, WOULD_REMOVE, DUPLICATE, INVALID, FAILED,
            NOT_ATTEMPTED, VALID]


@dataclass(slots=True)
class Row:
    """One input row on its way through validate -> plan -> send -> verify -> report."""

    row: int  # the row number Excel shows
    action: str  # "add" / "remove" once valid; the cell as written otherwise
    email_address: str  # as written, spaces stripped
    executive: int | None = None  # 1/0 as the file says; None: not said (sent as 0)
    realname: str = ""  # the display name the file gives, if any
    status: str = ""
    detail: str = ""
    mailbox: dict | None = None  # the live mailbox (ids) when known
    batch: int | None = None
    http_status: int | None = None
    attempts: int = 0
    in_doubt: bool = False  # a request carrying this row lost its answer

    @property
    def key(self) -> str:
        """Addresses compare case-insensitively."""
        return self.email_address.lower()
