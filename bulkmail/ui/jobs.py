"""Runs started from the page: each in a thread of its own, watched through progress events,
stopped by its Cancel flag (the Cancel button, closing the server with Ctrl-C), recorded in the
audit log like the command line's runs (so `bulkmail log` lists them and `bulkmail undo` finds
them)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..api.client import Client
from ..api.retry import Retry
from ..audit import begin
from ..cancel import Cancel
from ..config import ConnectionSettings, credentials_hint
from ..errors import BulkmailError, ExitStatus, InputError, Interrupted
from ..progress import Progress

# How long Ctrl-C waits for the runs it cancelled to settle what is in flight and write their reports.
SETTLE_SECONDS = 60.0


@dataclass
class Job:
    """One run: what it is, how far it got, how it ended."""

    kind: str  # "plan", "apply", "export", …: says what the page shows when it ends
    what: str  # for a person: "Import of wave.xlsx"
    cancel: Cancel = field(default_factory=Cancel)
    progress: dict[str, Progress] = field(default_factory=dict)
    result: object = None
    error: str | None = None
    exit_status: int | None = None
    started: float = field(default_factory=time.time)
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    key: str | None = None  # the file it reads: one run of a file at a time
    id: str = ""
    run_id: str | None = None  # its run in the audit log
    next_url: str | None = None  # the page to show when it ends well
    lines: list[str] = field(default_factory=list)  # what it says when it ends (export)
    links: list[tuple[str, object]] = field(default_factory=list)  # (label, path) of the files it wrote

    def watch(self, event: Progress) -> None:
        self.progress[event.stage] = event

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def state(self) -> dict:
        """What the progress poll answers."""
        return {"kind": self.kind, "what": self.what, "running": self.running, "error": self.error,
                "cancelled": self.cancel.is_set(), "exit_status": self.exit_status,
                "stages": [{"stage": p.stage, "done": p.done, "total": p.total, "unit": p.unit,
                            "finished": p.finished} for p in self.progress.values()]}


class Jobs:
    """Every run of this server; at most one run of a file at a time."""

    def __init__(self):
        self._lock = threading.Lock()
        self.all: dict[str, Job] = {}
        self._next = 0

    def start(self, job: Job, work: Callable[[Job], object]) -> str:
        """Run ``work(job)`` in a thread; its result or error lands on the job. A second run of
        the same file while one goes is refused with a message that says so."""
        with self._lock:
            if job.key is not None:
                going = next((j for j in self.all.values() if j.key == job.key and j.running), None)
                if going is not None:
                    raise InputError(f"A run of this file is going already ({going.what}, started "
                                     f"{time.strftime('%H:%M:%S', time.localtime(going.started))}), maybe in "
                                     "another tab. Wait for it to finish.")
            self._next += 1
            job_id = job.id = str(self._next)
            self.all[job_id] = job

        def run() -> None:
            try:
                job.result = work(job)
                job.exit_status = int(getattr(job.result, "exit_status", ExitStatus.OK))
            except BulkmailError as err:
                job.error, job.exit_status = str(err), int(err.exit_status)
            except Exception as err:  # a bug: said plainly on the page, the server goes on
                job.error = f"Internal error: {type(err).__name__}: {err}. Report it."
                job.exit_status = int(ExitStatus.ROWS_FAILED)
            finally:
                job.done.set()

        job.thread = threading.Thread(target=run, name=f"ui-{job.kind}-{job_id}", daemon=True)
        job.thread.start()
        return job_id

    def get(self, job_id: str) -> Job | None:
        return self.all.get(job_id)

    def running_for(self, key: str) -> Job | None:
        return next((j for j in self.all.values() if j.key == key and j.running), None)

    def stop_all(self, reason: str = "Interrupted: bulkmail ui was stopped") -> list[Job]:
        """Cancel every run (Ctrl-C): each settles what is in flight, writes its report and
        keeps its journal for --resume. Waits for them; returns those it stopped."""
        stopped = [j for j in self.all.values() if j.running]
        for job in stopped:
            job.cancel.set(Interrupted(reason))
        deadline = time.monotonic() + SETTLE_SECONDS
        for job in stopped:
            job.done.wait(max(0.0, deadline - time.monotonic()))
        return stopped


def connect(settings: ConnectionSettings, cancel: Cancel) -> Client:
    """A logged-in client for one run: its own cancel flag (a flag once set stays set)."""
    client = Client(settings.base_url, settings.username, settings.password, account_id=settings.account_id,
                    retry=Retry(), profile=settings.profile, cancel=cancel)
    client.login_hint = credentials_hint(settings)  # a refused login says where the password came from
    try:
        client.login()
    except BaseException:
        client.close()
        raise
    return client


class Audited:
    """A run's start and end records in the audit log, as `bulkmail log` reads them."""

    def __init__(self, command: str, client: Client, **facts):
        self.run = begin(command, client, front_end="ui", **facts)

    def end(self, **outcome) -> None:
        try:
            self.run.end(**outcome)
        except OSError:  # the run is done and reported; the page says nothing more can be done here
            pass
