"""Input files as real tools write them, each with the outcome every row should get when it is
imported into a sandbox holding EXISTING. Used by the reading and the import tests."""

from __future__ import annotations

import codecs
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import PatternFill

EXISTING = ["old.one@acme.com", "old.two@acme.co.uk", "jimbob@acme.com", "Gone.Soon@acme.com"]


def excel_utf8_bom(folder: Path) -> Path:
    """Excel's 'CSV UTF-8': BOM, commas, CRLF."""
    path = folder / "bom.csv"
    text = "Action,Email Address,Display Name\r\nadd,chloe.dupont@acme.com,Chloé Dupont\r\nadd,old.one@acme.com,Old One\r\n"
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    return path


def german_excel(folder: Path) -> Path:
    """A German Excel's 'CSV (Trennzeichen-getrennt)': cp1252, semicolons, no action column."""
    path = folder / "leavers.csv"
    text = "Name;E-Mail;Kostenstelle\r\nJürgen Weiß;gone.soon@acme.com;0042\r\nÄnne Groß;never.here@acme.com;0043\r\n"
    path.write_bytes(text.encode("cp1252"))
    return path


def excel_unicode_text(folder: Path) -> Path:
    """Excel's 'Unicode Text': UTF-16 LE with BOM, tab separated."""
    path = folder / "unicode.txt"
    text = "action\temail\texecutive\r\nadd\tzoe.ng@acme.com\t1\r\nadd\tmaría.pérez@acme.com\t0\r\n"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    return path


def powershell_export(folder: Path) -> Path:
    """Get-Mailbox | Export-Csv (Windows PowerShell 5): a #TYPE line, every field quoted."""
    path = folder / "get-mailbox.csv"
    text = ('#TYPE Selected.Microsoft.Exchange.Data.Directory.Management.Mailbox\r\n'
            '"DisplayName","PrimarySmtpAddress","UserPrincipalName"\r\n'
            '"Old Two","old.two@acme.co.uk","old.two@acme.onmicrosoft.com"\r\n'
            '"Bob","bob@acme.com","bob@acme.onmicrosoft.com"\r\n')
    path.write_bytes(text.encode("utf-8"))
    return path


def excel_sep_line(folder: Path) -> Path:
    """A file carrying Excel's 'sep=;' hint line, which Excel hides."""
    path = folder / "sep.csv"
    path.write_bytes(b"sep=;\r\naction;mail;vip\r\nadd;ann.lee@acme.com;yes\r\nadd;ann.lee@acme.com;yes\r\n")
    return path


def hr_workbook(folder: Path) -> Path:
    """HR's workbook: an instructions sheet first, a title above the table, Excel booleans,
    NBSP around an address, leading zeros kept as text, formatted empty rows at the end."""
    path = folder / "wave.xlsx"
    book = Workbook()
    book.active.title = "Read me"
    book.active.append(["Fill in the Data sheet."])
    sheet = book.create_sheet("Data")
    sheet.append(["Wave 7"])
    sheet.append([])
    sheet.append(["Action", "Email Address [Required]", "Executive", "Employee ID"])
    sheet.append(["add", "\u00a0kim.park@acme.com\u00a0", True, "00123"])
    sheet.append(["Add ", "LEO.BERG@ACME.COM", False, "00124"])
    sheet.append(["remove", "OLD.ONE@acme.com", None, "00007"])
    for row in range(7, 10):
        for column in range(1, 5):
            sheet.cell(row=row, column=column).fill = PatternFill("solid", fgColor="FFFF00")
    book.save(path)
    return path


def aliases(folder: Path) -> Path:
    path = folder / "aliases.csv"
    path.write_text("Operation,E-mail,Name,VIP\nremove,Old.One@ACME.com,Old One,\nremove,bob@acme.com,Bob,\n")
    return path


# writer, extra options, {Excel row: expected status}
CORPUS = {
    "utf-8 BOM": (excel_utf8_bom, [], {2: "added", 3: "already_present"}),
    "cp1252 semicolons": (german_excel, ["--action", "remove"], {2: "removed", 3: "not_found"}),
    "utf-16 tabs": (excel_unicode_text, [], {2: "added", 3: "added"}),
    "powershell #TYPE": (powershell_export, ["--action", "remove"], {3: "removed", 4: "not_found"}),
    "sep= line": (excel_sep_line, [], {2: "added", 3: "duplicate"}),
    "hr workbook": (hr_workbook, [], {4: "added", 5: "added", 6: "removed"}),
    "aliases and substring trap": (aliases, [], {2: "removed", 3: "not_found"}),
}
