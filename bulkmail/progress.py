"""Progress bars behind a switch: a bar that draws nothing when disabled (like sqlite-utils'
NullProgressBar), so stages call update() without asking whether anyone is watching."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress(total: int | None = None, desc: str = "", unit: str = "row", enabled: bool = True,
             delay: float = 0.0) -> tqdm:
    """A tqdm bar on stderr; drawn only when ``enabled`` and stderr is a terminal, and only
    after ``delay`` seconds (a quick step then shows nothing)."""
    shown = enabled and sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, disable=not shown, file=sys.stderr, dynamic_ncols=True,
                leave=False, delay=delay)
