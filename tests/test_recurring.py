"""Recurring work (issue 11): retrying what failed, undo files, diffs of exports."""

from __future__ import annotations

from helpers import read_report, write_csv


def test_a_report_imports_again_with_only_its_failed_rows_and_their_first_row_numbers(bulkmail, sandbox, tmp_path):
    sandbox.store.add("someone@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email,Department", "add,a@acme.com,IT", "add,guest@partner.org,Sales",
                                   "add,b@acme.com,HR"])
    assert bulkmail("import", "w.csv", "--yes", "--report", "first.csv").code == 1
    sandbox.configure(domains=("acme.com", "acme.co.uk", "partner.org"))  # the domain got registered
    again = bulkmail("import", "first.csv", "--only", "failed,not_attempted", "--yes", "--report", "second.csv")
    assert again.code == 0, again.err
    [line] = read_report(tmp_path / "second.csv")
    assert (line["row"], line["email_address"], line["status"], line["Department"]) == ("3", "guest@partner.org",
                                                                                         "added", "Sales")
    assert not [column for column in line if column.endswith("(input)")]  # the report's own columns are not carried


def test_only_needs_a_results_report(bulkmail, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    result = bulkmail("validate", "w.csv", "--only", "failed")
    assert (result.code, result.err) == (2, "Error: --only keeps rows of a results report by their status, and w.csv "
                                            "is not one (it has no row, action, email_address, status, detail "
                                            "columns). Leave --only out.\n")
    assert bulkmail("validate", "w.csv", "--only", "broken").err.endswith(
        "Error: Invalid value for '--only': broken is no status; use some of: added, removed, already_present, "
        "not_found, would_add, would_remove, duplicate, invalid, failed, not_attempted, valid.\n")
