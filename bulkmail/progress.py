"""Progress as events: the library says what it is doing (a stage, how far, of how much) and a
front-end draws it — the command line a tqdm bar, the web page a bar of its own. Nobody
watching costs nothing (like sqlite-utils' NullProgressBar, stages call update() without
asking whether anyone is there)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Progress:
    """One step of a stage: ``done`` of ``total`` (None: not known yet) ``unit``s."""

    stage: str  # "Adding", "Removing", "Exporting", "Writing the report"
    done: int
    total: int | None
    unit: str = "row"
    finished: bool = False


Watch = Callable[[Progress], None]


def unwatched(event: Progress) -> None:
    """The watcher of a run nobody watches."""


class Tracker:
    """A stage's progress told to ``watch``: started on entry, finished on exit, and in between
    at most every ``EVERY`` seconds (a stage may update a million times: nobody sees that)."""

    EVERY = 0.05

    def __init__(self, watch: Watch | None, stage: str, total: int | None, unit: str = "row"):
        self.watch, self.stage, self.total, self.unit, self.done = watch or unwatched, stage, total, unit, 0
        self.told = 0.0  # when the watcher last heard

    def _tell(self, finished: bool = False) -> None:
        self.watch(Progress(self.stage, self.done, self.total, self.unit, finished))

    def __enter__(self) -> Tracker:
        self._tell()
        return self

    def update(self, count: int) -> None:
        self.done += count
        if self.watch is not unwatched and (now := time.monotonic()) - self.told >= self.EVERY:
            self.told = now
            self._tell()

    def grow(self, total: int | None) -> None:
        """The total turned out larger (a list that grew while it was read)."""
        if total is not None and total > (self.total or 0):
            self.total = total

    def __exit__(self, *exc) -> None:
        self._tell(finished=True)
