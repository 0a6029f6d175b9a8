"""A cancellation flag: what Ctrl-C, SIGTERM, --max-duration (and a Cancel button) set, and
what the pipeline checks at safe points. Setting it never interrupts a thread: the sender
starts no new batch, a walk reads no new page, a retry stops waiting; what is on the wire
comes back and is settled."""

from __future__ import annotations

import time

from .errors import Interrupted


class Cancel:
    """Set once, with the reason the run stops for (an Interrupted error).

    No lock anywhere: a signal handler sets it, and a handler runs between any two bytecodes of
    the main thread, also inside a lock that thread holds (an Event's, while an earlier signal's
    handler was setting it): a second Ctrl-C or SIGTERM then waited for ever on that lock. The
    reason is one attribute, written at once; sleepers look at it every POLL seconds."""

    POLL = 0.05

    def __init__(self) -> None:
        self.reason: Interrupted | None = None

    def set(self, reason: Interrupted) -> bool:
        """Ask the run to stop; False if it was asked already (the first reason stands)."""
        if self.reason is not None:
            return False
        self.reason = reason
        return True

    def is_set(self) -> bool:
        return self.reason is not None

    def check(self) -> None:
        """Raise the reason if the run was asked to stop."""
        if self.reason is not None:
            raise type(self.reason)(str(self.reason))  # a fresh one per thread: no shared traceback

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less when the run is asked to stop meanwhile."""
        deadline = time.monotonic() + max(0.0, seconds)
        while self.reason is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, self.POLL))
