"""Workbooks in, beyond their values: an .xlsx/.xlsm file's XML streamed once with a budget
(cells x text length, so a "bomb" of cells repeating one long shared string is refused before
anything builds the table; and the grid up to the farthest cell, which the values reader builds
whole, empty cells too), and what it says that the values reader does not: hidden sheets and
rows, formulas without a saved value, merged cells, cells marked with the quote prefix. An .ods
file's repeated rows and cells get the same budget (check_ods)."""

from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .xlsx import column_letter

if TYPE_CHECKING:
    from .sheet import Sheet

ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")  # Excel's escape of a character XML cannot carry

# What a sheet may materialise before bulkmail refuses it: the text of its cells added up (a
# shared string counts once per cell that shows it), and its cells: the values reader (calamine)
# builds the whole grid from A1 to the last row and column holding a value, so one value at
# CV900000 is 90 million cells (GBs, or an abort). A real mailbox list is far below both; a
# "bomb" of cells pointing at one long shared string, or a stray far-away cell, is not.
MAX_TEXT = 100_000_000
MAX_CELLS = 20_000_000
REPEATING = "its cells repeat the same long text"
STRAY = ("Delete what lies beyond the table (Ctrl+End goes to the last cell in use), or copy the table into a new "
         "file.")


class TooBig(Exception):
    """The workbook would materialise more than the budget allows; args: the sheet, the
    budget passed, why, and what to do ("" when nothing but another file helps)."""


def _grid(name: str, rows: int, columns: int) -> None:
    """Refuse a sheet whose grid, A1 to the last row and column in use, passes MAX_CELLS."""
    if rows * columns > MAX_CELLS:
        raise TooBig(name, f"{MAX_CELLS:,} cells", f"its cells reach row {rows:,} and column "
                     f"{column_letter(columns - 1)}: a grid of {rows * columns:,} cells, nearly all empty", STRAY)


@dataclass
class SheetFacts:
    """What a worksheet's XML says beyond its values, by the row numbers Excel shows (columns
    from 0): hidden rows, formula cells without a saved value, merged ranges, and cells whose
    text is marked with the quote prefix and has a blank at an edge (to be read whole)."""

    name: str
    state: str = "visible"  # or hidden, veryHidden
    hidden_rows: list[int] = field(default_factory=list)
    filtered: bool = False  # a filter is applied (filterMode): rows are hidden by it
    formulas: list[tuple[int, int]] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    verbatim: set[tuple[int, int]] = field(default_factory=set)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _events(archive: zipfile.ZipFile, member: str, events=("end",)):
    """(event, element) of one XML part, streamed; DTDs and entities refused (defusedxml)."""
    from defusedxml.ElementTree import iterparse

    with archive.open(member) as stream:
        yield from iterparse(stream, events=events)


def _column(reference: str) -> int:
    index = 0
    for char in reference:
        if not char.isalpha():
            break
        index = index * 26 + ord(char.upper()) - 64
    return index - 1


def scan_workbook(path: str | Path, blanks: str) -> list[SheetFacts] | None:
    """The sheets of an .xlsx/.xlsm workbook in order, with their facts; None when its parts are
    not where a workbook keeps them (then the values reader alone judges the file). Raises
    TooBig before any value is built when a sheet would exceed MAX_TEXT or MAX_CELLS."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "xl/workbook.xml" not in names:
            return None
        targets = {}
        if "xl/_rels/workbook.xml.rels" in names:
            for _, element in _events(archive, "xl/_rels/workbook.xml.rels"):
                if _local(element.tag) == "Relationship":
                    target = element.get("Target", "").lstrip("/")
                    targets[element.get("Id")] = target if target.startswith("xl/") else "xl/" + target
        sheets = []
        for _, element in _events(archive, "xl/workbook.xml"):
            if _local(element.tag) == "sheet":
                rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
                sheets.append((SheetFacts(element.get("name", ""), element.get("state", "visible")), targets.get(rid)))
        quoted = _quoted_styles(archive) if "xl/styles.xml" in names else set()
        lengths, edged = _shared_strings(archive, blanks) if "xl/sharedStrings.xml" in names else ([], b"")
        for facts, member in sheets:
            if member in names:
                _scan_sheet(archive, member, facts, quoted, lengths, edged, blanks)
    return [facts for facts, _ in sheets]


def _quoted_styles(archive: zipfile.ZipFile) -> set[str]:
    """The cell style indexes (as the s attribute spells them) with the quote prefix."""
    quoted, index, inside = set(), 0, False
    for event, element in _events(archive, "xl/styles.xml", ("start", "end")):
        tag = _local(element.tag)
        if tag == "cellXfs":
            inside = event == "start"
        elif tag == "xf" and inside and event == "end":
            if element.get("quotePrefix") in ("1", "true"):
                quoted.add(str(index))
            index += 1
    return quoted


# The sheet XML is scanned as bytes, block by block, with patterns for what is counted (every
# cell) and found (the rare ones): an element tree of every cell took 4 s for 600,000 cells.
BLOCK = 8 * 1024**2
SHARED_REF = re.compile(rb'<c\b[^>]*?\bt="s"[^>]*>\s*<v>(\d+)</v>')
VALUE_TEXT = re.compile(rb"<(?:v|t)\b[^>/]*>([^<]*)</")
CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
REFERENCE = re.compile(rb'\br="([A-Z]+)(\d+)"')
HIDDEN_ROW = re.compile(rb'<row\b[^>]*?\bhidden="(?:1|true)"[^>]*>')
ROW_NUMBER = re.compile(rb'\br="(\d+)"')
MERGE = re.compile(rb'<mergeCell\b[^>]*?\bref="([^"]+)"')
FILTER_MODE = re.compile(rb'<sheetPr\b[^>]*?\bfilterMode="(?:1|true)"')
SI = re.compile(rb"<si>(.*?)</si>", re.S)
# The column and the row of each cell that may hold something (not <c r="Z9" s="1"/>: an empty
# styled cell does not stretch the grid); two patterns of one group each cost half of one of two.
COLUMN_IN_USE = re.compile(rb'<c\b[^>]*?\br="([A-Z]+)\d+"[^>/]*>')
ROW_IN_USE = re.compile(rb'<c\b[^>]*?\br="[A-Z]+(\d+)"[^>/]*>')
# Cells and rows without a reference take the place after the one before them.
UNNAMED_CELL = re.compile(rb"<c(?:[>/]|\s(?!r=)(?![^>]*\sr=))")
UNNAMED_ROW = re.compile(rb"<row(?:[>/]|\s(?!r=)(?![^>]*\sr=))")
RUN_TEXT = re.compile(rb"<t\b[^>/]*>([^<]*)</t>")
PHONETIC = re.compile(rb"<rPh\b.*?</rPh>", re.S)


def _blocks(archive: zipfile.ZipFile, member: str, name: str, cut: bytes):
    """The part in blocks that end just after ``cut`` (or a tag), so no element of interest
    is split; a run of more than BLOCK bytes without a tag is no spreadsheet's."""
    carry = b""
    with archive.open(member) as stream:
        for block in iter(lambda: stream.read(BLOCK), b""):
            data = carry + block
            end = data.rfind(cut)
            end = end + len(cut) if end != -1 else data.rfind(b">") + 1
            if not end and len(data) > BLOCK:
                raise TooBig(name, f"{BLOCK:,} bytes in one cell", REPEATING, "")
            yield data[:end]
            carry = data[end:]
    if carry:
        yield carry


def _decode(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if "&" in text:
        text = html.unescape(text)  # XML's entities and character references (&#13;)
    return ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _shared_strings(archive: zipfile.ZipFile, blanks: str):
    """Each shared string's length, and whether it has a blank at an edge; the strings
    themselves are not kept."""
    from array import array

    lengths, edged = array("q"), bytearray()
    for block in _blocks(archive, "xl/sharedStrings.xml", "the shared strings", b"</si>"):
        for item in SI.findall(block):
            if b"<rPh" in item:
                item = PHONETIC.sub(b"", item)
            text = "".join(_decode(run) for run in RUN_TEXT.findall(item))
            lengths.append(len(text))
            edged.append(bool(text) and (text[0] in blanks or text[-1] in blanks))
    return lengths, edged


def _scan_sheet(archive, member, facts: SheetFacts, quoted, lengths, edged, blanks) -> None:
    text = cells = 0
    bottom = right = 0  # the farthest row and column holding a value
    quoted_cell = re.compile(rb'<c\b[^>]*?\bs="(?:%s)"[^>]*?>(.*?)</c>' % b"|".join(q.encode() for q in quoted),
                             re.S) if quoted else None
    for block in _blocks(archive, member, facts.name, b"</row>"):
        cells += block.count(b"<c ") + block.count(b"<c>")
        refs = SHARED_REF.findall(block)
        text += sum(len(v) for v in VALUE_TEXT.findall(block)) - sum(map(len, refs))
        try:
            text += sum(map(lengths.__getitem__, map(int, refs)))
        except IndexError:  # a reference to no shared string: the values reader says what is wrong
            pass
        if text > MAX_TEXT or cells > MAX_CELLS:
            raise TooBig(facts.name, f"{MAX_TEXT:,} characters of text" if text > MAX_TEXT else f"{MAX_CELLS:,} cells",
                         REPEATING, "")
        bottom, right = _reach(block, bottom, right)
        _grid(facts.name, bottom, right)
        if b"hidden=" in block:
            facts.hidden_rows += [int(n.group(1)) for m in HIDDEN_ROW.finditer(block)
                                  if (n := ROW_NUMBER.search(m.group()))]
        if b"<f" in block:
            for attributes, content in CELL.findall(block):
                if b"<f" in content and not _saved_value(content) and b't="str"' not in attributes:
                    facts.formulas += _position(attributes)
        if quoted_cell and quoted_cell.search(block):
            for cell in quoted_cell.finditer(block):
                attributes = cell.group()[:cell.start(1) - cell.start()]
                value = re.search(rb"<v>([^<]*)</v>", cell.group(1))
                if b't="s"' in attributes and value and value.group(1).isdigit():
                    index = int(value.group(1))
                    edge = index < len(edged) and edged[index]
                else:
                    content = "".join(_decode(run) for run in RUN_TEXT.findall(cell.group(1)))
                    edge = bool(content) and (content[0] in blanks or content[-1] in blanks)
                if edge:
                    facts.verbatim.update(_position(attributes))
        facts.merged += [ref.decode() for ref in MERGE.findall(block)]
        facts.filtered = facts.filtered or bool(FILTER_MODE.search(block))


def _reach(block: bytes, bottom: int, right: int) -> tuple[int, int]:
    """The farthest row and column (from 1) that may hold a value, with this block seen; cells
    and rows without a reference count as lying past the farthest (a bound, never less than
    what the values reader builds)."""
    columns = set(COLUMN_IN_USE.findall(block))
    if columns:
        right = max(right, max(_column(c.decode()) + 1 for c in columns))
        bottom = max(bottom, max(map(int, ROW_IN_USE.findall(block))))
    if UNNAMED_CELL.search(block) or UNNAMED_ROW.search(block):
        widest = max(len(UNNAMED_CELL.findall(row)) for row in block.split(b"</row>"))
        bottom, right = bottom + len(UNNAMED_ROW.findall(block)), right + widest
    return bottom, right


def _saved_value(content: bytes) -> bool:
    found = re.search(rb"<v>([^<]+)</v>", content)
    return bool(found)


def _position(attributes: bytes) -> list[tuple[int, int]]:
    """[(row, column)] of a cell from its reference; [] for a cell without one."""
    found = REFERENCE.search(attributes)
    return [(int(found.group(2)), _column(found.group(1).decode()))] if found else []


def tell_facts(table: Sheet, facts: SheetFacts, hidden_rows: bool) -> None:
    """Hidden rows (left out unless ``hidden_rows``), formulas without a saved value and merged
    cells within the table: said as notices, and the empty cells they explain named."""
    rows = set(table.numbers)
    hidden = [r for r in facts.hidden_rows if r in rows]
    if hidden:
        how = "hidden by a filter" if facts.filtered else "hidden"
        listed = ", ".join(map(str, hidden[:20])) + (", …" if len(hidden) > 20 else "")
        one = len(hidden) == 1
        what = f"{len(hidden)} {'row is' if one else 'rows are'} {how} ({'row' if one else 'rows'} {listed})"
        if hidden_rows:
            table.notices.append(f"{what} and {'is' if one else 'are'} read too.")
        else:
            left_out = set(hidden)
            kept = table.rows(lambda number, _: number not in left_out)
            table.numbers, table.cells = kept.numbers, kept.cells
            table.notices.append(f"{what} and left out; pass --hidden-rows to read {'it' if one else 'them'}.")
    headers = table.positions
    first = min(rows, default=0)
    formulas = [(r, c) for r, c in facts.formulas if r in rows and c < len(headers) and headers[c]]
    for r, c in formulas:
        table.blank_cells[(r, headers[c])] = (f"cell {column_letter(c)}{r} holds a formula without a saved value: "
                                              "open the file in Excel and save it, so that the value is stored")
    if formulas:
        cells = ", ".join(f"{column_letter(c)}{r}" for r, c in formulas[:10]) + (", …" if len(formulas) > 10 else "")
        one = len(formulas) == 1
        table.notices.append(f"{len(formulas)} {'cell holds a formula' if one else 'cells hold formulas'} without a "
                             f"saved value ({cells}): {'it reads' if one else 'they read'} empty. Open the file in "
                             "Excel and save it.")
    merged = []
    for ref in facts.merged:
        start, _, end = ref.partition(":")
        top, bottom = _row_of(start), _row_of(end or start)
        if bottom < first:
            continue
        merged.append(ref)
        for r in range(top, bottom + 1):
            for c in range(_column(start), _column(end or start) + 1):
                if (r, c) != (top, _column(start)) and r in rows and c < len(headers) and headers[c]:
                    table.blank_cells.setdefault((r, headers[c]), f"cell {column_letter(c)}{r} is part of the merged "
                                                 f"cells {ref}, whose value is in {start} only: unmerge them")
    if merged:
        table.notices.append(f"Merged cells ({', '.join(merged[:10])}): a merged range's value is read in its first "
                             "cell only; the others read empty.")


def _row_of(reference: str) -> int:
    return int("".join(ch for ch in reference if ch.isdigit()) or 0)


ODS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0 "  # expat's name: namespace, space, local name
ODS_VALUE_TYPE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0 value-type"
ODS_CELLS = (ODS_TABLE + "table-cell", ODS_TABLE + "covered-table-cell")
ODS_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0 "
ODS_SPACES, ODS_COUNT = ODS_TEXT + "s", ODS_TEXT + "c"


def check_ods(path: str | Path) -> None:
    """Refuse (TooBig) an .ods file before the values reader builds it: a row or cell may say
    it repeats (table:number-rows-repeated, number-columns-repeated), and the reader builds every
    repeat up to the last one holding a value. content.xml is streamed through expat and only
    counted (no tree is built: flat memory, a third of the time); a DTD is refused, as
    defusedxml would (no entity expands)."""
    import xml.parsers.expat

    with zipfile.ZipFile(path) as archive:
        if "content.xml" not in archive.namelist():
            return  # no spreadsheet: the values reader says so
        counter = _OdsCounter()
        parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler, parser.EndElementHandler = counter.start, counter.end
        parser.CharacterDataHandler = counter.text
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = _no_dtd
        with archive.open("content.xml") as stream:
            parser.ParseFile(stream)


def _no_dtd(*_args) -> None:
    raise ValueError("a DTD in content.xml")  # the values reader then says what is wrong


class _OdsCounter:
    """The grid an .ods table makes once its repeats are spelt out, counted as expat reads it:
    rows so far, the last of them holding a value (``bottom``), the farthest column holding one
    (``right``), and the text the repeats spell out. What lies inside a cell (even a table) is
    that cell's text."""

    def __init__(self):
        self.name, self.rows, self.bottom, self.right, self.spelt = "", 0, 0, 0, 0
        self.repeats = self.column = self.width = self.row_text = 0  # the row being read
        self.inside = 0  # > 0 within a cell: elements deep
        self.span = self.cell_text = 0
        self.valued = False

    def start(self, name: str, attributes: dict) -> None:
        if self.inside:
            self.inside += 1
            if name == ODS_SPACES:  # <text:s text:c="1000000"/>: that many spaces, spelt out by the reader
                self.cell_text += _repeat(attributes, ODS_COUNT)
        elif name in ODS_CELLS:
            self.inside, self.span, self.cell_text = 1, _repeat(attributes, "number-columns-repeated"), 0
            self.valued = bool(attributes.get(ODS_VALUE_TYPE))
        elif name == ODS_TABLE + "table-row":
            self.repeats, self.column, self.width, self.row_text = _repeat(attributes, "number-rows-repeated"), 0, 0, 0
        elif name == ODS_TABLE + "table":
            self.name = attributes.get(ODS_TABLE + "name", "")
            self.rows = self.bottom = self.right = self.spelt = 0

    def text(self, data: str) -> None:
        if self.inside:
            self.cell_text += len(data)

    def end(self, name: str) -> None:
        if self.inside > 1 or (self.inside and name not in ODS_CELLS):
            self.inside -= 1
        elif self.inside:
            self.inside, self.column = 0, self.column + self.span
            if self.valued or self.cell_text:
                self.width, self.row_text = self.column, self.row_text + self.cell_text * self.span
        elif name == ODS_TABLE + "table-row":
            self.rows += self.repeats
            if self.width:
                self.bottom, self.right = self.rows, max(self.right, self.width)
                self.spelt += self.row_text * self.repeats
            if self.spelt > MAX_TEXT:
                raise TooBig(self.name, f"{MAX_TEXT:,} characters of text", REPEATING, "")
            _grid(self.name, self.bottom, self.right)


def _repeat(attributes: dict, name: str) -> int:
    """An attribute that repeats something (a table attribute by its local name), at least 1."""
    try:
        return max(1, int(attributes.get(name if " " in name else ODS_TABLE + name, "1")))
    except ValueError:
        return 1
