"""Never destroy a file: output paths are judged by their real target, and workbooks that would
materialise absurd amounts of text, or absurd grids of cells, are refused before anything builds
the table."""

from __future__ import annotations

import os
import zipfile

import openpyxl
import pytest

from bulkmail.files import workbook
from bulkmail.errors import InputError
from bulkmail.files.reading import read_table
from helpers import write_csv, write_ods


# -- the output rule sees the real target ------------------------------------------------------


def test_a_report_path_through_a_missing_folder_that_is_the_input_is_refused(bulkmail, tmp_path):
    source = write_csv(tmp_path / "in.csv", ["action,email", "add,a@acme.com"])
    before = source.read_bytes()
    result = bulkmail("validate", "in.csv", "--report", "nope/../in.csv")
    assert (result.code, result.err) == (2, "Error: --report nope/../in.csv is the input file; bulkmail never "
                                            "writes over its input. Choose another name.\n")
    assert source.read_bytes() == before
    assert not (tmp_path / "nope").exists()  # a refused run leaves no folder behind


def test_an_export_through_a_missing_folder_does_not_replace_an_existing_file(bulkmail, sandbox, tmp_path):
    precious = tmp_path / "precious.csv"
    precious.write_text("last year's inventory")
    result = bulkmail("export", "-o", "nope/../precious.csv")
    assert (result.code, result.err) == (2, "Error: --output nope/../precious.csv exists already. Pass --force to "
                                            "replace it, or choose another name.\n")
    assert precious.read_text() == "last year's inventory"
    assert bulkmail("export", "-q", "-o", "nope/../precious.csv", "--force").code == 0
    assert precious.read_text(encoding="utf-8-sig").startswith("id,email_address_id,email_address")


def test_a_report_through_a_symbolic_link_to_the_input_folder_is_refused(bulkmail, tmp_path):
    (tmp_path / "hr").mkdir()
    source = write_csv(tmp_path / "hr" / "in.csv", ["action,email", "add,a@acme.com"])
    os.symlink(tmp_path / "hr", tmp_path / "link")
    result = bulkmail("validate", "hr/in.csv", "--report", "link/sub/../in.csv")
    assert result.code == 2 and "is the input file" in result.err
    assert source.read_text() == "action,email\nadd,a@acme.com\n"


# -- a workbook may not materialise absurd amounts of text ---------------------------------------


def _shared_string_bomb(path, cells: int):
    """Rows whose note cell shows one shared string of 32,000 characters: small on disk, huge
    once each cell holds its own copy. The file is written part by part as Excel lays it out."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    rows = "".join(f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>add</t></is></c><c r="B{n}" t="inlineStr"><is>'
                   f'<t>u{n}@acme.com</t></is></c><c r="C{n}" t="s"><v>0</v></c></row>' for n in range(2, cells + 2))
    header = ('<row r="1"><c r="A1" t="inlineStr"><is><t>action</t></is></c><c r="B1" t="inlineStr"><is><t>email</t>'
              '</is></c><c r="C1" t="inlineStr"><is><t>note</t></is></c></row>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", f'<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                         f'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                         f'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override '
                         f'PartName="/xl/workbook.xml" ContentType="{kind}.sheet.main+xml"/><Override PartName="/xl/'
                         f'worksheets/sheet1.xml" ContentType="{kind}.worksheet+xml"/><Override PartName="/xl/'
                         f'sharedStrings.xml" ContentType="{kind}.sharedStrings+xml"/></Types>')
        archive.writestr("_rels/.rels", f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
                         f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets><sheet name="Sheet" '
                         'sheetId="1" r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
                         f'Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
                         f'Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
        archive.writestr("xl/sharedStrings.xml", f'<sst xmlns="{main}"><si><t>{"x" * 32_000}</t></si></sst>')
        archive.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{main}"><sheetData>{header}{rows}'
                         "</sheetData></worksheet>")
    return path


def test_a_shared_string_bomb_is_refused_before_the_table_is_built(bulkmail, tmp_path):
    path = _shared_string_bomb(tmp_path / "bomb.xlsx", 3_200)  # 102 million characters once expanded
    assert path.stat().st_size < 200_000
    result = bulkmail("validate", "bomb.xlsx", "--report", "r.csv")
    assert (result.code, result.err) == (2, "Error: Refusing bomb.xlsx: sheet 'Sheet' would expand to more than "
                                            "100,000,000 characters of text (its cells repeat the same long text), "
                                            "which no real mailbox list needs.\n")
    assert not (tmp_path / "r.csv").exists()


def test_the_text_budget_counts_every_cell_that_shows_a_shared_string(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "MAX_TEXT", 100_000)  # the same rule at a testable size
    path = _shared_string_bomb(tmp_path / "b.xlsx", 3)
    assert len(read_table(path)) == 3  # 96,000 characters: within
    path = _shared_string_bomb(tmp_path / "c.xlsx", 4)
    with pytest.raises(InputError, match=r"^Refusing c.xlsx: sheet 'Sheet' would expand to more than 100,000 "):
        read_table(path)


def test_a_sheet_of_too_many_cells_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "MAX_CELLS", 50)
    book = openpyxl.Workbook()
    for n in range(20):
        book.active.append(["add", f"u{n}@acme.com", "x"])
    book.save(tmp_path / "many.xlsx")
    with pytest.raises(InputError, match=r"^Refusing many.xlsx: sheet 'Sheet' would expand to more than 50 cells"):
        read_table(tmp_path / "many.xlsx")


# -- nor a grid stretched by far-away cells -----------------------------------------------------

ACTIONS = [["action", "email"], ["add", "a@acme.com"], ["add", "b@acme.com"]]


def _with_cells(path, cells: dict[str, object]):
    book = openpyxl.Workbook()
    for row in ACTIONS:
        book.active.append(row)
    for reference, value in cells.items():
        book.active[reference] = value
        book.active[reference].font = openpyxl.styles.Font(bold=True)
    book.save(path)
    return path


def test_the_grid_budget_counts_every_cell_from_a1_to_the_farthest_value(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "MAX_CELLS", 50)  # the same rule at a testable size
    assert len(read_table(_with_cells(tmp_path / "in.xlsx", {"E10": "x"}))) == 3  # 10 rows by 5 columns
    with pytest.raises(InputError, match=r"^Refusing out.xlsx: sheet 'Sheet' would expand to more than 50 cells \(its "
                                         r"cells reach row 11 and column E: a grid of 55 cells, nearly all empty\)"):
        read_table(_with_cells(tmp_path / "out.xlsx", {"E11": "x"}))
    # a cell that is only formatted holds nothing: the values reader builds no grid to it
    assert len(read_table(_with_cells(tmp_path / "styled.xlsx", {"CV900000": None}))) == 2


def test_cells_and_rows_without_a_reference_count_where_they_land(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "MAX_CELLS", 50)
    path = _shared_string_bomb(tmp_path / "plain.xlsx", 1)
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    unnamed = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 20  # rows 3 to 22 of column A
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(b"</sheetData>",
                                                                                 unnamed + b"</sheetData>")
    parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(b"x" * 32_000, b"note")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(InputError, match=r"^Refusing plain.xlsx: sheet 'Sheet' would expand to more than 50 cells"):
        read_table(path)


REPEATED = ('<table:table-row table:number-rows-repeated="{rows}"><table:table-cell office:value-type="string">'
            '<text:p>x@acme.com</text:p></table:table-cell><table:table-cell office:value-type="string" '
            'table:number-columns-repeated="{columns}"><text:p>add</text:p></table:table-cell></table:table-row>')


@pytest.mark.parametrize("name,sheet,reach", [
    ("far.xlsx", "Sheet", "row 900,000 and column CV: a grid of 90,000,000 cells"),  # one value at CV900000
    ("rep.ods", "Leavers", "row 2,000,001 and column K: a grid of 22,000,011 cells"),  # rows and cells repeated
])
def test_a_workbook_stretched_past_the_budget_is_refused_before_the_grid_is_built(bulkmail, tmp_path, name, sheet,
                                                                                   reach):
    if name == "far.xlsx":
        _with_cells(tmp_path / name, {"CV900000": "x"})
    else:
        write_ods(tmp_path / name, [["email", "action"]], REPEATED.format(rows=2_000_000, columns=10))
    assert (tmp_path / name).stat().st_size < 10_000
    result = bulkmail("validate", name, "--report", "r.csv")
    assert (result.code, result.err) == (
        2, f"Error: Refusing {name}: sheet '{sheet}' would expand to more than 20,000,000 cells (its cells reach "
           f"{reach}, nearly all empty), which no real mailbox list needs. Delete what lies beyond the table (Ctrl+End "
           "goes to the last cell in use), or copy the table into a new file.\n")
    assert not (tmp_path / "r.csv").exists()


def test_the_ods_budget_counts_repeats_up_to_the_last_value_only(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "MAX_CELLS", 50)
    with pytest.raises(InputError, match=r"^Refusing many.ods: sheet 'Leavers' would expand to more than 50 cells"):
        read_table(write_ods(tmp_path / "many.ods", [["email", "action"]], REPEATED.format(rows=30, columns=1)))
    monkeypatch.setattr(workbook, "MAX_TEXT", 1_000)  # a run of spaces is spelt out too
    spaces = ('<table:table-row table:number-rows-repeated="2"><table:table-cell office:value-type="string"><text:p>'
              'x<text:s text:c="500"/>y</text:p></table:table-cell></table:table-row>')
    with pytest.raises(InputError, match=r"^Refusing s.ods: sheet 'Leavers' would expand to more than 1,000 characters "
                                         r"of text \(its cells repeat the same long text\)"):
        read_table(write_ods(tmp_path / "s.ods", [["email", "action"]], spaces))
    # LibreOffice ends a sheet with its empty rows and cells repeated to the end: nothing to build
    empty = ('<table:table-row table:number-rows-repeated="1048574"><table:table-cell '
             'table:number-columns-repeated="1024"/></table:table-row>')
    table = read_table(write_ods(tmp_path / "fine.ods", ACTIONS, empty))
    assert table.column("email") == ["a@acme.com", "b@acme.com"]


def test_an_ods_whose_content_expat_refuses_is_not_read_unchecked(tmp_path):
    path = write_ods(tmp_path / "dtd.ods", ACTIONS)
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["content.xml"] = parts["content.xml"].replace(b"?><", b'?><!DOCTYPE x [<!ENTITY a "aaaa">]><', 1)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(InputError, match=r"^Cannot read dtd.ods: its content is not well-formed XML \(a DTD in "
                                         r"content.xml\). Open it in LibreOffice and save it again.$"):
        read_table(path)
