"""Imports against the sandbox over real HTTP: every status, bisection, conflicts, faults, CLI."""

from __future__ import annotations

import csv

import openpyxl
import pytest

from bulkmail.api.client import Client
from bulkmail.errors import ExitStatus
from bulkmail.jobs.change import import_file, load, run_change
from bulkmail.jobs.options import ImportOptions
from bulkmail.jobs.planning import make_plan
from bulkmail.jobs.verify import verify
from bulkmail.api.retry import Retry
from bulkmail.sandbox import Fault
from bulkmail.jobs.send import LOST_ANSWER, Sender
from corpus import CORPUS, EXISTING
from helpers import DELETES, POSTS, SAMPLES, read_report, status_colours, write_csv

@pytest.fixture
def demo_state(sandbox):
    sandbox.store.seed(250, sandbox.settings.domains)
    return sandbox


def test_every_error_sample_ends_with_the_expected_status_per_row(client, demo_state, tmp_path):
    before = demo_state.store.addresses()
    result = import_file(client, SAMPLES / "every-error.xlsx", report=tmp_path / "r.xlsx")
    lines = read_report(result.report)
    assert [line["status"] for line in lines] == [line["expected"] for line in lines]
    assert [int(line["row"]) for line in lines] == [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]  # row 8 blank
    assert result.exit_status == ExitStatus.ROWS_FAILED
    removed = {line["email_address"].lower() for line in lines if line["status"] == "removed"}
    added = {line["email_address"].lower() for line in lines if line["status"] == "added"}
    assert demo_state.store.addresses() == (before - removed) | added
    failed = next(line for line in lines if line["status"] == "failed")
    assert failed["detail"] == "400 Bad Request for POST /email/mailbox: Domain not registered for this account: partner.org"
    assert failed["http_status"] == "400"


def test_dry_run_changes_nothing_and_reports_would_statuses(client, demo_state, tmp_path):
    before = demo_state.store.addresses()
    result = import_file(client, SAMPLES / "every-error.xlsx", ImportOptions(dry_run=True), report=tmp_path / "r.csv")
    statuses = [line["status"] for line in read_report(result.report)]
    assert statuses.count("would_add") == 3 and statuses.count("would_remove") == 1
    assert demo_state.store.addresses() == before
    assert demo_state.store.requests[POSTS] == demo_state.store.requests[DELETES] == 0


def test_one_foreign_domain_row_in_a_batch_of_100_fails_alone(client, sandbox, tmp_path):
    lines = ["action,email"] + [f"add,user{n}@acme.com" for n in range(100)]
    lines[43] = "add,guest@partner.org"
    result = import_file(client, write_csv(tmp_path / "wave.csv", lines), report=tmp_path / "r.csv")
    tally = result.counts
    assert (tally["added"], tally["failed"]) == (99, 1)
    assert [r.row for r in result.rows if r.status == "failed"] == [44]
    assert len(sandbox.store.addresses()) == 99
    assert sandbox.store.requests[POSTS] <= 15  # halves down to the one row: about 2·log2(100)


@pytest.mark.parametrize("settings", [{"duplicate_add": "conflict"}, {"duplicate_add": "ignore"}], indirect=True)
def test_mailbox_added_by_someone_else_after_the_plan_is_already_present(client, sandbox, tmp_path):
    table, rows = load(write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com", "add,b@acme.com"]))
    plan = make_plan(client, rows)
    sandbox.store.add("B@acme.com")  # a colleague was quicker
    Sender(client).send(plan)
    verify(client, rows)
    assert [(r.email_address, r.status) for r in rows] == [("a@acme.com", "added"), ("b@acme.com", "already_present"
                                                             if sandbox.settings.duplicate_add == "conflict" else "added")]
    assert sandbox.store.addresses() == {"a@acme.com", "b@acme.com"}


@pytest.mark.parametrize("settings", [{"missing_remove": "not_found"}, {"missing_remove": "ignore"}], indirect=True)
def test_mailbox_removed_by_someone_else_after_the_plan_ends_well(client, sandbox, tmp_path):
    for address in ("a@acme.com", "b@acme.com"):
        sandbox.store.add(address)
    table, rows = load(write_csv(tmp_path / "l.csv", ["action,email", "remove,a@acme.com", "remove,b@acme.com"]))
    plan = make_plan(client, rows)
    sandbox.store.remove(sandbox.store.find("b@acme.com")["id"])
    Sender(client).send(plan)
    verify(client, rows)
    assert [r.status for r in rows] == ["removed", "not_found" if sandbox.settings.missing_remove == "not_found"
                                        else "removed"]
    assert sandbox.store.addresses() == set()


def test_substring_search_results_are_matched_exactly(client, sandbox, tmp_path):
    sandbox.store.add("jimbob@acme.com")
    table, rows = load(write_csv(tmp_path / "t.csv", ["action,email", "remove,bob@acme.com", "add,BOB@acme.com "]),)
    assert rows[0].status == "invalid"  # add and remove of one address
    table, rows = load(write_csv(tmp_path / "u.csv", ["action,email", "remove,bob@acme.com"]))
    result = run_change(client, table, rows, report=tmp_path / "r.csv")
    assert result.rows[0].status == "not_found"
    assert sandbox.store.addresses() == {"jimbob@acme.com"}


@pytest.mark.parametrize("settings", [{"max_batch": 10}], indirect=True)
def test_413_halves_the_batch_size_for_the_rest_of_the_run(client, sandbox, tmp_path):
    lines = ["action,email"] + [f"add,u{n}@acme.com" for n in range(70)]
    table, rows = load(write_csv(tmp_path / "w.csv", lines))
    plan = make_plan(client, rows)
    sender = Sender(client, batch_size=64, concurrency=2)
    sender.send(plan)
    verify(client, rows)
    assert sender.batch_size <= 10 and {r.status for r in rows} == {"added"}
    assert len(sandbox.store.addresses()) == 70


def test_lost_answer_is_settled_by_re_reading_not_by_resending(client, sandbox, tmp_path):
    sandbox.store.add("already@acme.com")  # a domain in use: both rows go in one batch, no canary first
    sandbox.script(Fault(lost=True, method="POST", path="/email/mailbox"))
    result = import_file(client, write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com", "add,b@acme.com"]),
                         report=tmp_path / "r.csv")
    assert [(r.status, r.detail) for r in result.rows] == [("added", LOST_ANSWER)] * 2
    assert sandbox.store.requests[POSTS] == 1


def test_5xx_on_a_change_is_re_read_then_only_the_missing_rows_are_sent_again(client, sandbox, sleeps, tmp_path):
    sandbox.store.add("gone@acme.com")
    sandbox.script(Fault(503, method="DELETE"))
    result = import_file(client, write_csv(tmp_path / "l.csv", ["action,email", "remove,gone@acme.com"]),
                         report=tmp_path / "r.csv")
    assert [(r.status, r.attempts) for r in result.rows] == [("removed", 2)]
    assert sandbox.store.requests[DELETES] == 2 and len(sleeps) == 1


def test_persistent_5xx_on_changes_stops_the_run_with_exit_4(sandbox, sleeps, tmp_path):
    sandbox.script(*[Fault(503, method="POST", path="/email/mailbox")] * 10)
    lines = ["action,email"] + [f"add,u{n}@acme.com" for n in range(5)]
    client = Client(sandbox.url, "admin@acme.com", "sandbox-demo", concurrency=1, retry=Retry(sleep=sleeps))
    result = import_file(client, write_csv(tmp_path / "w.csv", lines), ImportOptions(batch_size=2),
                         report=tmp_path / "r.csv")
    assert result.exit_status == ExitStatus.UNREACHABLE
    assert [r.status for r in result.rows] == ["failed", "failed", "not_attempted", "not_attempted", "not_attempted"]
    assert result.rows[0].detail.startswith("gave up after 6 attempts: 503 Service Unavailable for POST /email/mailbox")
    assert sandbox.store.addresses() == set()


def test_a_token_refused_after_every_renewal_stops_with_exit_3_and_a_report(client, sandbox, tmp_path):
    # One 401 more than the retry budget: each renewal's fresh token refused again.
    sandbox.script(*[Fault(401, method="POST", path="/email/mailbox")] * (client.retry.attempts + 1))
    result = import_file(client, write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"]),
                         report=tmp_path / "r.csv")
    assert result.exit_status == ExitStatus.AUTH
    assert [line["status"] for line in read_report(tmp_path / "r.csv")] == ["not_attempted"]


def test_expired_token_during_the_run_is_renewed_and_the_run_completes(client, sandbox, tmp_path):
    table, rows = load(write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"]))
    plan = make_plan(client, rows)
    sandbox.store.expire_tokens()
    Sender(client).send(plan)
    verify(client, rows)
    assert rows[0].status == "added" and sandbox.store.requests[("POST", "/auth")] == 2


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_file_imports_with_the_expected_outcome_per_row(bulkmail, sandbox, tmp_path, name):
    write, options, expected = CORPUS[name]
    for address in EXISTING:
        sandbox.store.add(address)
    path = write(tmp_path)
    result = bulkmail("import", path, "--yes", "-q", "--report", "report.csv", *options)
    assert {int(line["row"]): line["status"] for line in read_report(tmp_path / "report.csv")} == expected
    assert result.code == 0, result.err
    assert "jimbob@acme.com" in sandbox.store.addresses()


def test_report_has_the_contract_columns_then_the_inputs_own(bulkmail, sandbox, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email,Department,status", "add,a@acme.com,=SUM(A1),x"])
    assert bulkmail("import", "w.csv", "--yes", "--report", "r.csv").code == 0
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as handle:
        header, line = list(csv.reader(handle))
    assert header == ["row", "action", "email_address", "status", "detail", "mailbox_id", "email_address_id", "batch",
                      "http_status", "attempts", "Department", "status (input)"]
    assert line[:4] == ["2", "add", "a@acme.com", "added"] and line[10:] == ["'=SUM(A1)", "x"]


def test_xlsx_report_has_summary_sheet_filter_and_coloured_statuses(bulkmail, demo_state, tmp_path):
    bulkmail("import", SAMPLES / "every-error.xlsx", "--yes", "--report", "r.xlsx")
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    results, summary = book["Results"], book["Summary"]
    assert results.freeze_panes == "A2" and results.auto_filter.ref == "A1:M14"
    assert results["D2"].value == "added" and results["A1"].font.b
    colours = status_colours(tmp_path / "r.xlsx")
    assert colours["added"] == "C6EFCE" and colours["failed"] == "FFC7CE"
    assert [cf.sqref for cf in results.conditional_formatting] == ["D2:D14"]  # colours follow edits of the column
    assert dict(summary.iter_rows(values_only=True))["failed"] == 1


def test_cli_import_without_yes_outside_a_terminal_stops_before_sending(bulkmail, sandbox, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    result = bulkmail("import", "w.csv")
    assert result.code == 2
    assert result.err == (f"Error: This run would add 1 and remove 0 mailboxes in account {sandbox.settings.account_id}. "
                          "Nothing was sent: add --yes to run without a prompt, or --dry-run to see the plan.\n")
    assert sandbox.store.addresses() == set()


def test_cli_import_prints_counts_and_the_report_path_and_exits_1_on_failed_rows(bulkmail, demo_state, tmp_path):
    result = bulkmail("import", SAMPLES / "every-error.xlsx", "--yes", "-q")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0] == "Read 13 rows from sheet 'Mailboxes' of every-error.xlsx."
    assert lines[1] == "Results: added 2, removed 1, already_present 1, not_found 1, duplicate 1, invalid 6, failed 1"
    assert lines[2:5] == [
        "Rows to look at:",
        "  row 3  kaito.eriksen0@acme.com  already_present  the mailbox exists already; nothing sent (its name is "
        "'Kaito Eriksen', the file says 'Already here'; the API has no call to change an existing mailbox)",
        "  row 5  nobody.here@acme.com  not_found  no such mailbox; nothing sent"]
    assert lines[12] == "  row 14  (no address)  invalid  email address is empty"
    assert lines[13].startswith("Undo: reports/every-error-") and "-results-undo.csv (import it to revert" in lines[13]
    assert lines[14].startswith("Report: reports/every-error-") and lines[14].endswith("-results.xlsx")


def test_cli_import_of_a_file_without_email_column_exits_2_before_login(bulkmail, sandbox, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,Mail Addr", "add,a@acme.com"])
    result = bulkmail("import", "w.csv", "--yes")
    assert result.code == 2
    assert result.err == ("Error: Column for email address not found in w.csv (headers: action, Mail Addr). Rename it "
                          "to email_address or pass --map email_address=\"<header>\".\n")
    assert sandbox.store.requests[("POST", "/auth")] == 0
    assert bulkmail("import", "w.csv", "--yes", "--map", "email_address=Mail Addr").code == 0


def test_cli_validate_is_offline_and_reports_every_row(bulkmail, tmp_path, monkeypatch):
    monkeypatch.setenv("BULKMAIL_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    result = bulkmail("validate", SAMPLES / "every-error.xlsx", "--report", "v.csv")
    assert result.code == 1
    assert result.out.splitlines()[1] == "Results: duplicate 1, invalid 6, valid 6"
    assert len(read_report(tmp_path / "v.csv")) == 13
