"""The audit log: who changed which mailbox, from which file, and when.

JSON Lines at $BULKMAIL_AUDIT_LOG, else audit.jsonl in the user's log folder, owner-only. A
run appends a "run" record when it starts and one when it ends, and one "change" record per
mailbox it added or removed. Nothing secret goes in. Each append is whole lines written in one
call under an OS lock, so concurrent runs never interleave and a crash never leaves half a
record: a write that fails half-way (a full disk) is cut back to the last whole line; past a
size the file rotates (audit.jsonl.1 … .N, the oldest dropped)."""

from __future__ import annotations

import functools
import getpass
import itertools
import json
import os
import socket
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from json.encoder import encode_basestring
from pathlib import Path
from typing import Iterable, Iterator

MAX_BYTES = 10 * 1024 * 1024
KEEP = 5  # rotated generations kept beside the current file


def audit_path() -> Path:
    import platformdirs

    if os.environ.get("BULKMAIL_AUDIT_LOG"):
        return Path(os.environ["BULKMAIL_AUDIT_LOG"])
    return platformdirs.user_log_path("bulkmail", appauthor=False) / "audit.jsonl"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json(value) -> str:
    """json.dumps(value, ensure_ascii=False, default=str), with the values of a change record
    (text, whole numbers, None) formatted straight away: json.dumps costs microseconds a call,
    and 50k rows made 250k calls. encode_basestring is the C encoder json.dumps itself uses."""
    kind = value.__class__
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False, default=str)  # anything else (rare): json.dumps itself


def operator() -> tuple[str, str]:
    """(OS user name, host name) of whoever runs bulkmail."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return user, socket.gethostname()


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class AuditLog:
    """Appends and reads the audit log at ``path`` (default: audit_path())."""

    def __init__(self, path: str | os.PathLike | None = None, max_bytes: int = MAX_BYTES, keep: int = KEEP):
        self.path = Path(path) if path is not None else audit_path()
        self.max_bytes, self.keep = max_bytes, keep

    def append(self, records: Iterable[dict | str]) -> None:
        """Append records (dicts, or lines already formatted as JSON), all or none of them."""
        blocks, records = [], iter(records)
        # Encoded a few thousand lines at a time: 50k change lines held once as bytes, not also as
        # a list of lines and as one string (60 MB of a 50k-row import's peak).
        while chunk := list(itertools.islice(records, 4096)):
            # backslashreplace: a lone surrogate (no UTF-8 has one) goes in as its JSON escape, read back as written
            blocks.append("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False, default=str)) + "\n"
                                  for r in chunk).encode("utf-8", "backslashreplace"))
        size = sum(map(len, blocks))
        if not size:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if self.path.exists() and self.path.stat().st_size + size > self.max_bytes:
                self._rotate()
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                whole = os.fstat(descriptor).st_size
                try:
                    for block in blocks:  # whole lines each: a kill between two leaves no torn line
                        view = memoryview(block)
                        while view:
                            view = view[os.write(descriptor, view):]
                except OSError:
                    os.ftruncate(descriptor, whole)  # never a torn line: the records are all in, or none
                    raise
            finally:
                os.close(descriptor)

    def _rotate(self) -> None:
        """audit.jsonl -> .1 -> .2 …; the generation past ``keep`` is dropped."""
        for number in range(self.keep, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            newer = self.path.with_name(f"{self.path.name}.{number - 1}") if number > 1 else self.path
            if number == self.keep and older.exists():
                older.unlink()
            if newer.exists():
                os.replace(newer, older)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive OS lock on a file beside the log, held while appending and rotating."""
        handle = open(self.path.with_name(self.path.name + ".lock"), "a+")
        try:
            try:
                import fcntl
            except ImportError:  # Windows
                import msvcrt
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            else:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield
        finally:
            handle.close()  # closing drops the lock

    def changes_of(self, run_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(address key, action) of every change these runs logged: a resumed run logs
        only what its interrupted runs did not."""
        wanted = set(run_ids)
        if not wanted:
            return set()
        from .addresses import address_key

        return {(address_key(str(r.get("email_address", ""))), str(r.get("action"))) for r in self.records()
                if r.get("type") == "change" and r.get("run_id") in wanted}

    def records(self) -> Iterator[dict]:
        """Every record, oldest first (rotated generations included); a line that does not
        parse (a file edited by hand) is skipped."""
        files = [self.path.with_name(f"{self.path.name}.{n}") for n in range(self.keep, 0, -1)] + [self.path]
        for path in files:
            if not path.is_file():
                continue
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        yield record


class Run:
    """One run's records: start, its changes, end. Facts given at start are repeated at the end,
    so either record answers on its own."""

    def __init__(self, log: AuditLog, command: str, **facts):
        from . import __version__

        user, host = operator()
        self.log = log
        self.facts = {"run_id": new_run_id(), "command": command, "operator": user, "host": host,
                      "version": __version__, **facts}

    @property
    def run_id(self) -> str:
        return self.facts["run_id"]

    def start(self) -> None:
        self.log.append([{"type": "run", "event": "start", "time": now(), **self.facts}])

    def logged_before(self, run_ids: Iterable[str]) -> set[tuple[str, str]]:
        """What the runs ``run_ids`` (interrupted runs this one resumes) logged already."""
        return self.log.changes_of(run_ids)

    def changes(self, rows: list) -> None:
        """A change record per row this run added or removed (``rows`` are records.Row). The
        parts every record shares (run, time, input) are formatted once, and each row's values
        by _json: the line is byte for byte what json.dumps makes of the record."""
        dump = functools.partial(json.dumps, ensure_ascii=False, default=str)
        head = dump({"type": "change", "run_id": self.run_id, "time": now()})[:-1]
        tail = dump({"input": self.facts.get("input")})[1:]
        self.log.append(f'{head}, "action": {_json(row.action)}, "email_address": {_json(row.email_address)}, '
                        f'"mailbox_id": {_json((row.mailbox or {}).get("id"))}, "status": "{row.done_status}", '
                        f'"verified": {"true" if row.status in ("added", "removed") else "false"}, '
                        f'"batch": {_json(row.batch)}, {tail}' for row in rows)

    def end(self, **facts) -> None:
        self.log.append([{"type": "run", "event": "end", "time": now(), **self.facts, **facts}])


def runs(records: Iterable[dict]) -> dict[str, dict]:
    """Each run's facts by run id, its end record (when it has one) completing its start's."""
    found: dict[str, dict] = {}
    for item in records:
        if item.get("type") == "run":
            found.setdefault(item.get("run_id"), {}).update(item)
    return found


def _recent(item: dict, since: datetime | None) -> bool:
    return since is None or datetime.fromisoformat(item.get("time", "1970-01-01T00:00:00+00:00")) >= since


def find_changes(log: AuditLog, email: str | None = None, run_id: str | None = None, since: datetime | None = None,
                 limit: int = 20) -> list[dict]:
    """The change records of an address (any case or spelling) and/or of a run, newest first,
    each with its run's operator, host and command."""
    from .addresses import address_key

    records = list(log.records())
    facts = runs(records)
    wanted = address_key(email) if email else None
    found = [item for item in records if item.get("type") == "change" and _recent(item, since)
             and (wanted is None or address_key(str(item.get("email_address", ""))) == wanted)
             and (not run_id or item.get("run_id") == run_id)]
    found = sorted(found, key=lambda item: item.get("time", ""), reverse=True)[:limit]
    return [{**item, **{k: facts.get(item.get("run_id"), {}).get(k) for k in ("operator", "host", "command")}}
            for item in found]


def recent_runs(log: AuditLog, since: datetime | None = None, limit: int = 20) -> list[dict]:
    """The last runs, newest first (runs of the same second in the log's order, reversed too)."""
    return sorted((r for r in runs(log.records()).values() if _recent(r, since)), key=lambda r: r.get("time", ""))[::-1][:limit]


def begin(command: str, client, **facts) -> Run:
    """A run of ``client`` (service, account, profile) with its start record written now: a log
    that cannot be written stops the run before anything is sent (exit 4 for a full disk)."""
    from .errors import FULL_DISK, DiskFull, InputError

    run = Run(AuditLog(), command, service=client.base_url, account=client.account_id, profile=client.profile,
              **facts)
    try:
        run.start()
    except OSError as exc:
        error = DiskFull if exc.errno in FULL_DISK else InputError
        raise error(f"Cannot write the audit log {run.log.path}: {exc.strerror or exc}. Nothing was sent. Free some "
                    "space, or set BULKMAIL_AUDIT_LOG to a file you can write.") from None
    return run
