"""Rows as read (CSV records, a sheet's values) -> a Sheet: the header row found below any title
rows, every cell as text (blanks stripped, marked cells whole), blank rows and unnamed empty
columns left out, row numbers as Excel shows them. Done a chunk of rows at a time, column by
column: a million rows cost a few C loops per column, and no second copy of the file."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import InputError
from .cells import BLANKS, MARK, unmark
from .fields import ALIASES, REPORT_COLUMNS, normalise_header, resolve_fields
from .sheet import Sheet

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL = 32_767


def email_headers(mapping: dict[str, str]) -> set[str]:
    return {normalise_header(h) for h in mapping.values()} | set(ALIASES["email_address"])


def _find_header(head: list[list[str]], mapping: dict[str, str]) -> int:
    """Where the header row is among the first rows: the first of the first 20 non-blank rows
    naming an email column (title rows above a table are common in HR sheets), else the first
    non-blank row; -1 when there is none."""
    wanted = email_headers(mapping)
    candidates = [at for at, row in enumerate(head) if any(v.strip(BLANKS) for v in row)][:20]
    if not candidates:
        return -1
    return next((at for at in candidates if any(normalise_header(v) in wanted for v in head[at])), candidates[0])


CHUNK = 8192  # rows cleaned at a time: column by column (fast), without a second copy of the file


def finish(path: Path, name: str | None, chunks: Iterable[list[list[str]]], first: int, mapping: dict[str, str],
            notes: list[str], verbatim: set[tuple[int, int]] | None = None, width: int | None = None) -> Sheet:
    """The table below the header row, as text. ``chunks`` are the rows as read, CHUNK at a
    time, the first of them row ``first``; ``width`` the number of columns (default: the first
    row's). ``verbatim``: the XLSX cells to take whole (the quote prefix marks them); None for
    CSV, whose marked cells lose exactly their one apostrophe."""
    where = f"sheet '{name}' of {path.name}" if name else path.name
    chunks = iter(chunks)
    leading = next(chunks, [])
    head = leading[:40]  # a chunk holds CHUNK rows, unless it is the only one
    header_at = _find_header(head, mapping)
    if header_at == -1:
        raise InputError(f"{where} is empty: it has no header row. Start from 'bulkmail template'.")
    width = len(head[0]) if width is None else width
    headers = _headers(_padded(head[header_at], width), first + header_at, verbatim)
    numbers, cells, shared, nul = [], [], [{} for _ in headers], set()
    number = first + header_at + 1
    for chunk in itertools.chain([leading[header_at + 1:]], chunks):
        if number - first + len(chunk) > EXCEL_MAX_ROWS:
            raise InputError(f"{path.name} has {number - first + len(chunk) + sum(map(len, chunks))} rows, more "
                             f"than Excel's {EXCEL_MAX_ROWS}: split it into smaller files.")
        span = range(number, number + len(chunk))
        number += len(chunk)
        if not width or not chunk:
            continue
        if set(map(len, chunk)) != {width}:  # a CSV row shorter than the first, or a blank line
            chunk = [_padded(r, width) for r in chunk]
        columns = zip(*chunk)
        columns = [_column_text(values, position, span, shared[position], headers[position], where, verbatim, nul)
                   for position, values in enumerate(columns)]
        rows = list(zip(*columns))
        filled = list(map(any, rows))  # blank and formatted-but-empty rows are left out
        numbers += itertools.compress(span, filled)
        cells += itertools.compress(rows, filled)
    return _sheet(path, name, headers, numbers, cells, mapping, notes, nul)


def _sheet(path: Path, name: str | None, positions: list[str], numbers: list[int], cells: list[tuple],
           mapping: dict[str, str], notes: list[str], nul: set[str]) -> Sheet:
    """The Sheet of the cleaned rows: unnamed empty columns left out, the fields found, a
    report's own row numbers, and what the user must be told about the columns."""
    where = f"sheet '{name}' of {path.name}" if name else path.name
    headers, cells = _without_empty_columns(positions, cells)
    fields = resolve_fields(headers, mapping, where)
    from_report = set(REPORT_COLUMNS) <= set(headers)
    if from_report:  # retrying a report's rows: they keep the row numbers of the original file
        at = headers.index("row")
        numbers = [int(float(c[at])) if _NUMBER.fullmatch(c[at]) else n for n, c in zip(numbers, cells)]
        notes.append("a results report: row numbers from its row column")
    table = Sheet(path, name, headers, numbers, cells, fields, notes, from_report, positions=positions,
                  nul_columns=nul)
    addresses = [h for h in headers if normalise_header(h) in ALIASES["email_address"]]
    if "email_address" not in mapping and len(addresses) > 1:
        chosen = fields["email_address"]
        others = [h for h in addresses if h != chosen]
        table.notices.append(f"Columns {chosen} and {', '.join(others)} both hold addresses; using {chosen} "
                             f"(--map email_address=\"{others[0]}\" uses the other).")
    return table


_NUMBER = re.compile(r"[0-9]{1,9}(?:\.0*)?")


def _padded(record: list[str], width: int) -> list[str]:
    return record if len(record) == width else (list(record) + [""] * width)[:width]


def chunks(items: Iterator, size: int) -> Iterator[list]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _without_empty_columns(headers: list[str], cells: list[tuple]) -> tuple[list[str], list[tuple]]:
    """Columns without a header and without a value are no columns (a sheet's formatted range)."""
    keep = [at for at, h in enumerate(headers) if not h.startswith("column ") or any(c[at] for c in cells)]
    if len(keep) == len(headers):
        return headers, cells
    return [headers[at] for at in keep], [tuple(c[at] for at in keep) for c in cells]


def _headers(cells: list[str], header_at: int, verbatim: set[tuple[int, int]] | None) -> list[str]:
    """The header row's names: stripped, a name for an empty one, repeats numbered."""
    headers, seen = [], {}
    for position, value in enumerate(cells):
        value = str(value)
        whole = unmark(value) if verbatim is None else value if (header_at, position) in verbatim else None
        value = (whole if whole is not None else value.strip(BLANKS)) or f"column {position + 1}"
        seen[value] = seen.get(value, 0) + 1
        headers.append(value if seen[value] == 1 else f"{value} ({seen[value]})")
    return headers


def _column_text(values: tuple[str, ...], position: int, span: range, shared: dict, column: str, where: str,
                 verbatim: set[tuple[int, int]] | None, nul: set[str]) -> list[str]:
    """One column of a chunk of rows (numbered ``span``) as text: spaces (NBSP and zero-width
    ones too) stripped, marked cells whole. A column of few values shares one string per value
    (``shared``): a million rows of 'add' are then one string, not a million. A column that
    holds a NUL character is added to ``nul``."""
    text = list(map(str.strip, values, itertools.repeat(BLANKS)))  # an unstripped cell stays the same string
    joined = "\n" + "\n".join(values)
    if "\x00" in joined:
        nul.add(column)
    if verbatim is None:
        if f"\n{MARK}" in joined:  # a cell may start with the mark: look at each
            for at, value in enumerate(values):
                if value[:1] == MARK and (whole := unmark(value)) is not None:
                    text[at] = whole
    else:
        for row, at in verbatim:
            if at == position and row in span:
                text[row - span.start] = values[row - span.start]
        # Excel's own limit, for a workbook; a CSV cell may be longer (a name bulkmail's undo file
        # brings back as the service held it), and is bounded by the file's size.
        if max(map(len, text), default=0) > EXCEL_MAX_CELL:
            longest = max(range(len(text)), key=lambda at: len(text[at]))
            raise InputError(f"{where}, row {span[longest]}, column '{column}': the cell is longer than Excel's "
                             f"{EXCEL_MAX_CELL} characters. Fix that cell.")
    if len(set(text)) * 4 <= len(text):
        text = list(map(shared.setdefault, text, text))
    return text
