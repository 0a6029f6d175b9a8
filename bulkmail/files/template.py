"""Import templates: XLSX with dropdowns and an instructions sheet, or a bare CSV header."""

from __future__ import annotations

import os
from pathlib import Path

from .paths import output_format
from .writing import atomic_path, write_table

COLUMNS = ["action", "email_address", "executive", "realname"]
INSTRUCTIONS = [
    "How to fill the Mailboxes sheet",
    "",
    "One mailbox per row; the header row must stay as it is.",
    "action: add or remove (pick from the list).",
    "email_address: the full address, e.g. new.hire@acme.com. Only the account's registered domains are accepted.",
    "executive: yes or no (blank means no); used when adding.",
    "realname: optional, the person's display name; it is sent with each add and copied into the report.",
    "",
    "Then, in a terminal:",
    "  bulkmail validate this-file.xlsx          offline checks, no changes",
    "  bulkmail import this-file.xlsx --dry-run  what would change, against the live service",
    "  bulkmail import this-file.xlsx            apply it; a report lists every row's outcome",
]


def write_template(path: str | os.PathLike) -> Path:
    """Write an import template; the format follows the extension (.xlsx or .csv)."""
    path = Path(path)
    if output_format(path, "the template") == ".csv":
        write_table(path, COLUMNS, [])
    else:
        with atomic_path(path) as temporary:
            _write_xlsx(temporary)
    return path


def _write_xlsx(path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = "Mailboxes"
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCD", (10, 40, 11, 30)):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    for column, name, choices, prompt in (("A", "action", "add,remove", "add or remove"),
                                          ("C", "executive", "yes,no", "yes or no (blank = no)")):
        rule = DataValidation(type="list", formula1=f'"{choices}"', allow_blank=True, showErrorMessage=True,
                              errorTitle="Not allowed", error=f"Choose {prompt}.", promptTitle=name, prompt=prompt)
        rule.add(f"{column}2:{column}10000")
        sheet.add_data_validation(rule)
    notes = book.create_sheet("Instructions")
    notes.column_dimensions["A"].width = 110
    for line in INSTRUCTIONS:
        notes.append([line])
    notes["A1"].font = Font(bold=True, size=13)
    book.save(path)
