"""CSV in: the encoding (a BOM, else UTF-8 if the whole file is, else Windows-1252), the
delimiter, Excel's `sep=` line, PowerShell's `#TYPE` line and title rows above the header, read
as Excel shows it, with clear messages for quotes left open and rows wider than the header."""

from __future__ import annotations

import codecs
import csv
import itertools
import os
import re
from pathlib import Path
from typing import Iterator

from ..errors import InputError
from .cells import BLANKS
from .fields import normalise_header
from .sheet import Sheet
from .table import CHUNK, chunks, email_headers, finish

# A CSV cell is bounded by its file, as it was when pandas read CSV (csv's default stops at 128 KiB).
csv.field_size_limit(2**31 - 1)


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
    wanted = email_headers(mapping)
    for number, line in enumerate(lines):
        for candidate in [delimiter] if delimiter else DELIMITERS:
            cells = next(csv.reader([line], delimiter=candidate), [])
            if any(normalise_header(cell) in wanted for cell in cells):
                return number, candidate
    number = next((n for n, line in enumerate(lines) if line.strip(BLANKS)), 0)
    return number, delimiter or _sniff_delimiter(lines[number] if lines else "")


def read_csv(path: Path, mapping: dict[str, str]) -> Sheet:
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
        return finish(path, None, _Records(path, encoding, delimiter, skip), 1 + lines_skipped, mapping, notes)
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
            for chunk in chunks(reader, CHUNK):
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
