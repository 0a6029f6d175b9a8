"""Never destroy a file: output paths are judged by their real target, and workbooks that would
materialise absurd amounts of text are refused before anything builds the table."""

from __future__ import annotations

import os

from helpers import write_csv


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
