"""Regenerate the sample inputs: python samples/make_samples.py

They name mailboxes of the demo sandbox (Store.seed(250) is deterministic), so that their
removes and "already present" rows meet real mailboxes in `bulkmail demo` and in the tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from bulkmail.sandbox import Settings, Store

HERE = Path(__file__).parent


def demo_addresses() -> list[str]:
    store = Store()
    store.seed(250, Settings().domains)
    return [m["email_address"] for m in store.mailboxes.values()]


def demo_name(address: str) -> str:
    store = Store()
    store.seed(250, Settings().domains)
    return store.find(address)["realname"].strip()


def onboarding(existing: list[str]) -> None:
    """HR's wave: a title above the table, Excel booleans, stray spaces, a notes sheet."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Wave 12"
    sheet.append(["Onboarding wave 12 — December 2026"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    sheet.append(["Action", "Email Address", "Display Name", "Executive", "Department", "Employee ID"])
    hires = [("maria.lopez", "María López", True, "Finance"), ("tom.hart", "Tom Hart", False, "Sales"),
             ("olivia.chen", "Olivia Chen", "yes", "Legal"), ("ahmed.khan", "Ahmed Khan", None, "IT"),
             ("sofia.rossi", "Sofia Rossi", "No", "Marketing"), ("lukas.brandt", "Lukas Brandt", 0, "Operations"),
             ("chloe.martin", "Chloé Martin", None, "HR"), ("noah.smith", "Noah Smith", 1, "Executive Office"),
             ("eva.novak", "Eva Nováková", None, "Finance"), ("liam.walsh", "Liam Walsh", None, "Support"),
             ("yuki.sato", "Yuki Satō", "y", "R&D"), ("fatima.zahra", "Fatima Zahra", None, "R&D")]
    for n, (local, name, executive, department) in enumerate(hires):
        domain = "acme.co.uk" if n % 4 == 3 else "acme.com"
        address = f"{local}@{domain}"
        if local == "tom.hart":
            address = f"\u00a0{address} "  # pasted from a web page: NBSP and a trailing space
        if local == "olivia.chen":
            address = "Olivia.Chen@ACME.com"
        sheet.append(["add" if n % 3 else "Add", address, name, executive, department, f"{n + 123:05d}"])
    sheet.append(["add", existing[3].upper(), demo_name(existing[3]), None, "Sales (rehired: has a mailbox)", "00999"])
    sheet.append([" Remove ", existing[10], "Moved to a partner company", None, "Sales", "00042"])
    sheet.append(["remove", existing[11], "Contract ended", None, "IT", "00043"])
    grey = PatternFill("solid", fgColor="EEEEEE")
    for row in range(sheet.max_row + 1, sheet.max_row + 4):  # formatted but empty rows
        for column in range(1, 7):
            sheet.cell(row=row, column=column).fill = grey
    notes = book.create_sheet("Notes")
    notes.append(["Prepared by HR. Start dates are on the intranet."])
    book.save(HERE / "onboarding-wave.xlsx")


def offboarding(existing: list[str]) -> None:
    """Finance's leavers, saved by a German Excel: cp1252, ';', no action column."""
    lines = ["Name;E-Mail;Austrittsdatum;Kostenstelle"]
    for n, address in enumerate(existing[20:30]):
        lines.append(f"Leaver {n};{address};31.12.2026;K-{4000 + n}")
    lines.append("Jürgen Weiß;juergen.weiss@acme.com;31.12.2026;K-4711")  # never had a mailbox
    (HERE / "offboarding.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


EVERY_ERROR = [
    # action, email_address, executive, realname -> the expected status in the demo sandbox
    ("add", "new.starter@acme.com", "no", "New Starter", "added"),
    ("add", "{existing0}", "", "Already here", "already_present"),
    ("remove", "{existing1}", "", "Leaver", "removed"),
    ("remove", "nobody.here@acme.com", "", "Never existed", "not_found"),
    ("add", "not-an-address", "", "Typo", "invalid"),
    ("delete", "someone@acme.com", "", "Unknown action", "invalid"),
    ("add", "exec.maybe@acme.com", "maybe", "Bad executive flag", "invalid"),
    ("add", "flip.flop@acme.com", "", "Added and removed", "invalid"),
    ("remove", "flip.flop@acme.com", "", "Added and removed", "invalid"),
    ("add", "New.Starter@acme.com", "no", "New Starter", "duplicate"),  # the same data again
    ("add", "guest@partner.org", "", "Domain not registered", "failed"),
    ("add", "", "", "No address", "invalid"),
    ("add", "formula.name@acme.com", "", "=HYPERLINK(\"http://x\",\"click\")", "added"),
]


def every_error(existing: list[str]) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "Mailboxes"
    sheet.append(["action", "email_address", "executive", "realname", "expected"])
    for n, (action, address, executive, name, expected) in enumerate(EVERY_ERROR):
        if n == 6:
            sheet.append([])  # a blank row in the middle is skipped, not reported
        sheet.append([action, address.format(existing0=existing[0], existing1=existing[1]), executive, name, expected])
    for row in sheet.iter_rows(min_row=2):  # keep the formula-looking name as text in the sample
        row[3].data_type = "s"
    book.save(HERE / "every-error.xlsx")


if __name__ == "__main__":
    addresses = demo_addresses()
    onboarding(addresses)
    offboarding(addresses)
    every_error(addresses)
    shipped = HERE.parent / "bulkmail" / "samples"  # the copies the package ships for the demo
    for path in sorted(HERE.glob("*.*")):
        if path.suffix != ".py":
            shutil.copyfile(path, shipped / path.name)
    print("wrote", ", ".join(p.name for p in sorted(HERE.glob("*.*")) if p.suffix != ".py"), "and their copies in",
          shipped)
