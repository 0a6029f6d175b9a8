"""Tokens: one login for every thread, renewed before it runs out and after a 401.

The login and every renewal run under the token lock and never hold or wait for a throttle
slot (the client's login request takes none), so a renewal cannot wait for a slot that a
thread waiting for the new token holds: see Client's lock order."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger("bulkmail")
# A token refused this soon after its login was most likely ended by another session of the
# same user (see Tokens.renew_after_401), not by its lifetime running out.
CONTENDED = 5.0


@dataclass(frozen=True)
class Grant:
    """What one login gave: the token, when to renew it (monotonic seconds), when it came."""

    token: str
    renew_at: float
    issued_at: float


class Tokens:
    """The token source of one client. ``log_in()`` performs a login and returns its Grant;
    ``step_back(n)`` waits the retry policy's n-th backoff (cut short by a cancel)."""

    def __init__(self, log_in: Callable[[], Grant], step_back: Callable[[int], float]):
        self._log_in = log_in
        self._step_back = step_back
        self._lock = threading.Lock()
        self._grant: Grant | None = None
        self._contended = 0  # tokens in a row refused soon after they were issued

    def log_in(self) -> None:
        """Log in now (the first time, or to check the credentials)."""
        with self._lock:
            self._grant = self._log_in()

    def fresh(self) -> str:
        """The current token, after logging in again when it is about to run out."""
        with self._lock:
            if self._grant is None or time.monotonic() >= self._grant.renew_at:
                self._grant = self._log_in()
            return self._grant.token

    def served(self, token: str) -> None:
        """A call went through with ``token``: whoever refused tokens before, the session works
        now, so the next refusal starts the step-back from the beginning (tokens that live a
        second, or a revocation now and then, are no contention)."""
        if self._contended and self._grant is not None and self._grant.token == token:
            self._contended = 0

    def renew_after_401(self, used: str) -> str:
        """Log in again because ``used`` was refused, unless another thread already did.

        A token refused soon after it was issued means another session of the same user ends
        ours (a service allowing one session per user, and another bulkmail or the console
        logging in): logging straight back in would end theirs, and both would only refuse
        each other. So this process steps back first, a jittered while that grows each time it
        happens in a row, holding the token lock (its other threads wait, holding no slot) and
        leaving the other session a window to work in; then it logs in and gets its own."""
        with self._lock:
            if self._grant is None or self._grant.token == used:
                issued = self._grant.issued_at if self._grant else 0.0
                if time.monotonic() - issued < CONTENDED:
                    self._contended += 1
                    waited = self._step_back(self._contended)
                    log.info("token refused %.1fs after login (another session of this user?); stepped back %.1fs",
                             time.monotonic() - issued, waited)
                log.info("token refused (401); logging in again")
                self._grant = self._log_in()
            return self._grant.token
