"""Outputs: a file is never lost — the input never written over, an existing file replaced only
when asked, every output checked before anything is sent, a fallback when the disk says no."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from helpers import POSTS, read_report, write_csv

from bulkmail.jobs.change import import_file


def test_template_over_an_existing_file_is_refused_and_the_file_kept(bulkmail, tmp_path):
    (tmp_path / "wave.xlsx").write_bytes(b"filled in by hand")
    result = bulkmail("template", "-o", "wave.xlsx")
    assert (result.code, result.err) == (2, "Error: -o wave.xlsx exists already. Pass --force to replace it, or "
                                            "choose another name.\n")
    assert (tmp_path / "wave.xlsx").read_bytes() == b"filled in by hand"
    assert bulkmail("template", "-o", "wave.xlsx", "--force").code == 0
    assert openpyxl.load_workbook(tmp_path / "wave.xlsx").sheetnames == ["Mailboxes", "Instructions"]


def test_an_existing_output_is_replaced_after_a_yes_in_a_terminal(bulkmail, tmp_path, monkeypatch):
    (tmp_path / "t.csv").write_text("old")
    result = bulkmail("template", "-o", "t.csv", stdin="y\n", tty=True)
    assert result.code == 0 and "t.csv exists already. Replace it? [y/N]: " in result.err
    assert (tmp_path / "t.csv").read_bytes() == "\ufeffaction,email_address,executive,realname\r\n".encode()


def test_a_report_path_equal_to_the_input_is_refused_even_with_force(bulkmail, tmp_path):
    wave = write_csv(tmp_path / "wave.csv", ["action,email", "add,a@acme.com"])
    before = wave.read_bytes()
    for extra in ([], ["--force"]):
        result = bulkmail("validate", "wave.csv", "--report", "./wave.csv", *extra)
        assert (result.code, result.err) == (2, "Error: --report wave.csv is the input file; bulkmail never writes "
                                                "over its input. Choose another name.\n")
    assert wave.read_bytes() == before


def test_an_existing_report_is_refused_before_anything_is_sent(bulkmail, sandbox, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    (tmp_path / "r.csv").write_text("last month's report")
    result = bulkmail("import", "w.csv", "--yes", "--report", "r.csv")
    assert (result.code, result.err) == (2, "Error: --report r.csv exists already. Pass --force to replace it, or "
                                            "choose another name.\n")
    assert sandbox.store.requests[("POST", "/auth")] == 0 and sandbox.store.addresses() == set()
    assert bulkmail("import", "w.csv", "--yes", "--report", "r.csv", "--force").code == 0
    assert read_report(tmp_path / "r.csv")[0]["status"] == "added"


@pytest.mark.parametrize("report,reason", [("somefile.csv/r.csv", "somefile.csv is a file, not a folder"),
                                           ("/proc/r.csv", "No such file or directory (/proc)")])
def test_a_report_that_cannot_be_written_stops_the_run_before_anything_is_sent(bulkmail, sandbox, tmp_path, report,
                                                                                 reason):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    (tmp_path / "somefile.csv").write_text("x")
    result = bulkmail("import", "w.csv", "--yes", "--report", report)
    assert (result.code, result.err) == (2, f"Error: Cannot write --report {report}: {reason}. Choose a file in a "
                                            "folder you can write to.\n")
    assert sandbox.store.addresses() == set() and sandbox.store.requests[POSTS] == 0


def test_a_report_failing_after_the_changes_goes_to_a_fallback_and_says_where(client, sandbox, tmp_path, capfd,
                                                                               user_folders):
    path = write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    result = import_file(client, path, report=Path("/proc/r.xlsx"))
    assert sandbox.store.addresses() == {"a@acme.com"}
    fallback = user_folders / "xdg_state_home" / "bulkmail" / "reports" / "r.xlsx"
    assert result.report == fallback and read_report(fallback)[0]["status"] == "added"
    assert result.warnings == [f"Could not write the report to /proc/r.xlsx (No such file or directory); it was "
                               f"written to {fallback} instead."]
    assert "Exception ignored" not in capfd.readouterr().err  # openpyxl's writers were closed


def test_a_folder_given_as_input_is_called_a_folder(bulkmail, tmp_path):
    (tmp_path / "inbox").mkdir()
    result = bulkmail("validate", "inbox")
    assert (result.code, result.err) == (2, "Error: inbox is a folder, not a file. Give the path of a .csv or .xlsx "
                                            "file in it.\n")
