"""Progress bars on the terminal: the library's progress events drawn with tqdm on standard
error, only when it is a terminal and not --quiet."""

from __future__ import annotations

import sys

from ..progress import Progress, Watch, unwatched

# A stage this quick shows no bar at all (writing a small report).
DELAYS = {"Writing the report": 1.0}


def bars(enabled: bool) -> Watch:
    """A watcher that draws one bar per stage while it runs."""
    if not (enabled and sys.stderr.isatty()):
        return unwatched
    from tqdm import tqdm  # only for a terminal that shows bars: a scheduled job never pays its import

    drawn: dict[str, tqdm] = {}

    def watch(event: Progress) -> None:
        bar = drawn.get(event.stage)
        if bar is None:
            bar = drawn[event.stage] = tqdm(total=event.total, desc=event.stage, unit=event.unit, file=sys.stderr,
                                            dynamic_ncols=True, leave=False, delay=DELAYS.get(event.stage, 0.0))
        if event.total != bar.total:
            bar.total = event.total
        bar.update(event.done - bar.n)
        if event.finished:
            drawn.pop(event.stage).close()

    return watch
