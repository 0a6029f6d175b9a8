"""Batches -> requests -> row outcomes.

A batch refused as a whole (400/404/409/422) is split in halves until the rows at fault stand
alone; 413 halves the batch size for the rest of the run; a change whose answer was lost is
settled by re-reading the addresses, and only what is still missing is sent again."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Sequence

from ..api.client import Client
from ..errors import (AuthError, BulkmailError, Fatal, InDoubtError, Interrupted, RejectedError, TooLargeError,
                     UnreachableError)
from .live import domain_of, lookup
from .planning import Plan
from .verify import name_not_kept
from ..progress import Tracker, Watch
from ..records import FAILED, PLANNED, Row
from ..words import plural

log = logging.getLogger("bulkmail")
LOST_ANSWER = "the answer was lost; re-reading showed the change applied"
STOPPED = "the batches in flight were finished, the rest not sent. Run the same command with --resume to finish."


def chunks(rows: Sequence[Row], size: int) -> list[list[Row]]:
    return [list(rows[i:i + size]) for i in range(0, len(rows), size)]


class Sender:
    """Sends a plan's adds, then its removes. Rows end SENT (verify confirms them), or with a
    final status. After a fatal error (auth lost, service unreachable) or a cancel (Ctrl-C,
    SIGTERM, --max-duration), the batches in flight finish, nothing new starts, and ``stopped``
    holds the reason. Its one pool has the client's concurrency; a worker's re-reads run in that
    worker."""

    def __init__(self, client: Client, *, batch_size: int = 100, concurrency: int | None = None,
                 watch: Watch | None = None, on_send: Callable[[list[Row]], None] | None = None):
        self.client = client
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, concurrency or client.concurrency)
        self.watch = watch  # told of each batch that settles its rows
        # Called before each request leaves (the journal records the rows as sent); a crash
        # after it leaves the rows in doubt, to be settled by re-reading, never resent blindly.
        self.on_send = on_send or (lambda rows: None)
        self.stopped: BulkmailError | None = None
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, plan: Plan) -> None:
        adds = plan.to_add
        if plan.new_domains:
            adds = self._probe_domains(adds, plan.new_domains)
        for kind, rows in (("add", adds), ("remove", plan.to_remove)):
            if rows and self.stopped is None:
                self._phase(kind, rows)
            elif rows:
                self._close_unsent(rows)

    def _probe_domains(self, rows: list[Row], domains: set[str]) -> list[Row]:
        """Send one canary row per domain that has no mailbox in the account yet, before the
        rest of that domain: a service refuses a whole batch for one unregistered domain, so a
        bad domain costs a few requests instead of a bisection of every batch it is in."""
        groups: dict[str, list[Row]] = {d: [] for d in sorted(domains)}
        rest = []
        for row in rows:
            groups.get(domain_of(row.email_address), rest).append(row)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="canary") as pool:
            futures = {pool.submit(self._canaries, domain, group): group for domain, group in groups.items()}
            for future, group in futures.items():
                for batch in self._collect(future, group):
                    rest.extend(batch)
        order = {id(row): n for n, row in enumerate(rows)}
        return sorted(rest, key=lambda row: order[id(row)])

    def _canaries(self, domain: str, rows: list[Row]) -> list[list[Row]]:
        """Rows one at a time until one is accepted (the rest of the domain then goes in
        batches), or the refusals show the domain itself is refused: the message names it, or
        two rows in a row get the same message. A refusal about the row itself stays that row's."""
        previous = None
        for index, row in enumerate(rows):
            if self.client.cancel.is_set():
                return [rows[index:]]  # closed as not sent by the phase that finds the run stopped
            again = self._attempt("add", [row])
            if row.status != FAILED:  # accepted, settled by a re-read, or to be sent again
                return [[r for batch in again for r in batch] + rows[index + 1:]]
            refusal = row.detail
            if domain in refusal.lower() or refusal == previous:
                log.info("the service refuses the domain %s (%s); its other rows are not sent", domain, refusal)
                for other in rows[index + 1:]:
                    other.fail(f"not sent: the service refused row {row.row} of the same domain: {refusal}",
                               row.http_status)
                return []
            previous = refusal
        return []

    def _close_unsent(self, rows: list[Row]) -> None:
        for row in rows:
            row.close_unsent(self.stopped)

    def _phase(self, kind: str, rows: list[Row]) -> None:
        pending: deque[list[Row]] = deque(chunks(rows, self.batch_size))
        running: dict = {}
        label = "Adding" if kind == "add" else "Removing"
        cancel = self.client.cancel
        with Tracker(self.watch, label, len(rows)) as bar, \
                ThreadPoolExecutor(self.concurrency, thread_name_prefix="send") as pool:
            try:
                while running or (pending and self.stopped is None):
                    if cancel.is_set() and self.stopped is None:
                        self.stopped = type(cancel.reason)(f"{cancel.reason}: {STOPPED}")
                    while pending and self.stopped is None and len(running) < self.concurrency:
                        batch = pending.popleft()
                        if len(batch) > self.batch_size:  # the size was halved after a 413
                            pending.extendleft(reversed(chunks(batch, self.batch_size)))
                            continue
                        running[pool.submit(self._attempt, kind, batch)] = batch
                    # A short timeout: a cancel is noticed while batches are on the wire.
                    done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in done:
                        batch = running.pop(future)
                        pending.extendleft(reversed(self._collect(future, batch)))
                        bar.update(sum(row.status != PLANNED for row in batch))
            except KeyboardInterrupt:  # a library caller without a signal handler
                self.stopped = Interrupted(f"Interrupted: {STOPPED}")
                cancel.set(self.stopped)
                for future, batch in running.items():  # let what is on the wire come back
                    self._collect(future, batch)
            finally:
                for batch in pending:
                    self._close_unsent(batch)

    def _collect(self, future, batch: list[Row]) -> list[list[Row]]:
        """A finished batch's follow-up batches; a fatal error stops the run."""
        try:
            return future.result()
        except Fatal as err:
            if self.stopped is None:  # a cancel a worker met first says what the run did about it, too
                self.stopped = type(err)(f"{err}: {STOPPED}") if isinstance(err, Interrupted) else err
            # 401/403, a cancel and unsent requests changed nothing; a batch that kept failing is
            # failed; a change whose answer was lost and that no re-read settled is in doubt.
            http_status = getattr(err, "status", None)
            for row in batch:
                if row.status != PLANNED:
                    continue
                if row.in_doubt or http_status is None or isinstance(err, (AuthError, Interrupted)):
                    row.stop(err, http_status)
                else:
                    row.fail(str(err), http_status)
            return []

    def _attempt(self, kind: str, batch: list[Row]) -> list[list[Row]]:
        """Send one batch; return the batches still to send (halves, leftovers)."""
        number = next(self._numbers)
        for row in batch:
            row.batch, row.attempts = number, row.attempts + 1
        self.on_send(batch)
        try:
            if kind == "add":
                self.client.add({"email_address": r.email_address, "executive": r.executive, "realname": r.realname}
                                for r in batch)
            else:
                self.client.remove(r.mailbox for r in batch)
        except TooLargeError as err:
            if len(batch) == 1:
                self._fail(batch[0], err)
                return []
            with self._lock:
                self.batch_size = max(1, min(self.batch_size, len(batch) // 2))
            log.info("%s; batch size now %d", err, self.batch_size)
            return chunks(batch, self.batch_size)
        except RejectedError as err:
            if len(batch) == 1:
                self._settle_alone(kind, batch[0], err)
                return []
            log.info("batch %d of %d rows refused (%s); splitting it", number, len(batch), err)
            half = len(batch) // 2
            return [batch[:half], batch[half:]]
        except InDoubtError as err:
            log.info("batch %d: %s; re-reading its %d addresses", number, err, len(batch))
            for row in batch:
                row.in_doubt = True
            return self._settle_in_doubt(kind, batch, err)
        for row in batch:
            row.sent()
        return []

    def _settle_in_doubt(self, kind: str, batch: list[Row], err: InDoubtError) -> list[list[Row]]:
        """Re-read; rows whose change shows are done, the rest go again after a backoff."""
        live = lookup(self.client, [r.email_address for r in batch], concurrency=1)
        rest = []
        for row in batch:
            if row.visible_in(live):  # this re-read is its verification
                row.done(LOST_ANSWER, live.get(row.key))
                row.detail = name_not_kept(row) or row.detail
            else:
                rest.append(row)
        tries = max((row.attempts for row in rest), default=0)
        if rest and self.client.retry.is_exhausted(tries):
            for row in rest:
                self._fail(row, err, f"gave up after {plural(row.attempts, 'attempt')}: ")
            raise UnreachableError(f"The service kept failing ({err}); gave up after {plural(tries, 'attempt')}.",
                                   status=err.status)
        if rest:
            self.client.wait_before(tries)
            return [rest]
        return []

    def _settle_alone(self, kind: str, row: Row, err: RejectedError) -> None:
        """A single row refused: "already exists" / "not found" may just mean the state moved
        (or an earlier lost answer applied it). Re-read that address to tell."""
        live = lookup(self.client, [row.email_address], concurrency=1)
        if not row.visible_in(live):
            self._fail(row, err)
        elif row.in_doubt:  # an earlier attempt whose answer was lost did it
            row.done(LOST_ANSWER, live.get(row.key))
        elif kind == "add":
            row.present(f"added by someone else meanwhile ({err})", live[row.key])
        else:
            row.missing(f"removed by someone else meanwhile ({err})")

    @staticmethod
    def _fail(row: Row, err: BulkmailError, prefix: str = "") -> None:
        row.fail(prefix + str(err), getattr(err, "status", None))
