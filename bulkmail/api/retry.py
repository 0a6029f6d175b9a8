"""Retry policy (an immutable value, like urllib3's Retry) and an adaptive concurrency limit."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

CHANGES = ("POST", "DELETE")  # the calls that change mailboxes


@dataclass(frozen=True)
class Retry:
    """How often and how long to wait before trying a call again.

    ``attempts`` counts every try, the first included. Waits grow exponentially from
    ``backoff`` up to ``cap`` with full jitter (a random share of the step), so that many
    clients failing together do not come back together. A server's Retry-After wins over the
    backoff, up to ``retry_after_cap``. ``sleep`` and ``random`` are injectable for tests.
    """

    attempts: int = 6
    backoff: float = 0.5
    cap: float = 30.0
    retry_after_cap: float = 300.0
    # A login that cannot connect at all is a wrong address or a host that is down: this many
    # tries, not a backoff of many (rate limits and 5xx keep every attempt).
    login_connect_attempts: int = 2
    # 429s do not use up the attempts: a rate limit shared with other clients can refuse many
    # times in a row. A call waits on them this many seconds in all, then gives up.
    rate_limited_for: float = 300.0
    # None: the caller's sleep (the client's is cut short by a cancel); tests inject their own.
    sleep: Callable[[float], None] | None = field(default=None, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False)

    def is_retry(self, method: str, status: int | None, *, reached: bool = True, change: bool | None = None) -> bool:
        """May a call that failed this way be sent again as it is?

        ``status`` is None for a connection fault; ``reached`` False when the request surely
        never reached the server (the connection was refused). A change (POST/DELETE of
        mailboxes) that may have been applied — a dropped answer, a 5xx — is never resent
        blindly: it is in doubt, and the caller re-reads the state instead. A 429 was refused
        before anything was done, so it may always go again."""
        change = method in CHANGES if change is None else change
        if status is None:
            return not (change and reached)
        if status == 429:
            return True
        return status >= 500 and not change

    def is_exhausted(self, attempt: int, *, login_unreachable: bool = False) -> bool:
        """Has try number ``attempt`` (1-based) used up the attempts for this kind of failure?"""
        limit = min(self.login_connect_attempts, self.attempts) if login_unreachable else self.attempts
        return attempt >= limit

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based): the jittered backoff,
        and never less than the server's Retry-After. A rate limit shared by many clients (a
        token bucket) tells each of them when the next token comes; if they all came back
        right then, all but one would be refused again and the attempts would run out in a
        blink, so the backoff still grows under the Retry-After."""
        backoff = self.random() * min(self.cap, self.backoff * 2 ** (attempt - 1))
        if retry_after is not None:
            return max(min(retry_after, self.retry_after_cap), backoff)
        return backoff

    def wait(self, attempt: int, retry_after: float | None = None, sleep: Callable[[float], None] = time.sleep
             ) -> float:
        """Sleep the delay after failed try number ``attempt`` (with the injected sleep if any,
        else ``sleep``); return it."""
        seconds = self.delay(attempt, retry_after)
        (self.sleep if self.sleep is not None else sleep)(seconds)
        return seconds


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date. None if absent or unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime  # only for a Retry-After given as a date

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class Throttle:
    """A concurrency limit that halves on 429 and grows back by one after ``recover_after``
    answers without a 429 (additive increase, multiplicative decrease)."""

    def __init__(self, limit: int, recover_after: int = 20):
        self.maximum = max(1, limit)
        self.limit = self.maximum
        self.recover_after = recover_after
        self._in_flight = 0
        self._clean = 0
        self._cond = threading.Condition()

    def __enter__(self) -> Throttle:
        with self._cond:
            while self._in_flight >= self.limit:
                self._cond.wait()
            self._in_flight += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify()

    def record(self, throttled: bool) -> None:
        """Tell the limit how an answer went."""
        with self._cond:
            if throttled:
                self.limit = max(1, self.limit // 2)
                self._clean = 0
            else:
                self._clean += 1
                if self._clean >= self.recover_after and self.limit < self.maximum:
                    self.limit += 1
                    self._clean = 0
                    self._cond.notify()
