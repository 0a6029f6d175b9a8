"""Spreadsheets out: write_table() streams rows to CSV (UTF-8 with a BOM, for Excel) or XLSX,
atomically, with every cell that Excel would run as a formula made inert."""

from __future__ import annotations

import csv
import itertools
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .cells import ENDS_MARKED, MARK, MAYBE_MARKED, UNENCODABLE, needs_mark
from .paths import STDIO, output_format
from .xlsx import SheetSpec, write_xlsx


def neutralise(value):
    """A CSV cell: text that ``needs_mark`` gets one leading apostrophe (Excel then shows it as
    text, never as a formula); ``unmark`` takes it off again."""
    if value.__class__ is str and needs_mark(value):  # the hot path of every CSV written
        return MARK + value
    return value


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Write to a temporary file beside ``path`` and rename it into place only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


@dataclass
class Style:
    """XLSX extras: fills for the values of one column, and a second sheet of label/value rows."""

    fill_column: str | None = None
    fills: dict[str, str] = field(default_factory=dict)  # value -> RGB hex
    summary: list[tuple[str, object]] = field(default_factory=list)
    sheet_title: str = "Mailboxes"


def write_table(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[dict], style: Style | None = None) -> int:
    """Stream dict rows to .csv (UTF-8 with BOM, for Excel) or .xlsx, atomically. Returns the row count."""
    if str(path) == STDIO:  # standard output: CSV without a BOM, for pipes
        return _write_csv(None, columns, rows)
    path = Path(path)
    suffix = output_format(path)
    with atomic_path(path) as temporary:
        if suffix == ".csv":
            return _write_csv(temporary, columns, rows)
        return _write_xlsx(temporary, columns, rows, style or Style())


def _write_csv(path: Path | None, columns: Sequence[str], rows: Iterable[dict]) -> int:
    count = 0
    maybe, ends = MAYBE_MARKED, ENDS_MARKED  # a look at each end of a text settles most cells
    with (open(path, "w", encoding="utf-8-sig", newline="", errors=UNENCODABLE) if path else _stdout()) as handle:
        writer = csv.writer(handle)
        writer.writerow([neutralise(c) for c in columns])
        for row in rows:
            cells = [row.get(c, "") for c in columns]
            writer.writerow([MARK + v if v.__class__ is str and v and (v[0] in maybe or v[-1] in ends)
                             and needs_mark(v) else v for v in cells])
            count += 1
    return count


@contextmanager
def _stdout() -> Iterator:
    """Standard output, writing what its encoding cannot carry as U+FFFD while the CSV goes out."""
    import sys

    stream = sys.stdout
    errors, reconfigure = getattr(stream, "errors", None), getattr(stream, "reconfigure", None)
    if reconfigure and errors:
        reconfigure(errors=UNENCODABLE)
    try:
        yield stream
    finally:
        stream.flush()
        if reconfigure and errors:
            reconfigure(errors=errors)


def _write_xlsx(path: Path, columns: Sequence[str], rows: Iterable[dict], style: Style) -> int:
    """A bold frozen header, widths from the first rows, a filter, the fill column coloured by
    conditional formatting, and the Summary sheet when there is one."""
    rows = iter(rows)
    sample = [row for _, row in zip(range(200), rows)]  # widths from the first rows, then stream
    widths = [min(60, max(8, max([len(str(c))] + [len(str(r.get(c, ""))) for r in sample]) + 2)) for c in columns]
    body = itertools.chain([list(columns)], ([row.get(c, "") for c in columns] for row in itertools.chain(sample, rows)))
    fill_column = columns.index(style.fill_column) if style.fill_column in columns else None
    sheets = [SheetSpec(style.sheet_title, body, widths, fill_column=fill_column, fills=style.fills)]
    if style.summary:
        sheets.append(SheetSpec("Summary", ([label, value] for label, value in style.summary), [24, 60], header=False,
                                fill_column=0, fills=style.fills))
    return write_xlsx(path, sheets)[0]
