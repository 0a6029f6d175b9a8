"""Tables written a chunk at a time from lines in column order (the report, the undo file and
the export are CPU-bound): the same files as before, every cell that needs it marked."""

from __future__ import annotations

import csv

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bulkmail.files.report import write_report
from bulkmail.files.writing import neutralise, write_table
from bulkmail.jobs.change import load
from bulkmail.jobs.export import export_mailboxes
from bulkmail.records import Status

COLUMNS = ["n", "name", "status"]


def read_csv(path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def read_xlsx(path) -> list[list]:
    return [list(row) for row in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_rows_given_as_lists_or_tuples_write_the_same_file_as_dicts(tmp_path, suffix):
    values = [(1, "Anna", Status.ADDED), (2, "=1+1", Status.FAILED), (3, " ", "")]
    write_table(tmp_path / f"dicts.{suffix}", COLUMNS, [dict(zip(COLUMNS, v)) for v in values])
    write_table(tmp_path / f"lines.{suffix}", COLUMNS, [list(values[0]), values[1], values[2]])
    read = read_csv if suffix == "csv" else read_xlsx
    assert read(tmp_path / f"lines.{suffix}") == read(tmp_path / f"dicts.{suffix}")
    assert read(tmp_path / f"lines.{suffix}")[2][1] == ("'=1+1" if suffix == "csv" else "=1+1")


def test_a_cell_that_needs_the_mark_is_marked_wherever_it_falls_among_numbers_and_text(tmp_path):
    # a column of numbers, plain text and blanks, with cells that need the mark past the first
    # thousand rows and at the last one: each column is looked at a chunk at a time
    names = [n if n % 3 else f"name {n}" for n in range(2500)]
    names[1500], names[1999], names[2000], names[2499] = "=HYPERLINK(1)", "trailing ", "'-quoted", "@x"
    names[7] = " "  # blanks only: no mark (read back as an empty cell)
    rows = [(n, name, Status.KEPT) for n, name in enumerate(names)]
    write_table(tmp_path / "t.csv", COLUMNS, iter(rows))
    back = read_csv(tmp_path / "t.csv")
    assert back[0] == COLUMNS and len(back) == 2501
    assert [line[1] for line in back[1:]] == [str(neutralise(name)) for name in names]
    assert [back[1 + n][1] for n in (1500, 1999, 2000, 2499, 7)] == ["'=HYPERLINK(1)", "'trailing ", "''-quoted", "'@x",
                                                                     " "]
    assert {line[2] for line in back[1:]} == {"kept"}


cell = st.one_of(st.integers(), st.none(), st.text(st.characters(blacklist_categories=["Cs"],
                                                                blacklist_characters="\x00"), max_size=12))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(cell, cell), min_size=1, max_size=8))
def test_any_mix_of_numbers_and_text_reads_back_as_each_cell_neutralised(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    write_table(path, ["a", "b"], rows)
    expected = [["" if v is None else str(neutralise(v)) for v in row] for row in rows]
    assert read_csv(path)[1:] == expected


def test_marking_a_cell_leaves_the_callers_rows_as_they_were(tmp_path):
    rows = [["1", "-5 apples", "x"], ("2", "+7", "y")]
    write_table(tmp_path / "t.csv", COLUMNS, rows)
    assert rows == [["1", "-5 apples", "x"], ("2", "+7", "y")]
    assert read_csv(tmp_path / "t.csv")[1:] == [["1", "'-5 apples", "x"], ["2", "'+7", "y"]]


def test_an_export_of_mailboxes_lacking_a_column_writes_those_cells_empty(client, sandbox, tmp_path):
    first = sandbox.store.add("a@acme.com", realname="Anna")
    second = sandbox.store.add("b@acme.com", realname="=cmd")
    sandbox.store.mailboxes[first["id"]]["department"] = "-Sales"  # a column only the first page tells
    del sandbox.store.mailboxes[second["id"]]["is_ad_mailbox"]
    back = read_csv(export_mailboxes(client, tmp_path / "all.csv").path)
    assert back[0][-2:] == ["is_ad_mailbox", "department"]
    assert [line[-3:] for line in back[1:]] == [["Anna", "0", "'-Sales"], ["'=cmd", "", ""]]


def test_a_large_report_tells_its_progress_in_steps_and_to_the_last_row(tmp_path):
    path = tmp_path / "wave.csv"
    path.write_text("action,email_address,note\n" + "".join(f"add,u{n}@acme.com,=n{n}\n" for n in range(2500)))
    sheet, rows = load(path)
    told = []
    write_report(tmp_path / "r.csv", sheet, rows, watch=told.append)
    steps = [p.done for p in told if p.stage == "Writing the report"]
    assert steps[-1] == 2500 and told[-1].finished
    assert len(steps) <= 10  # not one per row: telling progress cost more than writing the row
    back = read_csv(tmp_path / "r.csv")
    assert len(back) == 2501 and back[0][-1] == "note" and back[2][-1] == "'=n1"
