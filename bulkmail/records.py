"""The record every stage passes along: one Row per input data row, its Status, and the
transitions of a row's life, so that the life of a row can be read in this one file:

    validate:  PLANNED | INVALID | DUPLICATE            (VALID for `bulkmail validate`)
    plan:      PLANNED -> ALREADY_PRESENT | NOT_FOUND | (dry run) WOULD_ADD / WOULD_REMOVE
    send:      PLANNED -> SENT | FAILED | NOT_ATTEMPTED, or straight to ADDED / REMOVED when a
               re-read after a lost answer showed the change, or IN_DOUBT when the answer was
               lost and no re-read could tell (never FAILED: it may have been applied)
    verify:    SENT -> ADDED / REMOVED | FAILED (not there after a walk and a targeted search)
    a stop:    PLANNED -> NOT_ATTEMPTED; SENT -> ADDED / REMOVED "not verified"
    --resume:  IN_DOUBT (and every row that was sent) -> re-read -> ADDED / REMOVED or sent again
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .addresses import address_key


class Status(str, Enum):
    """A row's status; its value is the word the report shows (and compares equal to it)."""

    ADDED = "added"
    REMOVED = "removed"
    ALREADY_PRESENT = "already_present"
    NOT_FOUND = "not_found"
    WOULD_ADD = "would_add"
    WOULD_REMOVE = "would_remove"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"
    IN_DOUBT = "in_doubt"  # the change may have been applied (answer lost, retries spent); --resume settles it
    VALID = "valid"  # `bulkmail validate` only: passed the offline checks
    KEPT = "kept"  # `bulkmail sync` only: left as it is on purpose (--keep, --add-only, --remove-only, scope)
    # Working states inside a run; none of them reaches a report.
    PLANNED = "planned"
    SENT = "sent"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


ADDED, REMOVED = Status.ADDED, Status.REMOVED
ALREADY_PRESENT, NOT_FOUND = Status.ALREADY_PRESENT, Status.NOT_FOUND
INVALID, DUPLICATE, FAILED, NOT_ATTEMPTED = Status.INVALID, Status.DUPLICATE, Status.FAILED, Status.NOT_ATTEMPTED
WOULD_ADD, WOULD_REMOVE, VALID, KEPT = Status.WOULD_ADD, Status.WOULD_REMOVE, Status.VALID, Status.KEPT
PLANNED, SENT, IN_DOUBT = Status.PLANNED, Status.SENT, Status.IN_DOUBT

ENDED_WELL = {ADDED, REMOVED, ALREADY_PRESENT, NOT_FOUND, DUPLICATE, WOULD_ADD, WOULD_REMOVE, VALID, KEPT}
# Ended well, but worth a look: nothing was changed for these rows (--strict counts them as problems).
NO_OPS = {ALREADY_PRESENT, NOT_FOUND}
CHANGES = {ADDED, REMOVED, WOULD_ADD, WOULD_REMOVE, VALID}
# Rows nobody needs to look at: the changes, and what sync left alone on purpose.
QUIET = CHANGES | {KEPT}
STATUSES = [ADDED, REMOVED, ALREADY_PRESENT, NOT_FOUND, WOULD_ADD, WOULD_REMOVE, KEPT, DUPLICATE, INVALID, FAILED,
            IN_DOUBT, NOT_ATTEMPTED, VALID]


@dataclass(slots=True)
class Row:
    """One input row on its way through validate -> plan -> send -> verify -> report."""

    row: int  # the row number Excel shows
    action: str  # "add" / "remove" once valid; the cell as written otherwise
    email_address: str  # as written, spaces stripped
    executive: int | None = None  # 1/0 as the file says; None: not said (sent as 0)
    realname: str = ""  # the display name the file gives, if any
    status: Status | str = ""
    detail: str = ""
    mailbox: dict | None = None  # the live mailbox (ids) when known
    batch: int | None = None
    http_status: int | None = None
    attempts: int = 0
    in_doubt: bool = False  # a request carrying this row lost its answer
    logged: bool = False  # its change is in the audit log (a resumed run does not log it again)
    cells: tuple = ()  # the input row's own cells, in its sheet's column order: the report carries them

    @property
    def key(self) -> str:
        """Addresses compare by their key (case-insensitively, the domain in ASCII)."""
        return address_key(self.email_address)

    @property
    def done_status(self) -> Status:
        """What this row ends as once its change is made."""
        return ADDED if self.action == "add" else REMOVED

    @property
    def would_status(self) -> Status:
        """What a dry run says of this row's change."""
        return WOULD_ADD if self.action == "add" else WOULD_REMOVE

    def visible_in(self, live: dict) -> bool:
        """Does the live state (mailboxes by lower-cased address) show this row's change made?"""
        return (self.key in live) == (self.action == "add")

    # -- validate -------------------------------------------------------------------------

    def invalid(self, detail: str) -> None:
        """Failed the offline checks."""
        self.status, self.detail = INVALID, detail

    def duplicate(self, detail: str) -> None:
        """Repeats an earlier row of the same file (same action, address and data)."""
        self.status, self.detail = DUPLICATE, detail

    def valid(self) -> None:
        """`bulkmail validate`: passed the offline checks."""
        if self.status == PLANNED:
            self.status = VALID

    # -- plan -------------------------------------------------------------------------------

    def present(self, detail: str, mailbox: dict | None = None) -> None:
        """Add asked and the mailbox is there: nothing to send."""
        self.status, self.detail = ALREADY_PRESENT, detail
        if mailbox is not None:
            self.mailbox = mailbox

    def missing(self, detail: str) -> None:
        """Remove asked and no such mailbox: nothing to send."""
        self.status, self.detail = NOT_FOUND, detail

    def keep(self, detail: str) -> None:
        """`bulkmail sync`: left as it is on purpose."""
        self.status, self.detail = KEPT, detail

    def would(self) -> None:
        """A dry run: what the real run would do."""
        self.status = self.would_status

    # -- send, verify, resume ---------------------------------------------------------------

    def sent(self) -> None:
        """The service accepted the request carrying this row (verify confirms it)."""
        self.status, self.http_status = SENT, None

    def restore(self, status: str, detail: str, http_status: int | None) -> None:
        """An interrupted run settled this row (read back from its journal)."""
        self.status, self.detail, self.http_status = Status(status), detail, http_status

    def done(self, detail: str = "", mailbox: dict | None = None) -> None:
        """The change is made (and, unless the detail says otherwise, seen on the service)."""
        self.status, self.detail = self.done_status, detail
        if mailbox is not None:
            self.mailbox = mailbox

    def fail(self, detail: str, http_status: int | None = None) -> None:
        """The service refused this row, or its change is surely not made."""
        self.status, self.detail, self.http_status = FAILED, detail, http_status

    def doubt(self, detail: str, http_status: int | None = None) -> None:
        """The change may have been applied and nothing could tell: --resume re-reads it."""
        self.in_doubt = True
        self.status, self.detail, self.http_status = IN_DOUBT, detail, http_status

    def stop(self, reason: object, http_status: int | None = None) -> None:
        """A fatal error stopped this row's batch: unsent rows were not attempted, rows whose
        answer was lost are in doubt."""
        if self.status != PLANNED:
            return
        if self.in_doubt:
            self.doubt(f"in doubt: the answer was lost and re-reading could not tell ({reason}); the change may "
                       "have been applied. Run the same command with --resume to settle it.", http_status)
        else:
            self.status, self.detail, self.http_status = NOT_ATTEMPTED, f"not sent: {reason}", http_status

    def close_unsent(self, reason: object) -> None:
        """The run stopped before this row was sent."""
        if self.status == PLANNED:
            self.status, self.detail = NOT_ATTEMPTED, f"not sent: {reason}"

    def close_unverified(self, reason: object) -> None:
        """The run stopped after the service accepted this row and before it was re-read."""
        if self.status == SENT:
            self.status = self.done_status
            self.detail = f"accepted by the service; not verified because the run stopped ({reason})"
