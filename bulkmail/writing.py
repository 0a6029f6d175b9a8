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

from .paths import STDIO, output_format

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TRIGGERS = frozenset(FORMULA_START)


def neutralise(value):
    """A CSV cell that Excel would run as a formula gets a leading apostrophe."""
    if value.__class__ is str and value[:1] in _TRIGGERS:  # the hot path of every CSV written
        return "'" + value
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
    with (open(path, "w", encoding="utf-8-sig", newline="") if path else _stdout()) as handle:
        writer = csv.writer(handle)
        writer.writerow([neutralise(c) for c in columns])
        for row in rows:
            writer.writerow([neutralise(row.get(c, "")) for c in columns])
            count += 1
    return count


@contextmanager
def _stdout() -> Iterator:
    import sys

    yield sys.stdout
    sys.stdout.flush()


def _write_xlsx(path: Path, columns: Sequence[str], rows: Iterable[dict], style: Style) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(style.sheet_title)
    rows = iter(rows)
    sample = [row for _, row in zip(range(200), rows)]  # widths from the first rows, then stream
    for position, column in enumerate(columns, 1):
        widest = max([len(str(column))] + [len(str(r.get(column, ""))) for r in sample])
        sheet.column_dimensions[get_column_letter(position)].width = min(60, max(8, widest + 2))
    sheet.freeze_panes = "A2"
    fills = {value: PatternFill("solid", fgColor=rgb) for value, rgb in style.fills.items()}
    bold = Font(bold=True)

    def cell(value, fill_value=False):
        if isinstance(value, str):
            # XML has no place for most control characters, and reads a bare CR as LF.
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value).replace("\r\n", "\n").replace("\r", "\n")
        item = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str) and value.startswith("="):
            item.data_type = "s"  # keep it text: openpyxl would otherwise store a formula
        if fill_value and value in fills:
            item.fill = fills[value]
        return item

    try:
        return _fill_xlsx(book, sheet, path, columns, itertools.chain(sample, rows), style, cell, bold)
    except BaseException:
        # A failed write leaves openpyxl's row writers open; closing them now keeps their
        # "Exception ignored in generator" tracebacks off the user's terminal.
        for worksheet in book.worksheets:
            try:
                worksheet.close()
            except Exception:
                pass
        raise


def _fill_xlsx(book, sheet, path: Path, columns: Sequence[str], rows: Iterable[dict], style: Style, cell, bold) -> int:
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.filters import AutoFilter

    header = []
    for column in columns:
        item = cell(column)
        item.font = bold
        header.append(item)
    sheet.append(header)
    count = 0
    for row in rows:
        sheet.append([cell(row.get(c, ""), c == style.fill_column) for c in columns])
        count += 1
    sheet.auto_filter = AutoFilter(ref=f"A1:{get_column_letter(max(1, len(columns)))}{count + 1}")
    if style.summary:
        summary = book.create_sheet("Summary")
        summary.column_dimensions["A"].width = 24
        summary.column_dimensions["B"].width = 60
        for label, value in style.summary:
            summary.append([cell(label, True), cell(value)])
    book.save(path)
    return count
