"""Spreadsheets in: read_table() reads CSV (any encoding Excel writes, any delimiter, preambles),
XLSX/XLS/XLSB/ODS (the sheet with an email column, the header row below a title) or standard
input, as text, with the row numbers Excel shows."""

from __future__ import annotations

import os
import zipfile
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .cells import BLANKS
from .csvfile import read_csv
from .fields import normalise_header
from .paths import READABLE, STDIO
from .sheet import Sheet
from .table import CHUNK, EXCEL_MAX_ROWS, chunks, email_headers, finish

if TYPE_CHECKING:
    from .workbook import SheetFacts

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
        return read_csv(path, mapping or {})
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
        table = read_csv(spool, mapping)
    table.path = Path(STDIO)
    return table


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
    wanted = email_headers(mapping)
    rows = _values(path, book, name, skip_empty_area=False, nrows=40)
    return any(normalise_header(_xlsx_text(v)) in wanted for row in rows for v in row)


def _read_sheet(path: Path, book, name: str, mapping: dict[str, str], facts: SheetFacts, hidden_rows: bool) -> Sheet:
    from .workbook import tell_facts

    rows = _values(path, book, name, skip_empty_area=False)
    if len(rows) > EXCEL_MAX_ROWS:
        raise InputError(f"Sheet '{name}' of {path.name} has {len(rows)} rows, more than Excel's {EXCEL_MAX_ROWS}.")
    width = max(map(len, rows), default=0)
    texts = ([_xlsx_text(v) for v in row] for row in rows)
    result = finish(path, name, chunks(texts, CHUNK), 1, mapping, [f"sheet '{name}'"], facts.verbatim, width)
    tell_facts(result, facts, hidden_rows)
    return result


