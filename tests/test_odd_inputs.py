"""Odd files read truthfully: bulkmail says which sheet, column and rows it read, and why a cell
reads empty, before anything is sent."""

from __future__ import annotations

import codecs
import zipfile

import openpyxl
import pytest

from bulkmail.errors import InputError
from bulkmail.files.reading import read_table
from helpers import read_report


def workbook(path, sheets: dict[str, list[list]], hidden_sheets=(), hidden_rows=(), filtered=False):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if title in hidden_sheets:
            sheet.sheet_state = "hidden"
    first = book[next(iter(sheets))]
    for number in hidden_rows:
        first.row_dimensions[number].hidden = True
    if filtered:
        first.auto_filter.ref = f"A1:B{len(sheets[first.title])}"
        first.sheet_properties.filterMode = True
    book.save(path)
    return path


LEAVERS = [["action", "email"]] + [["remove", f"user{n}@acme.com"] for n in range(2, 7)]


def test_a_hidden_first_sheet_is_passed_over_and_named(bulkmail, tmp_path):
    workbook(tmp_path / "w.xlsx", {"Old list": [["action", "email"], ["remove", "ceo@acme.com"]],
                                    "Leavers": LEAVERS[:2]}, hidden_sheets={"Old list"})
    result = bulkmail("validate", "w.xlsx", "--report", "r.csv")
    assert result.out.splitlines()[:2] == ["Read 1 row from sheet 'Leavers' of w.xlsx.",
                                           "Sheet 'Old list' is hidden and was not read; --sheet 'Old list' reads it."]
    assert [line["email_address"] for line in read_report(tmp_path / "r.csv")] == ["user2@acme.com"]
    assert read_table(tmp_path / "w.xlsx", sheet="Old list").column("email") == ["ceo@acme.com"]


def test_a_workbook_whose_sheets_are_all_hidden_says_so(tmp_path):
    source = workbook(tmp_path / "source.xlsx", {"A": LEAVERS, "B": LEAVERS})
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(tmp_path / "w.xlsx", "w") as hidden:
        for item in archive.infolist():  # Excel refuses to save such a file; other tools do not
            data = archive.read(item)
            hidden.writestr(item, data.replace(b'state="visible"', b'state="hidden"') if item.filename ==
                            "xl/workbook.xml" else data)
    with pytest.raises(InputError, match=r"^Every sheet of w.xlsx is hidden \(A, B\). Name one with --sheet.$"):
        read_table(tmp_path / "w.xlsx")
    assert len(read_table(tmp_path / "w.xlsx", sheet="B")) == 5


def test_hidden_rows_are_named_left_out_and_read_with_the_option(bulkmail, tmp_path):
    workbook(tmp_path / "w.xlsx", {"Leavers": LEAVERS}, hidden_rows=[3, 5], filtered=True)
    result = bulkmail("validate", "w.xlsx", "--report", "r.xlsx")
    notice = "2 rows are hidden by a filter (rows 3, 5) and left out; pass --hidden-rows to read them."
    assert result.out.splitlines()[:2] == ["Read 3 rows from sheet 'Leavers' of w.xlsx.", notice]
    assert [line["row"] for line in read_report(tmp_path / "r.xlsx")] == ["2", "4", "6"]
    summary = list(openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True))
    assert ("reading", notice) in summary
    result = bulkmail("validate", "w.xlsx", "--hidden-rows", "--report", "all.csv")
    assert result.out.splitlines()[:2] == ["Read 5 rows from sheet 'Leavers' of w.xlsx.",
                                           "2 rows are hidden by a filter (rows 3, 5) and are read too."]
    assert len(read_report(tmp_path / "all.csv")) == 5


def test_rows_hidden_by_hand_are_left_out_of_an_import_before_anything_is_sent(bulkmail, sandbox, tmp_path):
    for n in range(2, 7):
        sandbox.store.add(f"user{n}@acme.com")
    workbook(tmp_path / "w.xlsx", {"Leavers": LEAVERS}, hidden_rows=[4])
    result = bulkmail("import", "w.xlsx", "--yes", "--report", "r.csv")
    assert result.out.splitlines()[1] == "1 row is hidden (row 4) and left out; pass --hidden-rows to read it."
    assert sandbox.store.addresses() == {"user4@acme.com"}


def test_a_sync_roster_reads_its_hidden_rows(bulkmail, sandbox, tmp_path):
    for n in range(2, 7):
        sandbox.store.add(f"user{n}@acme.com")
    workbook(tmp_path / "roster.xlsx", {"Staff": [["email"]] + [[f"user{n}@acme.com"] for n in range(2, 7)]},
             hidden_rows=[3])
    result = bulkmail("sync", "roster.xlsx", "--yes", "--report", "r.csv")
    assert "1 row is hidden (row 3) and is read too." in result.out.splitlines()
    assert len(sandbox.store.addresses()) == 5


def test_a_second_sheet_with_emails_and_a_second_address_column_are_named(bulkmail, tmp_path):
    workbook(tmp_path / "w.xlsx", {"Leavers": [["action", "Email", "UserPrincipalName"],
                                              ["remove", "a@acme.com", "a@acme.onmicrosoft.com"]],
                                   "Joiners": [["action", "email"], ["add", "b@acme.com"]]})
    result = bulkmail("validate", "w.xlsx", "--report", "r.csv")
    assert result.out.splitlines()[:3] == [
        "Read 1 row from sheet 'Leavers' of w.xlsx.",
        "Sheet 'Joiners' has an email column too and was not read; --sheet 'Joiners' reads it.",
        'Columns Email and UserPrincipalName both hold addresses; using Email (--map '
        'email_address="UserPrincipalName" uses the other).']


@pytest.mark.parametrize("lines", [["", "", "action,email", "remove,a@acme.com", "remove,b@acme.com"],
                                   ["Leavers, November", "", "action,email", "remove,a@acme.com",
                                    "remove,b@acme.com"]])
def test_a_csv_with_blank_lines_or_a_title_above_the_header_is_read_with_excels_row_numbers(tmp_path, lines):
    (tmp_path / "w.csv").write_text("\n".join(lines) + "\n")
    table = read_table(tmp_path / "w.csv")
    assert dict(zip(table.numbers, table.column("email"))) == {4: "a@acme.com", 5: "b@acme.com"}


def test_a_formula_without_a_saved_value_is_named_in_the_rows_detail(bulkmail, tmp_path):
    workbook(tmp_path / "w.xlsx", {"Leavers": [["action", "email"], ["remove", '="bob"&"@acme.com"'],
                                               ["remove", "ann@acme.com"]]})
    result = bulkmail("validate", "w.xlsx", "--report", "r.csv")
    assert result.out.splitlines()[1] == ("1 cell holds a formula without a saved value (B2): it reads empty. "
                                          "Open the file in Excel and save it.")
    assert read_report(tmp_path / "r.csv")[0]["detail"] == (
        "email address is empty: cell B2 holds a formula without a saved value: open the file in Excel and save it, "
        "so that the value is stored")


def test_merged_address_cells_are_said_to_be_merged(bulkmail, tmp_path):
    path = workbook(tmp_path / "w.xlsx", {"Leavers": [["action", "email"], ["remove", "ann@acme.com"], ["remove"]]})
    book = openpyxl.load_workbook(path)
    book.active.merge_cells("B2:B3")
    book.save(path)
    result = bulkmail("validate", "w.xlsx", "--report", "r.csv")
    assert result.out.splitlines()[1] == ("Merged cells (B2:B3): a merged range's value is read in its first cell "
                                          "only; the others read empty.")
    assert read_report(tmp_path / "r.csv")[1]["detail"] == (
        "email address is empty: cell B3 is part of the merged cells B2:B3, whose value is in B2 only: unmerge them")


def test_a_utf32_csv_is_read_and_one_without_a_byte_order_mark_is_named(tmp_path):
    text = "action,email,name\nadd,a@acme.com,Zoë\n"
    (tmp_path / "u.csv").write_bytes(codecs.BOM_UTF32_LE + text.encode("utf-32-le"))
    assert read_table(tmp_path / "u.csv").column("name") == ["Zoë"]
    (tmp_path / "n.csv").write_bytes(text.encode("utf-32-le"))
    with pytest.raises(InputError, match=r"^n.csv looks like UTF-32 without a byte-order mark. Save it again as "
                                         r"'CSV UTF-8'.$"):
        read_table(tmp_path / "n.csv")


def test_an_unterminated_quote_names_the_row_excel_shows_and_the_column_where_it_opens(bulkmail, tmp_path):
    (tmp_path / "q.csv").write_text('Leavers\n\naction,email,note\nremove,a@acme.com,ok\nremove,b@acme.com,"oops\n'
                                    "remove,c@acme.com,x\n")
    result = bulkmail("validate", "q.csv")
    assert (result.code, result.err) == (2, 'Error: Cannot read q.csv: row 5 opens a quote (") in column \'note\' that '
                                            "is never closed. Close it or remove it in that row.\n")
    # after a cell that spans two lines (one row in Excel), in a semicolon file
    (tmp_path / "m.csv").write_text('action;email;note\nadd;a@acme.com;"two\nlines"\nadd;"b@acme.com;x\n')
    result = bulkmail("validate", "m.csv")
    assert (result.code, result.err) == (2, 'Error: Cannot read m.csv: row 3 opens a quote (") in column \'email\' that '
                                            "is never closed. Close it or remove it in that row.\n")


def test_a_workbook_calamine_cannot_read_is_unusable_input_naming_the_file(bulkmail, tmp_path):
    path = openpyxl.Workbook()
    path.active.append(["action", "email"])
    path.active.append(["add", "a@acme.com"])
    path.save(tmp_path / "w.xlsx")
    with zipfile.ZipFile(tmp_path / "w.xlsx") as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    # a cell pointing past the shared strings: what a broken writer leaves behind
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    parts["xl/worksheets/sheet1.xml"] = sheet.replace('<c r="B2" t="inlineStr"><is><t>a@acme.com</t></is></c>',
                                                      '<c r="B2" t="s"><v>99</v></c>').encode()
    assert parts["xl/worksheets/sheet1.xml"] != sheet.encode()
    with zipfile.ZipFile(tmp_path / "w.xlsx", "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    result = bulkmail("validate", "w.xlsx", "--report", "r.csv")
    assert (result.code, result.err) == (2, "Error: Cannot read w.xlsx: Cell string index not found in shared strings "
                                            "table. Open it in Excel and save it again as .xlsx.\n")


def test_control_characters_in_an_address_or_detail_are_printed_escaped_never_raw(bulkmail, tmp_path):
    (tmp_path / "esc.csv").write_text("email,action\n\x1b[31mred\x1b[0m@acme.com,remove\nbob\x08\x08\x08alice@acme.com,"
                                      "remove\n")
    result = bulkmail("validate", "esc.csv", "--report", "r.csv")
    assert result.code == 1
    assert result.out.splitlines()[3:5] == [
        "  row 2  \\x1b[31mred\\x1b[0m@acme.com  invalid  invalid email address '\\x1b[31mred\\x1b[0m@acme.com': The "
        "email address contains invalid characters before the @-sign: '[', U+001B.",
        "  row 3  bob\\x08\\x08\\x08alice@acme.com  invalid  invalid email address 'bob\\x08\\x08\\x08alice@acme.com': "
        "The email address contains invalid characters before the @-sign: U+0008."]
    assert "\x1b" not in result.out and "\x08" not in result.out
