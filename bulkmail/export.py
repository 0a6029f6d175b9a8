"""The export pipeline: Client.iter_pages() -> rows -> write_table()."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .client import Client
from .progress import progress as progress_bar
from .table import write_table

COLUMNS = ["id", "email_address_id", "email_address", "executive", "realname", "is_ad_mailbox"]


@dataclass
class ExportResult:
    path: Path
    rows: int = 0
    pages: int = 0
    seconds: float = 0.0
    repeated: int = 0  # rows seen again on a later page (the list moved during the walk)
    totals: list[int] = field(default_factory=list)  # meta.total as each page reported it

    @property
    def total_changed(self) -> bool:
        return len(set(self.totals)) > 1


def matches(mailbox: dict, search: str | None) -> bool:
    """The server's search is a loose substring match; keep only what really contains the text."""
    if not search:
        return True
    needle = search.lower()
    return needle in str(mailbox.get("email_address", "")).lower() or needle in str(mailbox.get("realname", "")).lower()


def export_mailboxes(client: Client, path: str | os.PathLike, *, search: str | None = None,
                     page_size: int | None = None, concurrency: int | None = None,
                     progress: bool = False) -> ExportResult:
    """Write every mailbox (or those matching ``search``) to a .csv or .xlsx file, each id once."""
    result = ExportResult(Path(path))
    started = time.monotonic()
    pages = client.iter_pages(search=search, page_size=page_size, concurrency=concurrency)
    first = next(pages)
    columns = COLUMNS + [k for k in (first.items[0] if first.items else {}) if k not in COLUMNS]

    def rows() -> Iterator[dict]:
        seen: set = set()
        with progress_bar(first.total, "Exporting", "mailbox", progress) as bar:
            for page in itertools.chain([first], pages):
                result.pages += 1
                if page.total is not None:
                    result.totals.append(page.total)
                    bar.total = max(bar.total or 0, page.total)
                for mailbox in page.items:
                    if mailbox.get("id") in seen:
                        result.repeated += 1
                        continue
                    seen.add(mailbox.get("id"))
                    if matches(mailbox, search):
                        yield mailbox
                bar.update(len(page.items))

    result.rows = write_table(path, columns, rows())
    result.seconds = time.monotonic() - started
    return result

