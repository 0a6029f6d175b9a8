"""Rows to look at: not_found with a "did you mean", no-ops coloured, --strict, the first rows on
the terminal."""

from __future__ import annotations

import pytest
from helpers import read_report, status_colours, write_csv

from bulkmail.jobs.change import import_file
from bulkmail.jobs.options import ImportOptions


@pytest.mark.parametrize("extra", [0, 300])  # a few searches, or one walk of the account
def test_not_found_suggests_the_closest_live_address(client, sandbox, tmp_path, extra):
    sandbox.store.seed(extra, sandbox.settings.domains)
    sandbox.store.add("nobody.hear@acme.com")
    lines = ["action,email", "remove,nobody.haer@acme.com"] + [f"remove,x{n}@acme.com" for n in range(extra // 50)]
    lines.append("remove,nobody.hear@acme.co")  # a typo in the domain
    result = import_file(client, write_csv(tmp_path / "w.csv", lines), ImportOptions(dry_run=True),
                         report=tmp_path / "r.csv")
    assert result.rows[0].detail == "no such mailbox; nothing sent; did you mean nobody.hear@acme.com?"
    assert result.rows[-1].detail == "no such mailbox; nothing sent; did you mean nobody.hear@acme.com?"


def test_no_ops_have_colours_of_their_own_and_strict_makes_them_exit_1(bulkmail, sandbox, tmp_path):
    sandbox.store.add("here@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email", "add,here@acme.com", "remove,gone@acme.com", "add,new@acme.com"])
    assert bulkmail("import", "w.csv", "--yes", "--report", "r.xlsx").code == 0
    colours = status_colours(tmp_path / "r.xlsx")
    assert [line["status"] for line in read_report(tmp_path / "r.xlsx")] == ["already_present", "not_found", "added"]
    assert len({colours["added"], colours["already_present"], colours["not_found"]}) == 3  # each looks different
    write_csv(tmp_path / "w2.csv", ["action,email", "remove,gone@acme.com"])
    assert bulkmail("import", "w2.csv", "--yes", "--strict").code == 1


def test_the_terminal_lists_the_first_ten_problem_rows_then_points_to_the_report(bulkmail, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email"] + [f"add,bad{n}" for n in range(12)] + ["add,ok@acme.com"])
    result = bulkmail("validate", "w.csv")
    lines = result.out.splitlines()
    assert lines[1:3] == ["Results: invalid 12, valid 1", "Rows to look at:"]
    assert lines[3] == ("  row 2  bad0  invalid  invalid email address 'bad0': An email address must have an "
                        "@-sign.")
    assert lines[13] == "  and 2 more — see the report"
    assert lines[14].startswith("Report: reports/w-") and lines[14].endswith("-validation.csv")
