"""A crash-safe record of an import, so that `--resume` can finish an interrupted run.

One SQLite file (WAL) per input file and account, in the user's state folder (so a run
started from one folder is found from any other). Before a batch goes out, its
rows are marked sent in a committed transaction (the only write per batch: the one a resume
cannot do without); the plan's outcomes and the final statuses are recorded in bulk. After a
crash, a row marked sent but not final is "in doubt": the resumed run re-reads it instead of
sending it again. A lock file held with an OS lock keeps two runs off the same file; the OS
drops the lock when a process dies, so a killed run leaves no stale lock behind."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from ..addresses import address_key
from ..errors import DiskFull, ExitStatus, InputError
from ..files.paths import journal_dir, now
from ..records import ADDED, ALREADY_PRESENT, NOT_FOUND, PLANNED, REMOVED, Row

# Statuses a resumed run keeps: the service's state was read or changed for that row.
SETTLED = {ADDED, REMOVED, ALREADY_PRESENT, NOT_FOUND}
SCHEMA = """
CREATE TABLE IF NOT EXISTS run (id INTEGER PRIMARY KEY CHECK (id = 1), source TEXT, content_hash TEXT,
                                started TEXT, finished TEXT, report TEXT, exit_status INTEGER);
CREATE TABLE IF NOT EXISTS rows (row INTEGER PRIMARY KEY, action TEXT, email_address TEXT, status TEXT,
                                 detail TEXT, mailbox TEXT, batch INTEGER, http_status INTEGER,
                                 attempts INTEGER, sent INTEGER, logged INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS audit_runs (run_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS marks (rows TEXT);
"""
# The rows' state as saved: a row of `rows`, or the same values in a group of `marks` (see mark_sent).
UPSERT = ("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(row) DO UPDATE SET "
          "status=excluded.status, detail=excluded.detail, mailbox=excluded.mailbox, batch=excluded.batch, "
          "http_status=excluded.http_status, attempts=excluded.attempts, sent=max(rows.sent, excluded.sent), "
          "logged=max(rows.logged, excluded.logged)")
FORGET = [("DELETE FROM rows", ()), ("DELETE FROM marks", ()), ("DELETE FROM run", ()), ("DELETE FROM audit_runs", ())]


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def journal_path(source: str | os.PathLike, account: str = "", folder: str | os.PathLike | None = None) -> Path:
    """Where the journal of this input file in this account lives."""
    source = Path(source).resolve()
    key = hashlib.sha256(f"{source}\n{account}".encode()).hexdigest()[:12]
    return (Path(folder) if folder is not None else journal_dir()) / f"{source.stem}-{key}.sqlite"


def waits_for_resume(source: str | os.PathLike, account: str = "") -> bool:
    """Does an interrupted run of this file wait for --resume? Read without opening the journal
    for a run (no lock taken, nothing created): for lists such as the page's History."""
    path = journal_path(source, account)
    if not path.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT 1 FROM run WHERE finished IS NULL").fetchone() is not None
    except sqlite3.Error:
        return False


class _FileLock:
    """An exclusive, non-blocking OS lock on a file that names its holder's pid."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = open(path, "a+")
        try:
            self._lock()
        except OSError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "unknown"
            self.handle.close()
            raise InputError(f"Another bulkmail run (pid {holder}) is importing this file right now. "
                             "Wait for it to finish, then try again.") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(str(os.getpid()))
        self.handle.flush()

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows
            import msvcrt
            self.handle.seek(0)
            msvcrt.locking(self.handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        self.handle.close()  # closing drops the OS lock


class Journal:
    """The journal of one input file. Thread-safe: batches report from worker threads."""

    opened = 0  # journals open in this process: a run stopped at once says --resume finishes it

    def __init__(self, source: str | os.PathLike, account: str = "", folder: str | os.PathLike | None = None,
                 content_hash: str | None = None):
        self.source = Path(source).resolve()
        self.content_hash = content_hash or file_hash(self.source)  # the caller's, when it hashed the file already
        self.path = journal_path(self.source, account, folder)
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)  # it names the addresses of each run
            self._file_lock = _FileLock(self.path.with_suffix(".lock"))
        except OSError as exc:
            raise InputError(f"Cannot keep the run's journal in {directory}: {exc.strerror or exc}. Nothing was "
                             "sent. Make that folder writable (or set XDG_STATE_HOME to one that is).") from None
        self._lock = threading.Lock()
        # Group commit of the senders' marks (see mark_sent): the queue, and who commits.
        self._queue_lock, self._commit_lock = threading.Lock(), threading.Lock()
        self._queued: list[list[Row]] = []
        self._issued = self._committed = 0
        self._failed: DiskFull | None = None
        self._open()
        Journal.opened += 1

    def _open(self) -> None:
        """Connect to the journal's file (made when missing); the file lock is given back when
        it cannot be used."""
        try:
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(rows)")}
            if "logged" not in columns:  # a journal from before the audit log
                self.db.execute("ALTER TABLE rows ADD COLUMN logged INTEGER DEFAULT 0")
        except sqlite3.Error as exc:
            self._file_lock.release()
            if _disk_full(exc, self.path.parent):
                raise DiskFull(f"Cannot keep the run's journal in {self.path.parent} ({exc}); is the disk full? Nothing "
                               "was sent. Free some space, then run the same command again.") from None
            raise InputError(f"Cannot keep the run's journal in {self.path}: {exc}. Nothing was sent. Make that "
                             "folder writable, or remove the broken file.") from None

    def close(self) -> None:
        self.db.close()
        self._file_lock.release()
        Journal.opened -= 1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the run -------------------------------------------------------------------------

    def unfinished(self) -> tuple[str, str] | None:
        """(started, content hash) of an interrupted run of this file, or None."""
        found = self.db.execute("SELECT started, content_hash FROM run WHERE finished IS NULL").fetchone()
        return (found[0], found[1]) if found else None

    def _write(self, statements: list[tuple[str, object]]) -> None:
        """Run these statements in one committed transaction. A journal that cannot be written
        (a full disk) stops the run: sending without it would lose what --resume needs."""
        with self._lock:
            try:
                self.db.execute("BEGIN")
                for sql, values in statements:
                    if isinstance(values, list):
                        self.db.executemany(sql, values)
                    else:
                        self.db.execute(sql, values)
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise DiskFull(f"The run's journal {self.path} cannot be written ({exc}); is the disk full? Nothing "
                               "more was sent. Free some space, then run the same command with --resume.") from None

    def start(self) -> None:
        """Begin a fresh run: forget any earlier one, in a new file (we hold the file lock):
        deleting a big earlier run row by row cost as much as the new run's first batches."""
        self.db.close()
        try:
            for leftover in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                leftover.unlink(missing_ok=True)
        except OSError as exc:
            self._file_lock.release()
            raise InputError(f"Cannot keep the run's journal in {self.path.parent}: {exc.strerror or exc}. Nothing was "
                             "sent. Make that folder writable (or set XDG_STATE_HOME to one that is).") from None
        self._open()
        self._write([("INSERT INTO run VALUES (1, ?, ?, ?, NULL, NULL, NULL)",
                      (str(self.source), self.content_hash, now()))])

    def check_resumable(self) -> bool:
        """True if there is an interrupted run to finish; refuses when the file changed since."""
        found = self.unfinished()
        if found is None:
            return False
        started, content_hash = found
        if content_hash != self.content_hash:
            raise InputError(f"{self.source.name} changed since the interrupted run of {started}, so that run cannot "
                             "be finished with it. Restore the file as it was and use --resume, or start a new run "
                             "with --fresh.")
        return True

    def finished(self) -> tuple[str, str, int] | None:
        """(finished, report, exit status) of the last run when it finished with this very file."""
        found = self.db.execute("SELECT finished, report, exit_status FROM run WHERE finished IS NOT NULL "
                                "AND content_hash = ?", (self.content_hash,)).fetchone()
        return tuple(found) if found else None

    def finish(self, report: Path, exit_status: int) -> None:
        self._write([("UPDATE run SET finished = ?, report = ?, exit_status = ?", (now(), str(report), exit_status))])

    def forget(self) -> None:
        """A run stopped before it sent anything leaves nothing to finish: the next run, with
        or without --resume, starts afresh."""
        self._write(FORGET)

    def audit_runs(self) -> list[str]:
        """The audit log's run ids of this run and the interrupted runs it resumes."""
        return [found[0] for found in self.db.execute("SELECT run_id FROM audit_runs")]

    def add_audit_run(self, run_id: str) -> None:
        self._write([("INSERT OR IGNORE INTO audit_runs VALUES (?)", (run_id,))])

    def any_sent(self) -> bool:
        """Did this run (or the one it resumes) send anything? If not, there is nothing to resume."""
        return self.db.execute("SELECT 1 FROM rows WHERE sent = 1 UNION ALL SELECT 1 FROM marks LIMIT 1"
                               ).fetchone() is not None

    # -- rows ----------------------------------------------------------------------------

    def record(self, rows: list[Row], sent: bool = False) -> None:
        """Save the rows' current state in one committed transaction; ``sent`` marks them as on
        the wire (done before the request leaves, so a crash cannot hide a sent change)."""
        self._write([*self._folded(), (UPSERT, _values(rows, sent))])

    def _folded(self) -> list[tuple[str, object]]:
        """The statements that carry the marks into `rows`, in the order they were made (before
        anything reads or writes the rows)."""
        found = self.db.execute("SELECT rowid, rows FROM marks ORDER BY rowid").fetchall()
        if not found:
            return []
        return [(UPSERT, [tuple(values) for _, mark in found for values in json.loads(mark)]),
                ("DELETE FROM marks WHERE rowid <= ?", (found[-1][0],))]  # a mark made meanwhile stays

    def _fold(self) -> None:
        if folded := self._folded():
            self._write(folded)

    def mark_sent(self, rows: list[Row]) -> None:
        """The Sender's hook, called before a batch's request leaves; it returns once the rows are
        committed. Batches marked while a commit runs go together in the next one (a group
        commit): one synced transaction for several, so senders do not queue behind the disk."""
        with self._queue_lock:
            self._queued.append(rows)
            self._issued += 1
            ticket = self._issued
        with self._commit_lock:
            if self._committed < ticket:  # nobody took ours along yet: commit every queued batch
                with self._queue_lock:
                    groups, self._queued, last = self._queued, [], self._issued
                try:
                    # One statement for the group, not one per row: the commit is on the way of
                    # every request, and sqlite's per-row steps would hand the GIL to and fro.
                    # The marks join `rows` when anything reads them (_folded).
                    marked = json.dumps(_values([row for group in groups for row in group], sent=True))
                    self._write([("INSERT INTO marks VALUES (?)", (marked,))])
                except DiskFull as err:
                    self._failed = err
                self._committed = last
            if self._failed is not None:
                raise DiskFull(str(self._failed))  # every batch after a failed commit stops too

    def sent_rows(self) -> set[int]:
        """The row numbers an interrupted run sent (its changes, made or in doubt)."""
        self._fold()
        return {found[0] for found in self.db.execute("SELECT row FROM rows WHERE sent = 1")}

    def live_rows(self) -> list[Row]:
        """The rows a sync recorded for live mailboxes (negative row numbers: they have none in
        the roster), as sent: a resumed sync reports them even when they are gone."""
        self._fold()
        found = self.db.execute("SELECT row, email_address, mailbox FROM rows WHERE row < 0 AND sent = 1").fetchall()
        return [Row(number, "remove", address, status=PLANNED, mailbox=json.loads(mailbox) if mailbox else None)
                for number, address, mailbox in found]

    def restore(self, rows: list[Row]) -> int:
        """Carry an interrupted run's outcomes into freshly validated rows: settled rows keep
        their status; rows that were ever sent become in doubt. Returns how many were settled."""
        self._fold()
        saved = {r[0]: r for r in self.db.execute(
            "SELECT row, action, email_address, status, detail, mailbox, batch, http_status, attempts, sent, logged "
            "FROM rows")}
        settled = 0
        for row in rows:
            found = saved.get(row.row)
            if found is None or row.status != PLANNED or address_key(found[2]) != row.key or found[1] != row.action:
                continue
            _, _, _, status, detail, mailbox, batch, http_status, attempts, sent, logged = found
            row.batch, row.attempts, row.in_doubt, row.logged = batch, attempts or 0, bool(sent), bool(logged)
            row.mailbox = json.loads(mailbox) if mailbox else None  # a removed mailbox's ids live on here
            if status in SETTLED:
                row.restore(status, detail, http_status)
                settled += 1
        return settled


def _disk_full(error: sqlite3.Error, folder: Path) -> bool:
    """Whether sqlite's error is a full disk: it says so (SQLITE_FULL), or it failed to write
    (SQLITE_IOERR, what a WAL file that cannot grow gives) where less than a megabyte is free."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return True
    try:
        return code == sqlite3.SQLITE_IOERR and shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def _values(rows: list[Row], sent: bool) -> list[tuple]:
    """The rows' state as a row of `rows` holds it."""
    return [(r.row, r.action, r.email_address, str(r.status), r.detail, json.dumps(r.mailbox) if r.mailbox else None,
             r.batch, r.http_status, r.attempts, int(sent or r.in_doubt), int(r.logged)) for r in rows]


@dataclass(frozen=True)
class FinishedRun:
    """The earlier run a --resume found finished: nothing to do, its report stands."""

    finished: str
    report: str
    exit_status: ExitStatus

def open_journal(source: str | os.PathLike, account: str = "", *, resume: bool = False, fresh: bool = False,
                 folder: str | os.PathLike | None = None, content_hash: str | None = None
                 ) -> tuple[Journal, bool, FinishedRun | None]:
    """The journal of this input file in this account, locked for this run; whether the run
    resumes one; and, for --resume of a run of this same file that finished, that run."""
    journal = Journal(source, account, folder, content_hash)
    try:
        resuming = journal.check_resumable() if resume else False
        done = journal.finished() if resume and not resuming else None
        if done:
            return journal, False, FinishedRun(done[0], done[1], ExitStatus(done[2]))
        found = journal.unfinished()
        if found and not resume and not fresh:
            raise _unfinished(journal.source.name, found[0])
        if not resuming:
            journal.start()
        return journal, resuming, None
    except BaseException:
        journal.close()
        raise

def refuse_unfinished(source: str | os.PathLike, account: str) -> None:
    """Stop when an interrupted run of this file (in this account) waits for --resume or --fresh."""
    with Journal(source, account) as journal:
        found = journal.unfinished()
    if found:
        raise _unfinished(Path(source).name, found[0])

def _unfinished(name: str, started: str) -> InputError:
    return InputError(f"An interrupted run of {name} from {started} is not finished. Pass --resume to finish it "
                      "(rows it applied keep their status), or --fresh to start over.")
