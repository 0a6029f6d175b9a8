"""The export pipeline: walk() (complete while others change the list) -> rows -> write_table()."""

from __future__ import annotations

import errno
import itertools
import operator
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..api.client import Client
from ..progress import Tracker, Watch
from ..api.walk import Walk, walk
from ..errors import FULL_DISK, DiskFull, InputError
from ..files.paths import STDIO
from ..files.writing import write_table

COLUMNS = ["id", "email_address_id", "email_address", "executive", "realname", "is_ad_mailbox"]


@dataclass
class ExportResult:
    path: Path
    rows: int = 0
    seconds: float = 0.0
    walk: Walk = field(default_factory=Walk)  # pages read, and what the walk could not vouch for

    @property
    def pages(self) -> int:
        return self.walk.pages

    @property
    def uncertain(self) -> list[str]:
        """Spots of the list the walk could not be sure of (others kept changing it there, or its
        pages kept coming back without their mailboxes)."""
        return self.walk.uncertain


@dataclass(frozen=True)
class ExportOptions:
    """How to walk the list; each field is the command-line option of the same name."""

    search: str | None = None  # only mailboxes whose address or name contains this text
    page_size: int | None = None  # rows per page to ask for (the server may grant fewer)
    concurrency: int | None = None  # pages fetched at once (default: the client's)


# What writing a file can meet once it was opened: the disk, not the service or the data.
DISK_ERRORS = FULL_DISK | {errno.EFBIG, errno.EIO, errno.EROFS}


def matches(mailbox: dict, search: str | None) -> bool:
    """The server's search is a loose substring match; keep only what really contains the text."""
    if not search:
        return True
    needle = search.lower()
    return needle in str(mailbox.get("email_address", "")).lower() or needle in str(mailbox.get("realname", "")).lower()


def walk_mailboxes(client: Client, result: ExportResult, options: ExportOptions = ExportOptions(),
                   watch: Watch | None = None) -> tuple[list[str], Iterator[list[dict]]]:
    """The export's columns (from the first page) and its mailboxes a page at a time, each id
    once, as the pages come; ``result`` counts pages and keeps each page's meta.total."""
    search = options.search
    pages = walk(client, search, options.page_size, options.concurrency, result.walk)
    first = next(pages)
    columns = COLUMNS + [k for k in (first.items[0] if first.items else {}) if k not in COLUMNS]

    def mailboxes() -> Iterator[list[dict]]:
        with Tracker(watch, "Exporting", first.total, "mailbox") as bar:
            for page in itertools.chain([first], pages):  # each mailbox once: the walk sees to it
                bar.grow(page.total)
                items = [m for m in page.items if matches(m, search)] if search else page.items
                result.rows += len(items)
                yield items
                bar.update(len(page.items))

    return columns, mailboxes()


def export_mailboxes(client: Client, path: str | os.PathLike, options: ExportOptions = ExportOptions(),
                     watch: Watch | None = None) -> ExportResult:
    """Write every mailbox (or those matching ``options.search``) to a .csv or .xlsx file (or
    CSV to standard output for "-"), each id once."""
    result = ExportResult(Path(path))
    started = time.monotonic()
    columns, pages = walk_mailboxes(client, result, options, watch)
    cells = operator.itemgetter(*columns)

    def lines(mailboxes: list[dict]) -> list:
        """The page's mailboxes as their cells in column order: picked in C, a page at a time (the
        export is CPU-bound), and looked up one by one when a mailbox lacks a column."""
        try:
            return list(map(cells, mailboxes))
        except KeyError:
            return [[m.get(c, "") for c in columns] for m in mailboxes]

    try:
        write_table(path, columns, itertools.chain.from_iterable(map(lines, pages)))
    except OSError as exc:
        if exc.errno not in DISK_ERRORS:
            raise
        full = exc.errno in FULL_DISK
        if str(path) == STDIO:
            where, left = "standard output", "what reached standard output is incomplete"
        else:
            where, left = str(path), "it left no part of the file"
        raise (DiskFull if full else InputError)(
            f"Could not write {where} ({exc.strerror}){'; is the disk full?' if full else '.'} The export stopped and "
            f"{left}. {'Free some space' if full else 'Fix the disk'} and export again, or write it elsewhere "
            "with -o.") from None
    result.seconds = time.monotonic() - started
    return result


def collect_mailboxes(client: Client, profile: str, options: ExportOptions = ExportOptions(),
                      watch: Watch | None = None
                      ) -> tuple[list[str], list[dict], ExportResult]:
    """One account's whole export in memory, each row led by its ``profile``: an export across
    accounts writes only accounts read to the end, so a failure half-way loses no other account."""
    result = ExportResult(Path(profile))
    started = time.monotonic()
    columns, pages = walk_mailboxes(client, result, options, watch)
    collected = [{"profile": profile, **mailbox} for mailboxes in pages for mailbox in mailboxes]
    result.seconds = time.monotonic() - started
    return columns, collected, result
