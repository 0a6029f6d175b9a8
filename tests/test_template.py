"""The shipped templates are what `bulkmail template` writes, and they import as expected."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from bulkmail.files.reading import read_table
from bulkmail.files.template import write_template

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def content(path: Path):
    """What a user sees and gets: cell values and dropdowns, sheet by sheet (zip timestamps aside)."""
    if path.suffix == ".csv":
        return path.read_bytes()
    book = openpyxl.load_workbook(path)
    return [(sheet.title, [list(r) for r in sheet.iter_rows(values_only=True)],
             [(str(v.sqref), v.formula1) for v in sheet.data_validations.dataValidation]) for sheet in book]


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_shipped_template_matches_what_the_command_writes(tmp_path, suffix):
    fresh = write_template(tmp_path / f"t.{suffix}")
    assert content(TEMPLATES / f"import-template.{suffix}") == content(fresh), \
        f"regenerate with: bulkmail template -o templates/import-template.{suffix}"


def test_xlsx_template_offers_action_and_executive_dropdowns(tmp_path):
    sheet = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx"))["Mailboxes"]
    assert [(str(v.sqref), v.formula1) for v in sheet.data_validations.dataValidation] == [
        ("A2:A10000", '"add,remove"'), ("C2:C10000", '"yes,no"')]


def test_filled_template_reads_with_every_field_mapped(tmp_path):
    path = write_template(tmp_path / "t.xlsx")
    book = openpyxl.load_workbook(path)
    book["Mailboxes"].append(["add", "new@acme.com", "yes", "New Person"])
    book.save(path)
    sheet = read_table(path)
    assert sheet.name == "Mailboxes" and set(sheet.fields) == {"action", "email_address", "executive", "realname"}
    assert sheet.numbers == [2]


def test_template_command_writes_the_file(bulkmail, tmp_path):
    result = bulkmail("template", "-o", "mine.csv")
    assert (result.code, result.out) == (0, "Wrote mine.csv\n")
    assert (tmp_path / "mine.csv").read_bytes() == b"\xef\xbb\xbfaction,email_address,executive,realname\r\n"


def test_the_samples_the_package_ships_are_the_ones_in_samples():
    shipped = Path(__file__).resolve().parent.parent / "bulkmail" / "samples"
    names = sorted(p.name for p in shipped.iterdir())
    assert names == ["every-error.xlsx", "offboarding.csv", "onboarding-wave.xlsx"]
    for name in names:
        assert (shipped / name).read_bytes() == (TEMPLATES.parent / "samples" / name).read_bytes(), (
            f"{name} differs: regenerate with python samples/make_samples.py")
