"""The journal and --resume: an interrupted run is found from any folder, and its resume tells the
truth about every row."""

from __future__ import annotations

from pathlib import Path

from helpers import read_report, write_csv

from bulkmail.api.client import Client
from bulkmail.jobs.change import load
from bulkmail.jobs.journal import open_journal
from bulkmail.jobs.planning import make_plan


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
