"""One file on its way through the page: as uploaded, the sheet chosen, the columns mapped,
the cells edited, each row's validation; and the working copy the runs read.

The runs read a working copy (CSV, beside the upload in the page's state folder) and not the
page's memory, so that a run started here keeps a journal like the command line's and can be
finished by ``bulkmail import WORKING.csv --resume`` (and a run of that file from the command
line can be finished here). The copy keeps the row numbers of the user's file: deleted rows
and rows above the header stay as blank lines, which every reader skips."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..files.fields import ALIASES, normalise_header
from ..files.paths import READABLE, state_dir
from ..files.reading import read_table
from ..files.sheet import Sheet
from ..files.writing import neutralise, write_table
from ..jobs.options import ReadOptions
from ..jobs.validate import validate
from ..records import DUPLICATE, INVALID, PLANNED, Row

FIELDS = list(ALIASES)  # action, email_address, executive, realname
NAME = re.compile(r"[^\w.-]+")


def ui_dir() -> Path:
    """The page's own state: uploads, working copies, saved mappings (owner-only)."""
    folder = state_dir() / "ui"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def safe_name(name: str) -> str:
    """A file name the user gave, reduced to its last part and plain characters."""
    stem = NAME.sub("-", Path(name or "upload").name).strip("-.") or "upload"
    return stem[-120:]


def bad_field(detail: str) -> str | None:
    """Which field's cell a validation detail is about (to highlight that cell)."""
    text = detail.lower()
    if text.startswith(("unknown action", "action is")) or "removes the same address" in text \
            or text.startswith(("row ",)) and "adds the same address;" in text:
        return "action"
    if text.startswith("executive"):
        return "executive"
    if "email address" in text or text.startswith(("domain", "same as row", "row ")):
        return "email_address"
    return None


@dataclass
class Workspace:
    """A file the page works on; ``kind`` is import, sync, undo (a run's undo file) or resume
    (a file an interrupted run read: it is run as it is, never rewritten)."""

    id: str
    kind: str
    folder: Path
    source: Path  # the file as uploaded, or the file on disk (undo, resume)
    name: str  # as the user knows it
    profile: str | None = None
    domains: tuple[str, ...] = ()
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    table: Sheet | None = None
    fields: dict[str, str] = field(default_factory=dict)
    action: str | None = None
    rows: list[Row] = field(default_factory=list)
    edited: bool = False
    saved_mapping: bool = False  # the mapping came from one saved for these headers
    target: object = None  # an undo workspace: the run it reverts (jobs/revert.UndoTarget)
    sync: object = None  # a sync workspace: its SyncOptions, from the plan step
    plan: dict | None = None  # the last dry run: result, report, plan file
    outcome: dict | None = None  # the last real run: result, files, audit run id
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- reading ---------------------------------------------------------------------------

    def read(self, sheet: str | None = None) -> None:
        """(Re)read the file: the sheet asked for (default: the reader's choice), the mapping
        saved for its headers if any, every row validated."""
        hidden = self.kind == "sync"  # a roster's hidden rows are read, as on the command line
        try:
            table = read_table(self.source, sheet, None, hidden)
        except InputError as err:  # no header names an address: the columns step lets the user choose one
            table = _without_email_column(self.source, sheet, hidden, err)
        self.table, self.sheet, self.edited = table, table.name, False
        self.sheets = _sheets(self.source)
        self.fields = dict(table.fields)
        saved = load_mapping(self.profile, self.headers)
        if saved:  # saved for headers that differ at most in case and spaces: this file's spelling
            spelled = {normalise_header(h): h for h in self.headers}
            self.fields = {k: spelled[normalise_header(v)] for k, v in saved["fields"].items()
                           if normalise_header(v) in spelled}
            self.action, self.saved_mapping = saved.get("action"), True
        self.validate()

    @property
    def headers(self) -> list[str]:
        return list(self.table.columns) if self.table is not None else []

    def map(self, fields: dict[str, str], action: str | None) -> None:
        """Use these columns for the fields (an empty header: not used), and ``action`` for
        rows without one."""
        unknown = [h for h in fields.values() if h and h not in self.headers]
        if unknown:
            raise InputError(f"No column {unknown[0]!r} in {self.where}.")
        if not fields.get("email_address"):
            raise InputError("Choose the column that holds the email addresses.")
        self.fields = {k: v for k, v in fields.items() if v and k in FIELDS}
        self.action = action or None
        self.validate()

    def validate(self) -> None:
        if "email_address" not in self.fields:
            self.rows = []
            return
        if not self.ready:
            self.rows = []  # the columns step asks for an action first
            return
        table = dataclasses.replace(self.table, fields=self.fields)
        self.rows = validate(table, self.action or ("add" if self.kind == "sync" else None), self.domains)

    @property
    def where(self) -> str:
        return f"sheet '{self.sheet}' of {self.name}" if self.sheet else self.name

    @property
    def ready(self) -> bool:
        """Mapped well enough to validate: an address column, and an action (column or chosen)."""
        return "email_address" in self.fields and ("action" in self.fields or bool(self.action)
                                                   or self.kind == "sync")

    # -- the grid --------------------------------------------------------------------------

    def row(self, number: int) -> Row:
        found = next((r for r in self.rows if r.row == number), None)
        if found is None:
            raise InputError(f"There is no row {number} in {self.where} (deleted?). Reload the page.")
        return found

    def edit(self, number: int, column: str, value: str) -> None:
        """Change one cell and validate again (a change can make another row a duplicate)."""
        if column not in self.headers:
            raise InputError(f"No column {column!r} in {self.where}.")
        self.row(number)
        self.table.edit(number, column, value.strip())
        self.edited = True
        self.validate()

    def delete(self, number: int) -> None:
        self.row(number)
        self.table = self.table.rows(lambda kept, _: kept != number)
        self.edited = True
        self.validate()

    def problems(self) -> list[Row]:
        return [r for r in self.rows if r.status in (INVALID, DUPLICATE)]

    def cells(self, row: Row) -> list[tuple[str, str, bool]]:
        """(header, text, is the cell at fault) for each column of a row."""
        bad = self.fields.get(bad_field(row.detail) or "") if row.status != PLANNED else None
        values = self.table.cells[self.table.numbers.index(row.row)]
        return [(h, value, h == bad) for h, value in zip(self.headers, values)]

    # -- files -----------------------------------------------------------------------------

    def reading(self) -> ReadOptions:
        """How the command line reads the working copy: the same rows, the same checks."""
        return ReadOptions(action=self.action if "action" not in self.fields else None, domains=self.domains,
                           hidden_rows=self.kind == "sync")

    def working_file(self) -> Path:
        """The file a run reads: the source itself for an undo or a resume, else a CSV written
        from the edited table, with the chosen columns under their own names (so that the command
        line reads it the same way) and the user's row numbers. Rewritten only when it changes,
        so an interrupted run's journal still matches it."""
        if self.kind in ("undo", "resume"):
            return self.source
        path = self.folder / f"{Path(self.name).stem}.csv"
        text = self._working_text()
        if not path.is_file() or path.read_text(encoding="utf-8-sig") != text:
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(text, encoding="utf-8-sig", newline="")
            temporary.replace(path)
        return path

    def _working_text(self) -> str:
        import io

        table = self.table
        renamed = {header: name for name, header in self.fields.items()}
        unused = {name for name in FIELDS if name not in self.fields}
        headers = []
        for header in table.columns:
            if header in renamed:
                headers.append(renamed[header])
            elif any(normalise_header(header) in ALIASES[name] for name in unused):
                headers.append(f"unused {header}")  # a column the user chose not to use stays unused
            else:
                headers.append(header)
        # "Action for rows without one" is written into the copy, so that a resume (from the page
        # after a restart, or from the command line) reads the same rows without being told it.
        action = (self.action,) if "action" not in self.fields and self.action and self.kind != "sync" else ()
        headers += ["action"] if action else []
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        numbers = table.numbers
        numbered = not table.from_report and all(a <= b for a, b in zip(numbers, numbers[1:]))
        # The header just above the first data row keeps every data row's number.
        header_row = max(1, int(numbers[0]) - 1) if numbered and numbers else 1
        if numbered:
            out.write("\r\n" * (header_row - 1))
        writer.writerow([neutralise(h) for h in headers])
        line = header_row
        for number, values in zip(numbers, table.cells):
            if numbered:
                out.write("\r\n" * (int(number) - line - 1))
                line = int(number)
            writer.writerow([neutralise(str(v)) for v in (*values, *action)])
        return out.getvalue()

    def corrected(self, suffix: str) -> Path:
        """The edited sheet to download, as the user's own columns (no blank gaps)."""
        path = self.folder / f"{Path(self.name).stem}-corrected{suffix}"
        columns = self.table.columns
        write_table(path, columns, (dict(zip(columns, cells)) for cells in self.table.cells))
        return path


def _without_email_column(path: Path, sheet: str | None, hidden: bool, error: InputError) -> Sheet:
    """The sheet read although no header names an email column (the first column stands in
    for the reader; the user then picks the column on the page)."""
    found = re.search(r"not found in .*\(headers: (.*?)\)\. Rename it", str(error))
    if not found:
        raise error
    table = read_table(path, sheet, {"email_address": found.group(1).split(", ")[0]}, hidden)
    table.fields.pop("email_address", None)
    return table


def _sheets(path: Path) -> list[str]:
    """The visible sheets of a workbook ([] for CSV)."""
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return []
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception:  # the reader says what is wrong, in its own words
        return []
    return [m.name for m in book.sheets_metadata if str(m.visible).rsplit(".", 1)[-1].lower() == "visible"]


# -- uploads --------------------------------------------------------------------------------


def workspace_id(name: str, data: bytes) -> str:
    """The same file uploaded again (another tab, after a crash) is the same workspace: its
    working copy, and so its journal, are found again."""
    return hashlib.sha256(safe_name(name).encode() + b"\0" + data).hexdigest()[:16]


def save_upload(name: str, data: bytes) -> tuple[str, Path, Path]:
    """Keep an uploaded file in the page's state folder: (workspace id, folder, file)."""
    name = safe_name(name)
    if Path(name).suffix.lower() not in READABLE:
        raise InputError(f"Cannot read {name}: use a .csv, .xlsx, .xls, .xlsb or .ods file (in Excel: File > Save As).")
    key = workspace_id(name, data)
    folder = ui_dir() / key
    (folder / "upload").mkdir(parents=True, exist_ok=True, mode=0o700)  # an HR sheet: owner-only
    folder.chmod(0o700)
    path = folder / "upload" / name
    path.write_bytes(data)
    return key, folder, path


def pasted(text: str, action: str) -> tuple[str, bytes]:
    """A pasted list of addresses (one a line, or separated by commas, semicolons or spaces)
    as a CSV file with an action column."""
    if action not in ("add", "remove"):
        raise InputError("Choose whether the pasted addresses are to be added or removed.")
    addresses = [a for a in re.split(r"[\s,;]+", text) if a]
    if not addresses:
        raise InputError("The pasted list is empty: paste one address a line.")
    lines = ["action,email_address"] + [f"{action},{neutralise(a)}" for a in addresses]
    return f"pasted-{action}.csv", ("\n".join(lines) + "\n").encode()


# -- saved mappings -------------------------------------------------------------------------


def _mappings_file() -> Path:
    return ui_dir() / "mappings.json"


def _headers_key(headers: list[str]) -> str:
    return hashlib.sha256("\n".join(normalise_header(h) for h in headers).encode()).hexdigest()[:16]


def load_mapping(profile: str | None, headers: list[str]) -> dict | None:
    """The mapping saved for a file with these headers under this profile, if any."""
    try:
        saved = json.loads(_mappings_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = saved.get(profile or "", {}).get(_headers_key(headers))
    return found if isinstance(found, dict) and isinstance(found.get("fields"), dict) else None


def save_mapping(profile: str | None, headers: list[str], fields: dict[str, str], action: str | None) -> None:
    """Offer this mapping next time a file with the same headers is opened with this profile."""
    try:
        saved = json.loads(_mappings_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    saved.setdefault(profile or "", {})[_headers_key(headers)] = {"fields": fields, "action": action}
    temporary = _mappings_file().with_suffix(".tmp")
    temporary.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    temporary.replace(_mappings_file())
