"""A cancellation flag: what Ctrl-C, SIGTERM, --max-duration (and a Cancel button) set, and
what the pipeline checks at safe points. Setting it never interrupts a thread: the sender
starts no new batch, a walk reads no new page, a retry stops waiting; what is on the wire
comes back and is settled."""

from __future__ import annotations

import threading

from .errors import Interrupted


class Cancel:
    """Set once, with the reason the run stops for (an Interrupted error)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: Interrupted | None = None

    def set(self, reason: Interrupted) -> bool:
        """Ask the run to stop; False if it was asked already (the first reason stands)."""
        if self._event.is_set():
            return False
        self.reason = reason
        self._event.set()
        return True

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise the reason if the run was asked to stop."""
        if self.reason is not None:
            raise type(self.reason)(str(self.reason))  # a fresh one per thread: no shared traceback

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less when the run is asked to stop meanwhile."""
        self._event.wait(max(0.0, seconds))
