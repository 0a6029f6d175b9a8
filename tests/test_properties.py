"""Properties over generated text: what is written comes back, and no cell becomes a formula."""

from __future__ import annotations

import csv

import openpyxl
from hypothesis import HealthCheck, given, settings, strategies as st

from bulkmail.jobs.change import check_file
from bulkmail.files.cells import unmark
from bulkmail.files.cells import BLANKS, FORMULA_START
from bulkmail.files.writing import neutralise, write_table
from bulkmail.files.xlsx import SPECIAL

# Any text a cell can hold (XML cannot carry most control characters; CSV cannot carry NUL).
cell_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)
quick = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(cell_text)
def test_neutralised_text_never_starts_a_formula_and_loses_nothing(text):
    safe = neutralise(text)
    # Blanks alone (a lone tab or CR) are no formula: they read back as an empty cell.
    assert not safe.startswith(FORMULA_START) or not text.strip(BLANKS)
    assert safe == text or safe == "'" + text


@quick
@given(st.lists(cell_text, min_size=1, max_size=5))
def test_csv_cells_read_back_as_written_apart_from_the_apostrophe(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    write_table(path, ["value"], [{"value": v} for v in values])
    with open(path, encoding="utf-8-sig", newline="") as handle:
        back = [row["value"] for row in csv.DictReader(handle)]
    assert back == [neutralise(v) for v in values]


@quick
@given(st.lists(cell_text, min_size=1, max_size=5))
def test_xlsx_cells_are_text_and_read_back_as_written(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("xlsx") / "t.xlsx"
    write_table(path, ["value"], [{"value": v} for v in values])
    sheet = openpyxl.load_workbook(path).active
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    for cell, value in zip(cells, values):
        if value:
            assert cell.data_type == "s"
            if not SPECIAL.search(value):  # else Excel's _xHHHH_ escapes, which openpyxl leaves as they are
                assert cell.value == value
    assert len(cells) == len(values)


@quick
@given(st.lists(cell_text, min_size=1, max_size=8))
def test_report_carries_every_row_once_with_its_own_cells(tmp_path_factory, notes):
    folder = tmp_path_factory.mktemp("report")
    source = folder / "in.csv"
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["action", "email", "note"])
        for n, note in enumerate(notes):
            writer.writerow(["add", f"user{n}@acme.com", note])
    result = check_file(source, report=folder / "out.csv")
    with open(result.report, encoding="utf-8-sig", newline="") as handle:
        back = list(csv.DictReader(handle))
    assert [line["email_address"] for line in back] == [f"user{n}@acme.com" for n in range(len(notes))]
    as_read = [n.strip(BLANKS) if unmark(n) is None else unmark(n) for n in notes]  # a marked cell loses its mark
    assert [line["note"] for line in back] == [neutralise(n) for n in as_read]
    assert [int(line["row"]) for line in back] == [r.row for r in result.rows]
