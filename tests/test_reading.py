"""Reading real-world spreadsheets offline: encodings, delimiters, headers, row numbers."""

from __future__ import annotations

import zipfile

import pytest

from bulkmail.errors import InputError
from bulkmail.files.reading import read_table
from corpus import (aliases, excel_sep_line, excel_unicode_text, excel_utf8_bom, german_excel, hr_workbook,
                    powershell_export)


def test_utf8_bom_file_keeps_accents_and_maps_display_name(tmp_path):
    sheet = read_table(excel_utf8_bom(tmp_path))
    assert sheet.fields == {"action": "Action", "email_address": "Email Address", "realname": "Display Name"}
    assert sheet.column("Display Name") == ["Chloé Dupont", "Old One"]
    assert "encoding utf-8-sig" in sheet.notes


def test_cp1252_semicolon_file_is_decoded_not_garbled_and_keeps_leading_zeros(tmp_path):
    sheet = read_table(german_excel(tmp_path))
    assert sheet.column("Name") == ["Jürgen Weiß", "Änne Groß"]
    assert sheet.column("Kostenstelle") == ["0042", "0043"]
    assert sheet.notes == ["encoding cp1252", "delimiter ';'"]


def test_utf16_tab_file_is_read(tmp_path):
    sheet = read_table(excel_unicode_text(tmp_path))
    assert sheet.column("email") == ["zoe.ng@acme.com", "maría.pérez@acme.com"]
    assert sheet.notes == ["encoding utf-16", "delimiter '\\t'"]


def test_powershell_type_line_is_skipped_and_counted_as_excel_row_one(tmp_path):
    sheet = read_table(powershell_export(tmp_path))
    assert sheet.fields["email_address"] == "PrimarySmtpAddress"  # preferred over UserPrincipalName
    assert sheet.fields["realname"] == "DisplayName"
    assert sheet.numbers == [3, 4]


def test_excel_sep_line_sets_the_delimiter_and_is_not_a_row(tmp_path):
    sheet = read_table(excel_sep_line(tmp_path))
    assert sheet.fields == {"action": "action", "email_address": "mail", "executive": "vip"}
    assert sheet.numbers == [2, 3]


def test_workbook_uses_the_only_sheet_with_an_email_column_below_a_title(tmp_path):
    sheet = read_table(hr_workbook(tmp_path))
    assert sheet.name == "Data" and sheet.notices == ["Sheet 'Read me' has no email column; using sheet 'Data'."]
    assert sheet.numbers == [4, 5, 6]  # formatted empty rows 7-9 are gone
    assert sheet.column("Email Address [Required]") == ["kim.park@acme.com", "LEO.BERG@ACME.COM", "OLD.ONE@acme.com"]
    assert sheet.column("Executive") == ["TRUE", "FALSE", ""]
    assert sheet.column("Employee ID") == ["00123", "00124", "00007"]


def test_aliases_operation_email_and_vip(tmp_path):
    assert read_table(aliases(tmp_path)).fields == {"action": "Operation", "email_address": "E-mail",
                                                     "executive": "VIP", "realname": "Name"}


def test_blank_rows_are_skipped_but_row_numbers_stay_excels(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("action,email\nadd,a@acme.com\n\n,\n  ,\u00a0\nadd,b@acme.com\n")
    assert read_table(path).numbers == [2, 6]


def test_missing_email_column_names_the_sheet_and_headers(tmp_path):
    book_path = tmp_path / "hr.xlsx"
    from openpyxl import Workbook
    book = Workbook()
    book.active.title = "Onboarding"
    book.active.append(["Name", "Mail Addr"])
    book.active.append(["Ann", "ann@acme.com"])
    book.save(book_path)
    with pytest.raises(InputError) as caught:
        read_table(book_path)
    assert str(caught.value) == ("Column for email address not found in sheet 'Onboarding' of hr.xlsx (headers: Name, "
                                 "Mail Addr). Rename it to email_address or pass --map email_address=\"<header>\".")
    assert read_table(book_path, mapping={"email_address": "mail addr"}).fields["email_address"] == "Mail Addr"


def test_unknown_sheet_lists_the_sheets(tmp_path):
    with pytest.raises(InputError, match=r"^Sheet 'Leavers' not found in wave.xlsx \(sheets: Read me, Data\)\. Check --sheet\.$"):
        read_table(hr_workbook(tmp_path), sheet="Leavers")


def test_unreadable_inputs_get_a_message_not_a_traceback(tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    (tmp_path / "fake.xlsx").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"^Cannot read x.pdf: use a .csv, .xlsx, .xls, .xlsb or .ods file"):
        read_table(tmp_path / "x.pdf")
    with pytest.raises(InputError, match=r"^fake.xlsx is not a valid .xlsx file"):
        read_table(tmp_path / "fake.xlsx")
    with pytest.raises(InputError, match=r"^File not found: "):
        read_table(tmp_path / "nope.csv")


def test_row_with_more_cells_than_the_header_is_named(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("action,email\nadd,a@acme.com\nadd,b@acme.com,extra\n")
    with pytest.raises(InputError, match=r"^Cannot read ragged.csv: row 3 has 3 cells, more than the header"):
        read_table(path)


def test_zip_bomb_xlsx_is_refused_before_parsing(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * (60 * 1024**2) + b">")
    with pytest.raises(InputError, match=r"^Refusing bomb.xlsx: it would unpack to 60 MiB"):
        read_table(path)


def test_a_workbook_cell_longer_than_excel_allows_is_refused_with_row_and_column_and_a_csv_cell_is_read(tmp_path):
    from bulkmail.files.writing import write_table

    write_table(tmp_path / "long.xlsx", ["action", "email", "note"], [{"action": "add", "email": "a@acme.com",
                                                                         "note": "x" * 40000}])
    with pytest.raises(InputError, match=r"^sheet 'Mailboxes' of long.xlsx, row 2, column 'note': the cell is longer "
                                         r"than Excel's 32767"):
        read_table(tmp_path / "long.xlsx")
    path = tmp_path / "long.csv"  # no such limit in CSV (an undo file may bring back a longer name)
    path.write_text("action,email,note\nadd,a@acme.com," + "x" * 40000 + "\n")
    assert read_table(path).column("note") == ["x" * 40000]


def test_csv_with_more_rows_than_excel_is_refused(tmp_path, monkeypatch):
    import bulkmail.files.table
    monkeypatch.setattr(bulkmail.files.table, "EXCEL_MAX_ROWS", 3)  # the same rule at a testable size
    path = tmp_path / "big.csv"
    path.write_text("action,email\n" + "add,a@acme.com\n" * 4)
    with pytest.raises(InputError, match=r"^big.csv has 5 rows, more than Excel's 3: split it into smaller files.$"):
        read_table(path)


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_a_quote_left_open_on_the_last_line_is_refused_whatever_the_file_ends_with(tmp_path, ending):
    path = tmp_path / "open.csv"
    path.write_text(f'action,email,note\nadd,a@acme.com,ok\nadd,b@acme.com,"oops{ending}', newline="")
    with pytest.raises(InputError, match=r"^Cannot read open.csv: row 3 opens a quote \(\"\) in column 'note'"):
        read_table(path)


def test_a_closed_quote_spanning_the_last_lines_and_a_quote_inside_a_cell_are_read(tmp_path):
    path = tmp_path / "closed.csv"
    path.write_text('action,email,note\nadd,a@acme.com,5" screen\nadd,b@acme.com,"two\nlines, ""quoted"""\n')
    assert read_table(path).column("note") == ['5" screen', 'two\nlines, "quoted"']


def test_a_csv_cell_larger_than_the_csv_modules_default_limit_is_read(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("action,email,note\nadd,a@acme.com," + "y" * 300_000 + "\n")
    assert read_table(path).column("note") == ["y" * 300_000]
