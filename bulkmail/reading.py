"""Spreadsheets in: read_table() reads CSV (any encoding Excel writes, any delimiter, preambles),
XLSX/XLS/XLSB/ODS (the sheet with an email column, the header row below a title) or standard
input, as text, with the row numbers Excel shows."""

from __future__ import annotations

import codecs
import csv
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime
from pathlib import Path

import pandas as pd

from .errors import InputError
from .fields import ALIASES, REPORT_COLUMNS, normalise_header, resolve_fields
from .paths import READABLE, STDIO

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL = 32_767
# Every Unicode space (NBSP included: str.isspace knows it) plus zero-width ones Excel users paste.
BLANKS = "".join(chr(c) for c in range(0x3000 + 1) if chr(c).isspace()) + "\u200b\u200c\u200d\u2060\ufeff"
# Refuse XLSX files that would unpack to absurd sizes before any XML is parsed (zip bombs).
XLSX_MAX_UNPACKED = 2 * 1024**3
XLSX_MAX_RATIO = 200


@dataclass
class Sheet:
    """What was read: every input column as text, indexed by the row number Excel shows."""

    path: Path
    name: str | None
    frame: pd.DataFrame
    fields: dict[str, str]  # canonical field -> the input's own header
    notes: list[str] = field(default_factory=list)  # what was detected, for -v
    from_report: bool = False  # a results report read back: its `row` column gives the row numbers

    @property
    def where(self) -> str:
        if str(self.path) == STDIO:
            return "standard input"
        return f"sheet '{self.name}' of {self.path.name}" if self.name else str(self.path.name)


def read_table(path: str | os.PathLike, sheet: str | None = None, mapping: dict[str, str] | None = None) -> Sheet:
    """Read a CSV or XLSX file as text. Blank rows are dropped; the index is Excel's row number.
    ``mapping`` names the header of a field whose header has no known alias."""
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
    return _read_xlsx(path, sheet, mapping or {})


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
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    if b"\x00" in head:
        raise InputError(f"{path.name} looks like UTF-16 without a byte-order mark. Save it again as 'CSV UTF-8'.")
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


def _sniff_delimiter(line: str) -> str:
    """The candidate that splits the header line most often, quotes respected."""
    best, best_count = ",", 0
    for candidate in (",", ";", "\t", "|"):
        count = len(next(csv.reader([line], delimiter=candidate), [])) - 1
        if count > best_count:
            best, best_count = candidate, count
    return best


def _read_csv(path: Path, mapping: dict[str, str]) -> Sheet:
    encoding = detect_encoding(path)
    notes = [f"encoding {encoding}"]
    lines_skipped, skip, delimiter = 0, 0, None
    with open(path, encoding=encoding, newline="") as handle:
        first = handle.readline().rstrip("\r\n")
        sep = re.fullmatch(r'"?sep=(.)"?', first, re.IGNORECASE)
        header_line = "" if sep or first.startswith("#TYPE") else first
        while not header_line.strip(BLANKS):  # the first non-blank line after any preamble
            line = handle.readline()
            if not line:
                break
            header_line = line.rstrip("\r\n")
    if sep:
        delimiter, skip = sep.group(1), 1  # Excel reads this line as a setting and shows no row for it
        notes.append(f"Excel 'sep={delimiter}' line")
    elif first.startswith("#TYPE"):
        skip = lines_skipped = 1  # PowerShell's Export-Csv type line: Excel shows it as row 1
        notes.append("PowerShell #TYPE line skipped")
    delimiter = delimiter or _sniff_delimiter(header_line)
    notes.append(f"delimiter {delimiter!r}")
    try:
        frame = pd.read_csv(path, encoding=encoding, skiprows=skip, sep=delimiter, header=None, dtype=str,
                            keep_default_na=False, skip_blank_lines=False, quoting=csv.QUOTE_MINIMAL, engine="c")
    except pd.errors.ParserError as exc:
        found = re.search(r"line (\d+), saw (\d+)", str(exc))
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


def _read_xlsx(path: Path, sheet: str | None, mapping: dict[str, str]) -> Sheet:
    from python_calamine import CalamineWorkbook

    if path.suffix.lower() != ".xls":  # the old binary format is no zip archive
        _check_zip(path)
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for broken files
        raise InputError(f"Cannot read {path.name}: {exc}. Open it in Excel and save it again as .xlsx.") from None
    names = book.sheet_names
    if sheet is not None and sheet not in names:
        raise InputError(f"Sheet '{sheet}' not found in {path.name} (sheets: {', '.join(names)}). Check --sheet.")
    order = [sheet] if sheet else names
    first_error = None
    for name in order:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        if len(rows) > EXCEL_MAX_ROWS:
            raise InputError(f"Sheet '{name}' of {path.name} has {len(rows)} rows, more than Excel's {EXCEL_MAX_ROWS}.")
        frame = pd.DataFrame([[_xlsx_text(v) for v in row] for row in rows], dtype=str).fillna("")
        frame.index = frame.index + 1
        try:
            result = _finish(path, name, frame, mapping, [f"sheet '{name}'"])
        except InputError as err:
            first_error = first_error or err
            continue
        if name != order[0]:
            result.notes.append(f"sheet '{order[0]}' has no email column; using sheet '{name}'")
        return result
    raise first_error or InputError(f"{path.name} has no sheets.")


def _find_header(frame: pd.DataFrame, mapping: dict[str, str]) -> int:
    """Index label of the header row: the first of the first 20 non-blank rows naming an email
    column (title rows above a table are common in HR sheets), else the first non-blank row."""
    wanted = {normalise_header(h) for h in mapping.values()} | set(ALIASES["email_address"])
    candidates = [label for label, row in frame.head(40).iterrows() if any(str(v).strip(BLANKS) for v in row)][:20]
    if not candidates:
        return -1
    for label in candidates:
        if any(normalise_header(v) in wanted for v in frame.loc[label]):
            return label
    return candidates[0]


def _finish(path: Path, name: str | None, frame: pd.DataFrame, mapping: dict[str, str], notes: list[str]) -> Sheet:
    where = f"sheet '{name}' of {path.name}" if name else path.name
    header_at = _find_header(frame, mapping)
    if header_at == -1:
        raise InputError(f"{where} is empty: it has no header row. Start from 'bulkmail template'.")
    headers, seen = [], {}
    for position, value in enumerate(frame.loc[header_at]):
        value = str(value).strip(BLANKS) or f"column {position + 1}"
        seen[value] = seen.get(value, 0) + 1
        headers.append(value if seen[value] == 1 else f"{value} ({seen[value]})")
    body = frame.loc[frame.index > header_at].copy()  # copies cell pointers, not the strings
    body.columns = headers
    blank = list(BLANKS)
    for column in headers:  # text, with spaces (NBSP and zero-width ones too) stripped
        values = body[column].astype(str)
        # Strip only the cells that need it: new strings for every cell would hold the file twice.
        padded = values.str[:1].isin(blank) | values.str[-1:].isin(blank)
        if padded.any():
            values = values.mask(padded, values[padded].str.strip(BLANKS))
        lengths = values.str.len()
        if len(values) and lengths.max() > EXCEL_MAX_CELL:
            raise InputError(f"{where}, row {lengths.idxmax()}, column '{column}': the cell is longer than Excel's "
                             f"{EXCEL_MAX_CELL} characters. Fix that cell.")
        body[column] = values
    body = body[(body != "").any(axis=1)]  # blank and formatted-but-empty rows
    body = body.loc[:, [h for h in headers if not (h.startswith("column ") and (body[h] == "").all())]]
    fields = resolve_fields(list(body.columns), mapping, where)
    from_report = set(REPORT_COLUMNS) <= set(body.columns)
    if from_report:  # retrying a report's rows: they keep the row numbers of the original file
        numbers = pd.to_numeric(body["row"], errors="coerce")
        body.index = [int(n) if n == n else label for n, label in zip(numbers, body.index)]
        notes.append("a results report: row numbers from its row column")
    return Sheet(path, name, body, fields, notes, from_report)
