"""Spreadsheets in: read_table() reads CSV (any encoding Excel writes, any delimiter, preambles),
XLSX/XLS/XLSB/ODS (the sheet with an email column, the header row below a title) or standard
input, as text, with the row numbers Excel shows."""

from __future__ import annotations

import codecs
import csv
import os
import re
import zipfile
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from xml.parsers.expat import ExpatError

import pandas as pd

from ..errors import InputError
from .cells import BLANKS, unmark
from .fields import ALIASES, REPORT_COLUMNS, normalise_header, resolve_fields
from .paths import READABLE, STDIO
from .sheet import Sheet, whole_cells
from .workbook import SheetFacts, TooBig, check_ods, scan_workbook, tell_facts

EXCEL_MAX_ROWS = 1_048_576
BLANK_LIST = list(BLANKS)
EXCEL_MAX_CELL = 32_767
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
    """CSV from standard input, spooled to a private temporary file (pandas and the encoding
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
        frame = pd.read_csv(path, encoding=encoding, skiprows=skip, sep=delimiter, header=None, dtype=str,
                            keep_default_na=False, skip_blank_lines=False, quoting=csv.QUOTE_MINIMAL, engine="c")
    except pd.errors.ParserError as exc:
        found = re.search(r"line (\d+), saw (\d+)", str(exc))
        quote = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if quote:
            row = int(quote.group(1)) + 1 - (skip - lines_skipped)  # pandas counts the skipped lines here
            column = _quote_column(path, encoding, delimiter, skip, lines[above] if lines else "")
            raise InputError(f"Cannot read {path.name}: row {row} opens a quote (\"){column} that is never closed. "
                             "Close it or remove it in that row.") from None
        where = f"row {int(found.group(1)) + lines_skipped} has {found.group(2)} cells, more than the header" if found else str(exc)
        raise InputError(f"Cannot read {path.name}: {where}. Check the delimiter and the quotes in that row.") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path.name} is empty: it has no header row. Start from 'bulkmail template'.") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name} is not valid {encoding} (byte {exc.start}). Save it again as 'CSV UTF-8'.") from None
    if len(frame) > EXCEL_MAX_ROWS:
        raise InputError(f"{path.name} has {len(frame)} rows, more than Excel's {EXCEL_MAX_ROWS}: "
                         "split it into smaller files.")
    frame.index = frame.index + 1 + lines_skipped
    return _finish(path, None, frame.fillna(""), mapping, notes)


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
    rows = _values(path, book, name, skip_empty_area=False)
    if len(rows) > EXCEL_MAX_ROWS:
        raise InputError(f"Sheet '{name}' of {path.name} has {len(rows)} rows, more than Excel's {EXCEL_MAX_ROWS}.")
    frame = pd.DataFrame([[_xlsx_text(v) for v in row] for row in rows], dtype=str).fillna("")
    frame.index = frame.index + 1
    result = _finish(path, name, frame, mapping, [f"sheet '{name}'"], facts.verbatim)
    tell_facts(result, facts, hidden_rows)
    return result


def _email_headers(mapping: dict[str, str]) -> set[str]:
    return {normalise_header(h) for h in mapping.values()} | set(ALIASES["email_address"])


def _find_header(frame: pd.DataFrame, mapping: dict[str, str]) -> int:
    """Index label of the header row: the first of the first 20 non-blank rows naming an email
    column (title rows above a table are common in HR sheets), else the first non-blank row."""
    wanted = _email_headers(mapping)
    candidates = [label for label, row in frame.head(40).iterrows() if any(str(v).strip(BLANKS) for v in row)][:20]
    if not candidates:
        return -1
    for label in candidates:
        if any(normalise_header(v) in wanted for v in frame.loc[label]):
            return label
    return candidates[0]


def _finish(path: Path, name: str | None, frame: pd.DataFrame, mapping: dict[str, str], notes: list[str],
            verbatim: set[tuple[int, int]] | None = None) -> Sheet:
    """The table below the header row, as text. ``verbatim``: the XLSX cells to take whole (the
    quote prefix marks them); None for CSV, whose marked cells lose exactly their one apostrophe."""
    where = f"sheet '{name}' of {path.name}" if name else path.name
    header_at = _find_header(frame, mapping)
    if header_at == -1:
        raise InputError(f"{where} is empty: it has no header row. Start from 'bulkmail template'.")
    headers = _headers(frame.loc[header_at], header_at, verbatim)
    body = frame.loc[frame.index > header_at].copy()  # copies cell pointers, not the strings
    body.columns = headers
    for position, column in enumerate(headers):
        body[column] = _column_text(body[column], position, column, where, verbatim)
    body = body[(body != "").any(axis=1)]  # blank and formatted-but-empty rows
    body = body.loc[:, [h for h in headers if not (h.startswith("column ") and (body[h] == "").all())]]
    fields = resolve_fields(list(body.columns), mapping, where)
    from_report = set(REPORT_COLUMNS) <= set(body.columns)
    if from_report:  # retrying a report's rows: they keep the row numbers of the original file
        numbers = pd.to_numeric(body["row"], errors="coerce")
        body.index = [int(n) if n == n else label for n, label in zip(numbers, body.index)]
        notes.append("a results report: row numbers from its row column")
    table = Sheet(path, name, body, fields, notes, from_report, positions=headers)
    addresses = [h for h in body.columns if normalise_header(h) in ALIASES["email_address"]]
    if "email_address" not in mapping and len(addresses) > 1:
        chosen = fields["email_address"]
        others = [h for h in addresses if h != chosen]
        table.notices.append(f"Columns {chosen} and {', '.join(others)} both hold addresses; using {chosen} "
                             f"(--map email_address=\"{others[0]}\" uses the other).")
    return table


def _headers(cells, header_at: int, verbatim: set[tuple[int, int]] | None) -> list[str]:
    """The header row's names: stripped, a name for an empty one, repeats numbered."""
    headers, seen = [], {}
    for position, value in enumerate(cells):
        value = str(value)
        whole = unmark(value) if verbatim is None else value if (header_at, position) in verbatim else None
        value = (whole if whole is not None else value.strip(BLANKS)) or f"column {position + 1}"
        seen[value] = seen.get(value, 0) + 1
        headers.append(value if seen[value] == 1 else f"{value} ({seen[value]})")
    return headers


def _column_text(values: pd.Series, position: int, column: str, where: str,
                 verbatim: set[tuple[int, int]] | None) -> pd.Series:
    """One column as text, spaces (NBSP and zero-width ones too) stripped, marked cells whole."""
    values = values.astype(str)
    whole = whole_cells(values, position, verbatim)
    # Strip only the cells that need it: new strings for every cell would hold the file twice.
    padded = values.str[:1].isin(BLANK_LIST) | values.str[-1:].isin(BLANK_LIST)
    if len(whole):
        padded &= ~values.index.isin(whole.index)
    if padded.any():
        values = values.mask(padded, values[padded].str.strip(BLANKS))
    if len(whole):
        values = values.copy()
        values.loc[whole.index] = whole
    # Excel's own limit, for a workbook; a CSV cell may be longer (a name bulkmail's undo file
    # brings back as the service held it), and is bounded by the file's size.
    if verbatim is not None and len(values):
        lengths = values.str.len()
        if lengths.max() > EXCEL_MAX_CELL:
            raise InputError(f"{where}, row {lengths.idxmax()}, column '{column}': the cell is longer than Excel's "
                             f"{EXCEL_MAX_CELL} characters. Fix that cell.")
    return values
