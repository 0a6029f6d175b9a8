"""More input formats: ODS, standard input in and out."""

from __future__ import annotations

from pathlib import Path

from helpers import read_report, write_ods


def test_an_ods_file_is_read_like_xlsx_and_reported_as_xlsx(bulkmail, tmp_path):
    write_ods(tmp_path / "leavers.ods", [["Action", "Email"], ["remove", "a@acme.com"], ["add", "b@acme.com"]])
    result = bulkmail("validate", "leavers.ods")
    assert result.out.splitlines()[0] == "Read 2 rows from sheet 'Leavers' of leavers.ods."
    report = Path(result.out.splitlines()[-1].removeprefix("Report: "))
    assert report.suffix == ".xlsx" and [r["status"] for r in read_report(tmp_path / report)] == ["valid", "valid"]


def test_validate_reads_csv_from_standard_input(bulkmail, tmp_path, monkeypatch):
    result = bulkmail("validate", "-", stdin="action,email\nadd,a@acme.com\nadd,nope\n")
    assert result.code == 1
    assert result.out.splitlines()[:2] == ["Read 2 rows from standard input.", "Results: invalid 1, valid 1"]
    assert result.out.splitlines()[-1].startswith("Report: reports/stdin-")


def test_import_reads_csv_from_standard_input_and_refuses_resume_there(bulkmail, sandbox, monkeypatch):
    result = bulkmail("import", "-", "--yes", stdin="action,email\nadd,piped@acme.com\n")
    assert result.code == 0, result.err
    assert sandbox.store.addresses() == {"piped@acme.com"}
    assert result.out.splitlines()[-1].startswith("Report: reports/stdin-")
    resumed = bulkmail("import", "-", "--yes", "--resume", stdin="action,email\nadd,piped@acme.com\n")
    assert (resumed.code, resumed.err) == (2, "Error: --resume needs the input file again; standard input cannot be "
                                              "read twice. Save the input to a file and import that.\n")


def test_export_to_standard_output_writes_csv_there_and_the_summary_to_stderr(bulkmail, sandbox):
    sandbox.store.add("only@acme.com")
    result = bulkmail("export", "-o", "-")
    assert result.code == 0
    assert result.out.splitlines()[0] == "id,email_address_id,email_address,executive,realname,is_ad_mailbox"
    assert "only@acme.com" in result.out.splitlines()[1]
    assert result.err.startswith("Exported 1 mailbox (1 page, ") and result.err.endswith("s) to standard output\n")
