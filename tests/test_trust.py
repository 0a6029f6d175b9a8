"""What a new user hit (issue 8): files never lost, outputs checked before anything is sent,
journals found from any folder, rails that judge right, and a terminal that tells enough."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from bulkmail.api.walk import count
from bulkmail.api.client import Client
from bulkmail.errors import Refused
from bulkmail.jobs.change import import_file, load, open_journal
from bulkmail.jobs.options import ImportOptions
from bulkmail.jobs.rails import check_rails
from bulkmail.jobs.planning import Plan, make_plan
from bulkmail.records import Row
from bulkmail.api.retry import Retry
from bulkmail.sandbox import Fault
from helpers import DELETES, POSTS, read_report, status_colours, write_csv, write_ods


# -- never lose a file -------------------------------------------------------------------------


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


# -- the journal and --resume tell the truth ----------------------------------------------------


def interrupted_run(path: Path, sandbox) -> None:
    """A run of ``path`` that sent its first row and died before hearing back (as kill -9 leaves it)."""
    table, rows = load(path)
    journal, _, _ = open_journal(path, sandbox.settings.account_id)
    journal.mark_sent(rows[:1])
    sandbox.store.add(rows[0].email_address)  # the service applied it
    journal.close()


def test_an_interrupted_run_is_found_from_another_folder(bulkmail, sandbox, tmp_path, monkeypatch):
    (tmp_path / "hr").mkdir()
    path = write_csv(tmp_path / "hr" / "w.csv", ["action,email", "add,a@acme.com", "add,b@acme.com"])
    interrupted_run(path, sandbox)
    (tmp_path / "cron").mkdir()
    monkeypatch.chdir(tmp_path / "cron")
    refused = bulkmail("import", path, "--yes")
    assert refused.code == 2 and "An interrupted run of w.csv from " in refused.err
    resumed = bulkmail("import", path, "--yes", "--resume")
    assert resumed.code == 0, resumed.err
    assert not list((tmp_path / "hr").glob("**/.journal")) and not (tmp_path / "cron" / "reports" / ".journal").exists()


def test_a_resumed_run_reports_every_change_verified_with_its_ids(bulkmail, sandbox, tmp_path):
    path = write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com", "add,b@acme.com"])
    interrupted_run(path, sandbox)
    result = bulkmail("import", "w.csv", "--yes", "--resume", "--report", "r.csv")
    assert result.code == 0
    lines = read_report(tmp_path / "r.csv")
    assert [line["status"] for line in lines] == ["added", "added"]
    assert all(line["mailbox_id"] and line["email_address_id"] for line in lines)
    assert lines[0]["detail"] == "applied by the interrupted run; verified by re-reading"
    assert "not verified" not in lines[1]["detail"]


def test_a_resumed_remove_whose_answer_was_lost_keeps_the_ids_it_removed(bulkmail, sandbox, tmp_path):
    mailbox = sandbox.store.add("leaver@acme.com")
    sandbox.store.add("stays@acme.com")
    path = write_csv(tmp_path / "w.csv", ["action,email", "remove,leaver@acme.com"])
    table, rows = load(path)
    make_plan(Client(sandbox.url, "admin@acme.com", "sandbox-demo"), rows)
    journal, _, _ = open_journal(path, sandbox.settings.account_id)
    journal.mark_sent(rows)
    sandbox.store.remove(mailbox["id"])  # applied; the answer never came back
    journal.close()
    assert bulkmail("import", "w.csv", "--yes", "--resume", "--report", "r.csv").code == 0
    [line] = read_report(tmp_path / "r.csv")
    assert (line["status"], line["mailbox_id"], line["email_address_id"]) == (
        "removed", str(mailbox["id"]), str(mailbox["email_address_id"]))


def test_the_same_file_in_two_accounts_has_two_journals(sandbox, tmp_path):
    path = write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    first, _, _ = open_journal(path, "account-1")
    try:
        second, resuming, _ = open_journal(path, "account-2")  # no lock conflict, no interrupted run
        second.close()
    finally:
        first.close()
    assert resuming is False


def test_ctrl_c_at_the_prompt_leaves_nothing_to_resume(bulkmail, sandbox, tmp_path, monkeypatch):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    stopped = bulkmail("import", "w.csv", tty=True)  # the prompt reads end-of-input, as after Ctrl-C
    assert stopped.code == 130 and sandbox.store.addresses() == set()
    again = bulkmail("import", "w.csv", "--yes")
    assert again.code == 0, again.err
    assert sandbox.store.addresses() == {"a@acme.com"}


# -- rails that judge right ---------------------------------------------------------------------


def leavers(tmp_path: Path, sandbox, count: int, keep: int = 6) -> Path:
    for n in range(count + keep):
        sandbox.store.add(f"user{n}@acme.com")
    return write_csv(tmp_path / "leavers.csv", ["action,email"] + [f"remove,user{n}@acme.com" for n in range(count)])


@pytest.mark.parametrize("settings", [{"send_meta": False}], indirect=True)
def test_mass_removal_rail_counts_the_account_when_the_server_gives_no_page_count(bulkmail, sandbox, tmp_path):
    leavers(tmp_path, sandbox, 25)
    result = bulkmail("import", "leavers.csv", "--yes")
    assert (result.code, result.err) == (2, "Error: The plan removes 25 of the account's 31 mailboxes (81%). Nothing "
                                            "was sent. If that is really intended, add --allow-mass-remove.\n")
    assert sandbox.store.requests[DELETES] == 0


@pytest.mark.parametrize("settings", [{"send_meta": False}], indirect=True)
def test_client_count_walks_the_list_when_the_server_gives_no_total(client, sandbox):
    sandbox.store.seed(45, sandbox.settings.domains)
    client.login()
    assert count(client) == 45


@pytest.mark.parametrize("settings", [{"send_meta": False, "ignore_page": True}], indirect=True)
def test_a_mass_removal_is_refused_when_the_account_size_cannot_be_known(client, sandbox):
    sandbox.store.seed(45, sandbox.settings.domains)
    client.login()
    plan = Plan(to_remove=[Row(n, "remove", f"u{n}@acme.com") for n in range(25)])
    with pytest.raises(Refused) as refused:
        check_rails(client, plan, None, False)
    assert str(refused.value) == ("The plan removes 25 mailboxes, and the service does not tell how many the account "
                                  "has, so bulkmail cannot rule out a mass removal. Nothing was sent. If that is really "
                                  "intended, add --allow-mass-remove.")


def test_a_dry_run_says_when_the_real_run_would_be_refused(bulkmail, sandbox, tmp_path):
    leavers(tmp_path, sandbox, 5)
    result = bulkmail("import", "leavers.csv", "--dry-run", "--max-remove", "3", "--report", "plan.xlsx")
    assert result.code == 2
    assert result.err == ("Warning: the real run would be refused: The plan removes 5 mailboxes, more than "
                          "--max-remove 3. Nothing was sent. Check the file, or raise --max-remove.\n")
    assert "Results: would_remove 5\n" in result.out
    summary = dict(openpyxl.load_workbook(tmp_path / "plan.xlsx")["Summary"].iter_rows(values_only=True))
    assert summary["the real run"].startswith("would be refused: The plan removes 5 mailboxes")


# -- unregistered domains -----------------------------------------------------------------------


def test_a_batch_of_one_unregistered_domain_costs_a_few_requests_not_a_bisection(client, sandbox, tmp_path):
    sandbox.store.add("someone@acme.com")
    lines = ["action,email"] + [f"add,guest{n}@partner.org" for n in range(200)] + ["add,hire@acme.com"]
    result = import_file(client, write_csv(tmp_path / "w.csv", lines), report=tmp_path / "r.csv")
    statuses = [row.status for row in result.rows]
    assert statuses == ["failed"] * 200 + ["added"]
    message = "400 Bad Request for POST /email/mailbox: Domain not registered for this account: partner.org"
    assert result.rows[0].detail == message
    assert result.rows[1].detail == f"not sent: the service refused row 2 of the same domain: {message}"
    assert sandbox.store.requests[POSTS] == 2  # the canary, then the acme.com batch
    assert max(row.attempts for row in result.rows) == 1


@pytest.mark.parametrize("settings", [{"domains": ("acme.com", "newco.com")}], indirect=True)
def test_a_registered_but_empty_domain_passes_its_canary_and_the_rest_follow_in_batches(client, sandbox, tmp_path):
    lines = ["action,email"] + [f"add,hire{n}@newco.com" for n in range(150)]
    result = import_file(client, write_csv(tmp_path / "w.csv", lines), report=tmp_path / "r.csv")
    assert {row.status for row in result.rows} == {"added"} and len(sandbox.store.addresses()) == 150
    assert sandbox.store.requests[POSTS] == 3  # 1 canary + 149 rows in batches of 100


@pytest.mark.parametrize("settings", [{"domains": ("acme.com", "newco.com")}], indirect=True)
def test_a_canary_refused_for_itself_lets_the_next_row_try(client, sandbox, tmp_path):
    sandbox.script(Fault(422, method="POST", path="/email/mailbox"))  # a refusal that does not name the domain
    lines = ["action,email", "add,first@newco.com", "add,second@newco.com", "add,third@newco.com"]
    result = import_file(client, write_csv(tmp_path / "w.csv", lines), report=tmp_path / "r.csv")
    assert [row.status for row in result.rows] == ["failed", "added", "added"]
    assert result.rows[0].detail == "422 Unprocessable Entity for POST /email/mailbox: Scripted fault 422"
    assert sandbox.store.requests[POSTS] == 3  # two canaries, then the rest in one batch


def test_a_dry_run_warns_about_domains_without_a_mailbox_in_the_account(bulkmail, sandbox, tmp_path):
    sandbox.store.add("someone@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@partner.org", "add,b@partner.org", "add,c@acme.com"])
    result = bulkmail("import", "w.csv", "--dry-run")
    assert result.code == 0
    assert result.err == ("Warning: The account has no mailbox in partner.org yet: if the domain is not registered for "
                          "the account, the service will refuse its 2 rows.\n")


# -- typos stand out ----------------------------------------------------------------------------


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


# -- names and flags ------------------------------------------------------------------------------


@pytest.mark.parametrize("settings,detail", [({}, ""), ({"ignore_realname": True},
                                             "added, but the service did not keep the name 'Ana Díaz' (it shows '')")],
                         indirect=["settings"])
def test_display_names_are_sent_and_verified(client, sandbox, tmp_path, detail):
    sandbox.store.add("someone@acme.com")
    path = write_csv(tmp_path / "w.csv", ["action,email,Display Name", "add,ana@acme.com,Ana Díaz"])
    result = import_file(client, path, report=tmp_path / "r.csv")
    [row] = result.rows
    assert (row.status, row.detail) == ("added", detail)
    stored = sandbox.store.find("ana@acme.com")["realname"]
    assert stored == (" " if detail else "Ana Díaz")


def test_a_removed_row_with_a_name_column_says_nothing_about_names(client, sandbox, tmp_path):
    sandbox.store.add("leaver@acme.com", realname="Lee Ver")
    sandbox.store.add("stays@acme.com")
    path = write_csv(tmp_path / "w.csv", ["action,email,Name", "remove,leaver@acme.com,Contract ended"])
    [row] = import_file(client, path, report=tmp_path / "r.csv").rows
    assert (row.status, row.detail) == ("removed", "")


def test_an_existing_mailbox_with_another_executive_flag_says_so(client, sandbox, tmp_path):
    sandbox.store.add("boss@acme.com", executive=1)
    path = write_csv(tmp_path / "w.csv", ["action,email,executive", "add,boss@acme.com,no"])
    [row] = import_file(client, path, report=tmp_path / "r.csv").rows
    assert row.status == "already_present"
    assert row.detail == ("the mailbox exists already; nothing sent (executive is 1 there, the file says 0; the API "
                          "has no call to change an existing mailbox)")
    assert sandbox.store.requests[POSTS] == 0


# -- more input formats -------------------------------------------------------------------------


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


# -- help and words ---------------------------------------------------------------------------------


def test_help_texts_say_what_they_mean(bulkmail):
    assert "morethan20%oftheaccount" in "".join(bulkmail("import", "--help").out.split())
    assert "-validation.<xlsxforaspreadsheetinput,elsecsv>" in "".join(bulkmail("validate", "--help").out.split())
    login = bulkmail("login", "--help").out
    assert "--concurrency" not in login and "--retries" in login



def test_every_option_of_every_command_has_a_description():
    import click
    from bulkmail.cli.main import cli
    bare = [f"{name} {param.opts[0]}" for name, command in cli.commands.items() for param in command.params
            if isinstance(param, click.Option) and not param.help]
    assert bare == []


def test_counts_of_one_are_singular(bulkmail, sandbox, tmp_path):
    sandbox.store.add("only@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    assert bulkmail("validate", "w.csv").out.startswith("Read 1 row from w.csv.\n")
    assert bulkmail("export", "-o", "e.csv").out.startswith("Exported 1 mailbox (1 page, ")


def test_the_demo_ends_with_a_command_that_works_when_copied(bulkmail):
    from bulkmail.cli.main import SAMPLES as SHIPPED
    result = bulkmail("demo", "-q")
    hint = result.out.splitlines()[-1]
    assert hint == (f"  BULKMAIL_BASE_URL=http://127.0.0.1:8025 BULKMAIL_USERNAME=admin@acme.com "
                    f"BULKMAIL_PASSWORD=sandbox-demo bulkmail import {SHIPPED / 'every-error.xlsx'} --dry-run")
    assert Path(hint.split(" import ")[1].split(" --")[0]).is_file()


def test_shell_completion_completes_command_names():
    env = dict(os.environ, _BULKMAIL_COMPLETE="bash_complete", COMP_WORDS="bulkmail imp", COMP_CWORD="1")
    done = subprocess.run([sys.executable, "-m", "bulkmail"], env=env, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "plain,import\n")
    env = dict(os.environ, _BULKMAIL_COMPLETE="bash_source")
    script = subprocess.run([sys.executable, "-m", "bulkmail"], env=env, capture_output=True, text=True).stdout
    assert "_bulkmail_completion()" in script


def test_a_login_that_cannot_connect_gives_up_after_one_retry(sleeps):
    client = Client("http://127.0.0.1:9", "u", "p", retry=Retry(attempts=6, sleep=sleeps))
    with pytest.raises(Exception) as failed:
        client.login()
    assert str(failed.value) == ("Cannot reach http://127.0.0.1:9 (POST /auth: connection refused or host not found); "
                                 "gave up after 2 attempts. Check --base-url and the network.")
    assert len(sleeps) == 1 and failed.value.exit_status == 4


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    (tmp_path / "big.csv").write_text("action,email\n" + "add,bad\n" * 20000)
    process = subprocess.Popen([sys.executable, "-m", "bulkmail", "validate", "big.csv"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.readline()
    process.stdout.close()  # like `| head -1`
    err = process.stderr.read()
    assert process.wait() == 1
    assert "Traceback" not in err and "Internal error" not in err
