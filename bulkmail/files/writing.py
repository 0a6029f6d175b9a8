"""Spreadsheets out: write_table() streams rows to CSV (UTF-8 with a BOM, for Excel) or XLSX,
atomically, with every cell that Excel would run as a formula made inert."""

from __future__ import annotations

import csv
import itertools
import operator
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .cells import ENDS_MARKED, MARK, MAYBE_MARKED, UNENCODABLE, needs_mark
from .paths import STDIO, output_format


def neutralise(value):
    """A CSV cell: text that ``needs_mark`` gets one leading apostrophe (Excel then shows it as
    text, never as a formula); ``unmark`` takes it off again."""
    if value.__class__ is str and needs_mark(value):  # the hot path of every CSV written
        return MARK + value
    return value


# The temporary files being written now: a process stopped at once (a second Ctrl-C, which
# skips every finally) removes them first, so that no half file is left behind.
PENDING: set[Path] = set()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Write to a temporary file beside ``path`` and rename it into place only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    PENDING.add(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        PENDING.discard(temporary)
        if temporary.exists():
            temporary.unlink()


@dataclass
class Style:
    """XLSX extras: fills for the values of one column, and a second sheet of label/value rows."""

    fill_column: str | None = None
    fills: dict[str, str] = field(default_factory=dict)  # value -> RGB hex
    summary: list[tuple[str, object]] = field(default_factory=list)
    sheet_title: str = "Mailboxes"


def write_table(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[dict | Sequence],
                style: Style | None = None) -> int:
    """Stream rows to .csv (UTF-8 with BOM, for Excel) or .xlsx, atomically. A row is a dict by
    column name or, cheaper, a list or tuple of all its cells in column order. Returns the row count."""
    lines = _lines(columns, rows)
    if str(path) == STDIO:  # standard output: CSV without a BOM, for pipes
        return _write_csv(None, columns, lines)
    path = Path(path)
    suffix = output_format(path)
    with atomic_path(path) as temporary:
        if suffix == ".csv":
            return _write_csv(temporary, columns, lines)
        return _write_xlsx(temporary, columns, itertools.chain.from_iterable(lines), style or Style())


def _lines(columns: Sequence[str], rows: Iterable[dict | Sequence], size: int = 1000) -> Iterator[list[Sequence]]:
    """The rows in chunks of up to ``size`` lines, each line its cells in column order: the
    writers then work a chunk at a time (csv's writerows, a column's check in one go)."""
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size)):
        if not set(map(type, chunk)) <= {list, tuple}:  # lines as dicts too: those put in column order
            chunk = [[row.get(c, "") for c in columns] if isinstance(row, dict) else row for row in chunk]
        yield chunk


_FIRST, _LAST = operator.itemgetter(slice(0, 1)), operator.itemgetter(slice(-1, None))


def _inert(chunk: list[Sequence], width: int) -> list[Sequence]:
    """The chunk with every text cell that ``needs_mark`` marked (lines marked are copies). A
    column is looked at whole first, in C: a column of few values (actions, statuses, flags,
    empty ids) by its values, another by the first and last characters of its texts, which tell
    whether any cell of it may need the mark (most columns of most chunks: none may)."""
    for i in range(width):
        column = list(map(operator.itemgetter(i), chunk))
        kinds = set(map(type, column))
        if str not in kinds:  # numbers, statuses (a str subclass of fixed words), None: no text
            continue
        texts = column if len(kinds) == 1 else [v for v in column if v.__class__ is str]
        values = set(texts) if len(set(texts[:64])) <= 8 else None  # a column of few values, by a glance
        if values is not None and len(values) * 8 <= len(texts):
            marked = {v for v in values if needs_mark(v)}
            if not marked:
                continue
        else:
            if MAYBE_MARKED.isdisjoint(map(_FIRST, texts)) and ENDS_MARKED.isdisjoint(map(_LAST, texts)):
                continue
            marked = None
        for j, value in enumerate(column):
            if value.__class__ is str and (value in marked if marked is not None else needs_mark(value)):
                line = chunk[j] = list(chunk[j])  # a copy: the caller's rows stay as they were
                line[i] = MARK + value
    return chunk


def _write_csv(path: Path | None, columns: Sequence[str], chunks: Iterable[list[Sequence]]) -> int:
    count = 0
    # utf-8 and the BOM written by hand: the text layer encodes UTF-8 in C, "utf-8-sig" in Python
    with (open(path, "w", encoding="utf-8", newline="", errors=UNENCODABLE) if path else _stdout()) as handle:
        if path:
            handle.write("\ufeff")
        writer = csv.writer(handle)
        writer.writerow([neutralise(c) for c in columns])
        for chunk in chunks:
            writer.writerows(_inert(chunk, len(columns)))
            count += len(chunk)
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


def _write_xlsx(path: Path, columns: Sequence[str], rows: Iterable[Sequence], style: Style) -> int:
    """A bold frozen header, widths from the first rows, a filter, the fill column coloured by
    conditional formatting, and the Summary sheet when there is one."""
    from .xlsx import SheetSpec, write_xlsx  # a CSV run never loads the XLSX writer

    rows = iter(rows)
    sample = [row for _, row in zip(range(200), rows)]  # widths from the first rows, then stream
    widths = [min(60, max(8, max([len(str(c))] + [len(str(r[i])) for r in sample]) + 2)) for i, c in enumerate(columns)]
    body = itertools.chain([list(columns)], sample, rows)
    fill_column = columns.index(style.fill_column) if style.fill_column in columns else None
    sheets = [SheetSpec(style.sheet_title, body, widths, fill_column=fill_column, fills=style.fills)]
    if style.summary:
        sheets.append(SheetSpec("Summary", ([label, value] for label, value in style.summary), [24, 60], header=False,
                                fill_column=0, fills=style.fills))
    return write_xlsx(path, sheets)[0]
