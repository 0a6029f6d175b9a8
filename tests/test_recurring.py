"""Recurring work (issue 11): retrying what failed, undo files, diffs of exports."""

from __future__ import annotations

import json

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


def test_an_undo_file_reverts_a_run_to_the_exact_prior_set_and_flags(bulkmail, sandbox, tmp_path):
    sandbox.store.add("boss@acme.com", executive=1, realname="Big Boss")
    sandbox.store.add("clerk@acme.com", realname="Carla Clerk")
    sandbox.store.add("stays@acme.com")
    before = {m["email_address"]: (m["executive"], m["realname"]) for m in sandbox.store.mailboxes.values()}
    write_csv(tmp_path / "w.csv", ["action,email", "remove,boss@acme.com", "remove,clerk@acme.com", "add,new@acme.com"])
    result = bulkmail("import", "w.csv", "--yes", "--report", "r.xlsx")
    assert result.code == 0
    assert result.out.splitlines()[-2] == (
        "Undo: r-undo.csv (import it to revert this run; for the 2 removed mailboxes, aliases, groups, name "
        "variants and exec-tracking settings kept by the console outside this API (only the address, the executive "
        "flag and the name come back))")
    assert read_report(tmp_path / "r-undo.csv") == [
        {"action": "add", "email_address": "boss@acme.com", "executive": "yes", "realname": "Big Boss"},
        {"action": "add", "email_address": "clerk@acme.com", "executive": "no", "realname": "Carla Clerk"},
        {"action": "remove", "email_address": "new@acme.com", "executive": "", "realname": ""}]
    import openpyxl
    summary = dict(openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True))
    assert summary["undo file"].startswith("r-undo.csv, beside this report") and "aliases" in summary["cannot come back"]
    assert bulkmail("import", "r-undo.csv", "--yes").code == 0
    after = {m["email_address"]: (m["executive"], m["realname"]) for m in sandbox.store.mailboxes.values()}
    assert after == before


def test_a_dry_run_and_a_run_that_changed_nothing_write_no_undo_file(bulkmail, sandbox, tmp_path):
    sandbox.store.add("here@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email", "add,here@acme.com"])
    assert bulkmail("import", "w.csv", "--yes", "--report", "a.csv").code == 0
    assert bulkmail("import", "w.csv", "--dry-run", "--report", "b.csv").code == 0
    assert sorted(p.name for p in tmp_path.glob("*-undo.csv")) == []


def test_an_existing_undo_file_is_refused_before_anything_is_sent(bulkmail, sandbox, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    (tmp_path / "r-undo.csv").write_text("keep me")
    result = bulkmail("import", "w.csv", "--yes", "--report", "r.csv")
    assert (result.code, result.err) == (2, "Error: the undo file r-undo.csv exists already. Pass --force to replace "
                                            "it, or choose another name.\n")
    assert sandbox.store.addresses() == set()


def test_diff_of_two_monthly_exports_lists_appeared_disappeared_and_changed(bulkmail, sandbox, tmp_path):
    for n in range(5):
        sandbox.store.add(f"user{n}@acme.com", realname=f"User {n}")
    assert bulkmail("export", "-o", "october.xlsx").code == 0
    sandbox.store.remove(sandbox.store.find("user0@acme.com")["id"])
    sandbox.store.add("new@acme.com")
    changed = sandbox.store.find("user1@acme.com")["id"]
    sandbox.store.mailboxes[changed]["executive"] = 1  # flipped in the console
    assert bulkmail("export", "-o", "november.csv").code == 0
    result = bulkmail("diff", "october.xlsx", "november.csv", "-o", "d.csv")
    assert result.code == 0
    assert result.out.splitlines() == [
        "Compared sheet 'Mailboxes' of october.xlsx (5 mailboxes) with november.csv (5 mailboxes).",
        "Diff: appeared 1, disappeared 1, changed 1", "Report: d.csv"]
    lines = read_report(tmp_path / "d.csv")
    assert [(x["status"], x["email_address"], x["executive_old"], x["executive_new"]) for x in lines] == [
        ("appeared", "new@acme.com", "", "0"), ("disappeared", "user0@acme.com", "0", ""),
        ("changed", "user1@acme.com", "0", "1")]


def test_diff_against_live_as_an_import_turns_the_service_back(bulkmail, sandbox, tmp_path):
    sandbox.store.add("keep@acme.com")
    sandbox.store.add("gone@acme.com", executive=1, realname="Gone Soon")
    assert bulkmail("export", "-o", "before.csv").code == 0
    sandbox.store.remove(sandbox.store.find("gone@acme.com")["id"])
    sandbox.store.add("intruder@acme.com")
    result = bulkmail("diff", "before.csv", "live", "--as-import", "-o", "back.csv", "--json")
    assert json.loads(result.out)["counts"] == {"appeared": 1, "disappeared": 1, "changed": 0}
    assert read_report(tmp_path / "back.csv") == [
        {"action": "add", "email_address": "gone@acme.com", "executive": "yes", "realname": "Gone Soon"},
        {"action": "remove", "email_address": "intruder@acme.com", "executive": "", "realname": ""}]
    assert bulkmail("import", "back.csv", "--yes").code == 0
    assert sandbox.store.addresses() == {"keep@acme.com", "gone@acme.com"}
    assert sandbox.store.find("gone@acme.com")["executive"] == 1
