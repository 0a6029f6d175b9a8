"""Spreadsheets in: read_table() reads CSV (any encoding Excel writes, any delimiter, preambles),
XLSX/XLS/XLSB/ODS (the sheet with an email column, the header row below a title) or standard
input, as text, with the row numbers Excel shows."""

from __future__ import annotations

import codecs
import csv
import itertools
import os
import re
import zipfile
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from ..errors import InputError
from .cells import BLANKS, MARK, unmark
from .fields import ALIASES, REPORT_COLUMNS, normalise_header, resolve_fields
from .paths import READABLE, STDIO
from .sheet import Sheet

if TYPE_CHECKING:
    from .workbook import SheetFacts

EXCEL_MAX_ROWS = 1_048_576
BLANK_LIST = list(BLANKS)
EXCEL_MAX_CELL = 32_767
# A CSV cell is bounded by its file, as it was when pandas read CSV (csv's default stops at 128 KiB).
csv.field_size_limit(2**31 - 1)
# Refuse XLSX files that would unpack to absurd sizes before any XML is parsed (zip bombs).
XLSX_MAX_UNPACKED = 2 * 1024**3
XLSX_MAX_RATIO = 200


def read_table(path: str | os.PathLike, sheet: str | None = None, mapping: dict[str, str] | None = None,
               hidden_rows: bool = False) -> Sheet:
    """Read a CSV or XLSX file as text. Blank rows are dropped; the index is Excel's row number.
    ``mapping`` names the header of a field whose header has no known alias; ``hidden_rows``
    reads rows a workbook hides (by a filter or by hand), which are left out otherwise."""
    if str(path) == STDIO:
        return _read_stdin(mapping or {}, sheet)
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a file. Give the path of a .csv or .xlsx file in it.")
    if not path.is_file():
        raise InputError(f"File not found: {path}. Check the path.")
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise InputError(f"Cannot read {path.name}: use a .csv, .xlsx, .xls, .xlsb or .ods file "
                         "(in Excel: File > Save As).")
    if suffix in (".csv", ".txt", ".tsv"):
        if sheet:
            raise InputError(f"--sheet applies to spreadsheet files; {path.name} is a CSV file. Leave --sheet out.")
        return _read_csv(path, mapping or {})
    return _read_xlsx(path, sheet, mapping or {}, hidden_rows)


def _read_stdin(mapping: dict[str, str], sheet: str | None) -> Sheet:
    """CSV from standard input, spooled to a private temporary file (the reader and the encoding
    check read a file, and the input may be larger than memory should hold)."""
    import shutil
    import sys
    import tempfile

    if sheet:
        raise InputError("--sheet applies to spreadsheet files; standard input is read as CSV. Leave --sheet out.")
    with tempfile.TemporaryDirectory(prefix="bulkmail-") as folder:
        spool = Path(folder) / "stdin.csv"
        with open(spool, "wb") as handle:
            shutil.copyfileobj(sys.stdin.buffer, handle)
        table = _read_csv(spool, mapping)
    table.path = Path(STDIO)
    return table


def detect_encoding(path: Path) -> str:
    """A BOM decides; else UTF-8 if the whole file decodes as UTF-8, else cp1252. Checked in
    blocks, so the file is never held in memory for it."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):  # before UTF-16: its BOM starts like UTF-16's
        return "utf-32"
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    if b"\x00" in head:
        width = "32" if head.count(0) == 3 else "16"
        raise InputError(f"{path.name} looks like UTF-{width} without a byte-order mark. Save it again as 'CSV UTF-8'.")
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise InputError(f"Cannot tell the text encoding of {path.name} (it is neither UTF-8 nor Windows-1252). "
                     "Save it again as 'CSV UTF-8'.")


DELIMITERS = (",", ";", "\t", "|")


def _sniff_delimiter(line: str) -> str:
    """The candidate that splits the header line most often, quotes respected."""
    best, best_count = ",", 0
    for candidate in DELIMITERS:
        count = len(next(csv.reader([line], delimiter=candidate), [])) - 1
        if count > best_count:
            best, best_count = candidate, count
    return best


def _header_line(lines: list[str], mapping: dict[str, str], delimiter: str | None) -> tuple[int, str]:
    """Where the header is among the first lines, and the delimiter: the first line that names an
    email column (split by the delimiter given, else by the one that finds it), as the XLSX reader
    looks for it below a title; else the first non-blank line."""
    wanted = _email_headers(mapping)
    for number, line in enumerate(lines):
        for candidate in [delimiter] if delimiter else DELIMITERS:
            cells = next(csv.reader([line], delimiter=candidate), [])
            if any(normalise_header(cell) in wanted for cell in cells):
                return number, candidate
    number = next((n for n, line in enumerate(lines) if line.strip(BLANKS)), 0)
    return number, delimiter or _sniff_delimiter(lines[number] if lines else "")


def _read_csv(path: Path, mapping: dict[str, str]) -> Sheet:
    encoding = detect_encoding(path)
    notes = [f"encoding {encoding}"]
    lines_skipped, skip, delimiter = 0, 0, None
    with open(path, encoding=encoding, newline="") as handle:
        first = handle.readline().rstrip("\r\n")
        sep = re.fullmatch(r'"?sep=(.)"?', first, re.IGNORECASE)
        lines = [] if sep or first.startswith("#TYPE") else [first]
        lines += [line.rstrip("\r\n") for _, line in zip(range(40 - len(lines)), handle)]
    if sep:
        delimiter, skip = sep.group(1), 1  # Excel reads this line as a setting and shows no row for it
        notes.append(f"Excel 'sep={delimiter}' line")
    elif first.startswith("#TYPE"):
        skip = lines_skipped = 1  # PowerShell's Export-Csv type line: Excel shows it as row 1
        notes.append("PowerShell #TYPE line skipped")
    above, delimiter = _header_line(lines, mapping, delimiter)
    if above:  # blank lines or a title above the table: Excel shows them as rows
        skip, lines_skipped = skip + above, lines_skipped + above
        notes.append(f"header on row {lines_skipped + 1}")
    notes.append(f"delimiter {delimiter!r}")
    try:
        return _finish(path, None, _Records(path, encoding, delimiter, skip), 1 + lines_skipped, mapping, notes)
    except _OpenQuote as open_quote:
        row = open_quote.number + lines_skipped
        column = _quote_column(path, encoding, delimiter, skip, lines[above] if lines else "")
        raise InputError(f"Cannot read {path.name}: row {row} opens a quote (\"){column} that is never closed. "
                         "Close it or remove it in that row.") from None
    except _TooWide as wide:
        raise InputError(f"Cannot read {path.name}: row {wide.number + lines_skipped} has {wide.cells} cells, more "
                         "than the header. Check the delimiter and the quotes in that row.") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name} is not valid {encoding} (byte {exc.start}). Save it again as 'CSV UTF-8'.") from None


class _OpenQuote(Exception):
    def __init__(self, number: int):
        self.number = number  # the record that opens it, counted from 1 after the skipped lines


class _TooWide(Exception):
    def __init__(self, number: int, cells: int):
        self.number, self.cells = number, cells


class _Records:
    """A CSV file's records, as Excel shows them, in chunks of CHUNK: the first record sets the
    width (a longer one is an error, a shorter one is padded), and a quote left open at the end
    of the file is an error, not one last cell holding the rest of the file (csv's lenient
    reading of it). Chunks, not records one by one: a million records cost csv's parsing only."""

    def __init__(self, path: Path, encoding: str, delimiter: str, skip: int):
        self.path, self.encoding, self.delimiter, self.skip = path, encoding, delimiter, skip

    def __iter__(self) -> Iterator[list[list[str]]]:
        count, last, before = 0, None, 0
        with open(self.path, encoding=self.encoding, newline="") as handle:
            for _ in range(self.skip):
                handle.readline()
            reader = csv.reader(handle, delimiter=self.delimiter)
            width, ended = None, 0
            for chunk in _chunks(reader, CHUNK):
                width = len(chunk[0]) if width is None else width
                if max(map(len, chunk)) > width:
                    at = next(at for at, record in enumerate(chunk) if len(record) > width)
                    raise _TooWide(count + at + 1, len(chunk[at]))
                count, last, before, ended = count + len(chunk), chunk[-1], ended, reader.line_num
                yield chunk
        if last is not None and self._left_open(last, before):
            raise _OpenQuote(count)

    def _left_open(self, last: list[str], before: int) -> bool:
        """Whether the last record ends inside a quote; ``before``: the lines (after the skipped
        ones) before the last chunk."""
        with open(self.path, "rb") as handle:  # the usual file: no quote on its one-line last record
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 4096))
            tail = handle.read().rstrip(b"\r\n")
        whole = size <= 4096 or b"\n" in tail or b"\r" in tail
        last_line = tail.splitlines()[-1] if tail else b""
        if whole and b'"' not in last_line and not any("\n" in cell or "\r" in cell for cell in last):
            return False
        with open(self.path, encoding=self.encoding, newline="") as handle:  # where the last record starts
            reader = csv.reader(itertools.islice(handle, self.skip + before, None), delimiter=self.delimiter)
            start = ended = 0
            for _ in reader:
                start, ended = ended + 1, reader.line_num
        with open(self.path, encoding=self.encoding, newline="") as handle:
            record = itertools.islice(handle, self.skip + before + start - 1, None)
            try:
                for _ in csv.reader(record, delimiter=self.delimiter, strict=True):
                    pass
            except csv.Error as exc:  # strict reading says what lenient reading glossed over
                return "unexpected end of data" in str(exc)
        return False


def _quote_column(path: Path, encoding: str, delimiter: str, skip: int, header: str) -> str:
    """" in column 'realname'": where the quote left open opens. It runs to the end of the file,
    so it is in the last row csv reads, in that row's last cell; "" when csv cannot say."""
    last: list[str] = []
    with open(path, encoding=encoding, newline="") as handle:
        for _ in range(skip):
            handle.readline()
        try:
            for last in csv.reader(handle, delimiter=delimiter):
                pass
        except csv.Error:  # the rest of the file in one cell, past csv's limit for a cell
            return ""
    if not last:
        return ""
    headers = next(csv.reader([header], delimiter=delimiter), [])
    index = len(last) - 1
    name = headers[index].strip(BLANKS) if index < len(headers) else ""
    return f" in column '{name or f'column {index + 1}'}'"


def _xlsx_text(value) -> str:
    """A cell as the text the user sees; whole numbers without '.0', booleans as TRUE/FALSE."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date, dtime)):
        return value.isoformat()
    return "" if value is None else str(value)


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile:
        raise InputError(f"{path.name} is not a valid {path.suffix.lower()} file (it is not a zip archive). "
                         "Open it in Excel and save it again as .xlsx.") from None
    unpacked = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if unpacked > XLSX_MAX_UNPACKED or (unpacked > 50 * 1024**2 and unpacked / packed > XLSX_MAX_RATIO):
        raise InputError(f"Refusing {path.name}: it would unpack to {unpacked // 1024**2} MiB "
                         f"(compression ratio {unpacked // packed}:1), which no real mailbox list needs.")


def _read_xlsx(path: Path, sheet: str | None, mapping: dict[str, str], hidden_rows: bool) -> Sheet:
    from python_calamine import CalamineWorkbook

    from .workbook import SheetFacts  # the workbook modules only for a workbook: a CSV run never loads them

    facts: dict[str, SheetFacts] = {}
    if path.suffix.lower() != ".xls":  # the old binary format is no zip archive
        _check_zip(path)
    if path.suffix.lower() in (".xlsx", ".xlsm", ".ods"):
        facts = {f.name: f for f in _scan(path)}
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for broken files
        raise InputError(f"Cannot read {path.name}: {exc}. Open it in Excel and save it again as .xlsx.") from None
    names = book.sheet_names
    if sheet is not None and sheet not in names:
        raise InputError(f"Sheet '{sheet}' not found in {path.name} (sheets: {', '.join(names)}). Check --sheet.")
    hidden = [m.name for m in book.sheets_metadata if str(m.visible).rsplit(".", 1)[-1].lower() != "visible"]
    order = [sheet] if sheet else [n for n in names if n not in hidden]
    first_error = None
    for name in order:
        try:
            result = _read_sheet(path, book, name, mapping, facts.get(name) or SheetFacts(name), hidden_rows)
        except InputError as err:
            first_error = first_error or err
            continue
        said = []  # which sheet, and why: before what the sheet itself holds
        skipped = [n for n in names[:names.index(name)] if n not in hidden]
        if skipped:
            said.append(f"Sheet '{skipped[0]}' has no email column; using sheet '{name}'.")
        if names[0] in hidden and not sheet:
            said.append(f"Sheet '{names[0]}' is hidden and was not read; --sheet '{names[0]}' reads it.")
        others = [n for n in order[order.index(name) + 1:] if _has_email_column(path, book, n, mapping)]
        if others:
            said.append(f"Sheet '{others[0]}' has an email column too and was not read; --sheet '{others[0]}' reads it.")
        result.notices[:0] = said
        return result
    if not sheet and hidden and not order:
        raise InputError(f"Every sheet of {path.name} is hidden ({', '.join(hidden)}). Name one with --sheet.")
    raise first_error or InputError(f"{path.name} has no sheets.")


def _scan(path: Path) -> list[SheetFacts]:
    """The workbook's facts; refused when it would expand past the budget (files/workbook.py)."""
    from xml.parsers.expat import ExpatError

    from .workbook import TooBig, check_ods, scan_workbook

    try:
        if path.suffix.lower() == ".ods":
            try:
                check_ods(path)
            except (ExpatError, ValueError) as exc:  # the values reader is lenient: never let it read unchecked
                raise InputError(f"Cannot read {path.name}: its content is not well-formed XML ({exc}). Open it in "
                                 "LibreOffice and save it again.") from None
            return []
        return scan_workbook(path, BLANKS) or []
    except TooBig as big:
        name, limit, why, remedy = big.args
        raise InputError(f"Refusing {path.name}: sheet '{name}' would expand to more than {limit} ({why}), which no "
                         f"real mailbox list needs.{' ' + remedy if remedy else ''}") from None
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError):
        return []  # broken parts: the values reader then says what is wrong, in its own words


def _values(path: Path, book, name: str, **options) -> list[list]:
    """A sheet's values as calamine reads them; its errors (a cell pointing past the shared
    strings, broken XML) say the file cannot be read."""
    from python_calamine import CalamineError

    try:
        return book.get_sheet_by_name(name).to_python(**options)
    except BaseException as exc:  # a panic in calamine's Rust code is a BaseException
        if not isinstance(exc, CalamineError) and type(exc).__name__ != "PanicException":
            raise
        raise InputError(f"Cannot read {path.name}: {exc}. Open it in Excel and save it again as .xlsx.") from None


def _has_email_column(path: Path, book, name: str, mapping: dict[str, str]) -> bool:
    """Whether a sheet names an email column in its first rows (read no further)."""
    wanted = _email_headers(mapping)
    rows = _values(path, book, name, skip_empty_area=False, nrows=40)
    return any(normalise_header(_xlsx_text(v)) in wanted for row in rows for v in row)


def _read_sheet(path: Path, book, name: str, mapping: dict[str, str], facts: SheetFacts, hidden_rows: bool) -> Sheet:
    from .workbook import tell_facts

    rows = _values(path, book, name, skip_empty_area=False)
    if len(rows) > EXCEL_MAX_ROWS:
        raise InputError(f"Sheet '{name}' of {path.name} has {len(rows)} rows, more than Excel's {EXCEL_MAX_ROWS}.")
    width = max(map(len, rows), default=0)
    texts = ([_xlsx_text(v) for v in row] for row in rows)
    result = _finish(path, name, _chunks(texts, CHUNK), 1, mapping, [f"sheet '{name}'"], facts.verbatim, width)
    tell_facts(result, facts, hidden_rows)
    return result


def _email_headers(mapping: dict[str, str]) -> set[str]:
    return {normalise_header(h) for h in mapping.values()} | set(ALIASES["email_address"])


def _find_header(head: list[list[str]], mapping: dict[str, str]) -> int:
    """Where the header row is among the first rows: the first of the first 20 non-blank rows
    naming an email column (title rows above a table are common in HR sheets), else the first
    non-blank row; -1 when there is none."""
    wanted = _email_headers(mapping)
    candidates = [at for at, row in enumerate(head) if any(v.strip(BLANKS) for v in row)][:20]
    if not candidates:
        return -1
    return next((at for at in candidates if any(normalise_header(v) in wanted for v in head[at])), candidates[0])


CHUNK = 8192  # rows cleaned at a time: column by column (fast), without a second copy of the file


def _finish(path: Path, name: str | None, chunks: Iterable[list[list[str]]], first: int, mapping: dict[str, str],
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
    positions = headers
    headers, cells = _without_empty_columns(headers, cells)
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


def _chunks(items: Iterator, size: int) -> Iterator[list]:
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
