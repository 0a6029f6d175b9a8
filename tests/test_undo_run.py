"""Undoing a run by its id (issue 16), and what `bulkmail log` says of changes it could not re-read."""

from __future__ import annotations

import json

from bulkmail.sandbox import Fault
from helpers import write_csv


def test_log_says_an_unread_mailbox_id_is_unknown_and_the_change_unverified_instead_of_none(bulkmail, sandbox,
                                                                                              tmp_path):
    def fail_the_reread(request):
        if request.method == "POST" and request.path == "/email/mailbox":
            sandbox.script(Fault(503, method="GET"))

    sandbox.on_request(fail_the_reread)
    write_csv(tmp_path / "w.csv", ["action,email", "add,hire@acme.com"])
    stopped = bulkmail("import", "w.csv", "--yes", "--retries", "0")
    assert stopped.code == 4 and sandbox.store.addresses() == {"hire@acme.com"}
    line = bulkmail("log", "--email", "hire@acme.com").out
    assert "  added, not verified  hire@acme.com  mailbox ? (its id was not read back)  by " in line
    assert "None" not in line


def imported(bulkmail, sandbox, tmp_path, report="r.csv") -> str:
    """An import that removes boss@ (executive, named) and adds new@; its run id."""
    sandbox.store.add("boss@acme.com", executive=1, realname="Big Boss")
    sandbox.store.add("stays@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email", "remove,boss@acme.com", "add,new@acme.com"])
    result = bulkmail("import", "w.csv", "--yes", "--report", report, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)["run_id"]


def state(sandbox) -> dict:
    return {m["email_address"]: (m["executive"], m["realname"]) for m in sandbox.store.mailboxes.values()}


def test_undo_by_run_id_reverts_the_run_and_the_json_and_the_audit_log_name_the_run_it_undoes(bulkmail, sandbox,
                                                                                              tmp_path):
    sandbox.store.add("boss@acme.com", executive=1, realname="Big Boss")
    sandbox.store.add("stays@acme.com")
    before = state(sandbox)
    write_csv(tmp_path / "w.csv", ["action,email", "remove,boss@acme.com", "add,new@acme.com"])
    run_id = json.loads(bulkmail("import", "w.csv", "--yes", "--report", "r.csv", "--json").out)["run_id"]
    result = bulkmail("undo", run_id, "--yes", "--report", "back.csv", "--json")
    assert result.code == 0, result.err
    assert state(sandbox) == before
    facts = json.loads(result.out)
    assert (facts["command"], facts["undoes"], facts["counts"], facts["report"], facts["undo"]) == (
        "undo", run_id, {"added": 1, "removed": 1}, "back.csv", "back-undo.csv")
    assert facts["input"]["path"] == str(tmp_path / "r-undo.csv")
    assert result.err.startswith(f"Undoing run {run_id} (import of {tmp_path / 'w.csv'}, ")
    from bulkmail.audit import AuditLog
    [end] = [r for r in AuditLog().records() if r.get("run_id") == facts["run_id"] and r.get("event") == "end"]
    assert (end["command"], end["undoes"]) == ("undo", run_id)
    listed = bulkmail("log").out.splitlines()
    assert f"  run {facts['run_id']}  undo of run {run_id}  by " in listed[0]


def test_undo_without_yes_and_without_a_terminal_is_refused_like_an_import(bulkmail, sandbox, tmp_path):
    run_id = imported(bulkmail, sandbox, tmp_path)
    after = state(sandbox)
    result = bulkmail("undo", run_id)
    assert result.code == 2
    assert ("Error: This run would add 1 and remove 1 mailbox in account b441390e-5f2c-4d5e-9a8b-36d7839f6153. Nothing "
            "was sent: add --yes to run without a prompt, or --dry-run to see the plan.\n") in result.err
    assert state(sandbox) == after


def test_undo_in_a_terminal_shows_the_plan_and_asks(bulkmail, sandbox, tmp_path):
    run_id = imported(bulkmail, sandbox, tmp_path)
    after = state(sandbox)
    declined = bulkmail("undo", run_id, stdin="n\n", tty=True)
    assert declined.code == 2 and state(sandbox) == after
    assert ("Plan: would_add 1, would_remove 1\nAbout to add 1 and remove 1 mailbox in account "
            f"b441390e-5f2c-4d5e-9a8b-36d7839f6153 ({sandbox.url}). Continue? [y/N]: ") in declined.err
    accepted = bulkmail("undo", run_id, stdin="y\n", tty=True)
    assert accepted.code == 0, accepted.err
    assert set(state(sandbox)) == {"boss@acme.com", "stays@acme.com"}


def test_undo_is_held_by_the_mass_removal_rail_and_by_max_remove(bulkmail, sandbox, tmp_path):
    sandbox.store.add("old@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email"] + [f"add,hire{n}@acme.com" for n in range(30)])
    run_id = json.loads(bulkmail("import", "w.csv", "--yes", "--json").out)["run_id"]
    mass = bulkmail("undo", run_id, "--yes")
    assert mass.code == 2
    assert ("Error: The plan removes 30 of the account's 31 mailboxes (97%). Nothing was sent. If that is really "
            "intended, add --allow-mass-remove.\n") in mass.err
    capped = bulkmail("undo", run_id, "--yes", "--allow-mass-remove", "--max-remove", "5")
    assert capped.code == 2 and ("Error: The plan removes 30 mailboxes, more than --max-remove 5. Nothing was sent. "
                                 "Check the file, or raise --max-remove.\n") in capped.err
    assert len(sandbox.store.addresses()) == 31
    assert bulkmail("undo", run_id, "--yes", "--allow-mass-remove").code == 0
    assert sandbox.store.addresses() == {"old@acme.com"}


def test_an_unknown_run_one_that_changed_nothing_an_unfinished_one_or_a_lost_undo_file_is_exit_2(bulkmail, sandbox,
                                                                                                 tmp_path):
    from bulkmail.audit import AuditLog

    unknown = bulkmail("undo", "0123456789ab")
    assert (unknown.code, unknown.err) == (2, f"Error: No run 0123456789ab in the audit log {AuditLog().path}. "
                                              "bulkmail log lists the runs with their ids.\n")
    write_csv(tmp_path / "d.csv", ["action,email", "add,someone@acme.com"])
    dry = json.loads(bulkmail("import", "d.csv", "--dry-run", "--json").out)
    [end] = [r for r in AuditLog().records() if r.get("run_id") == dry["run_id"] and r.get("event") == "end"]
    nothing = bulkmail("undo", dry["run_id"], "--yes")
    assert (nothing.code, nothing.err) == (2, f"Error: Run {dry['run_id']} (import, {end['time']}) added and removed "
                                              "no mailbox: there is nothing to undo. Check the run id with bulkmail "
                                              "log.\n")
    AuditLog().append([{"type": "run", "event": "start", "time": "2026-11-25T02:00:01+00:00", "run_id": "killed000001",
                        "command": "sync"}])  # a run killed before its end record
    killed = bulkmail("undo", "killed000001")
    assert (killed.code, killed.err) == (2, "Error: Run killed000001 (sync, 2026-11-25T02:00:01+00:00) has not "
                                            "finished (it was killed, or is still running), so it has no undo file "
                                            "yet. Finish it with --resume, then undo the run that finished it "
                                            "(bulkmail log lists it).\n")
    run_id = imported(bulkmail, sandbox, tmp_path)
    (tmp_path / "r-undo.csv").unlink()
    [end] = [r for r in AuditLog().records() if r.get("run_id") == run_id and r.get("event") == "end"]
    gone = bulkmail("undo", run_id, "--yes")
    assert (gone.code, gone.err) == (2, f"Error: The undo file of run {run_id} (import, {end['time']}), "
                                        f"{tmp_path / 'r-undo.csv'}, is gone (moved or deleted), so that run cannot "
                                        "be undone by its id. If you have a copy of it, import that: bulkmail import "
                                        "COPY.csv\n")
    assert sandbox.store.requests[("POST", "/auth")] == 2  # the two imports; no undo logged in


def test_undo_works_from_another_folder_than_the_run(bulkmail, sandbox, tmp_path, monkeypatch):
    run_id = imported(bulkmail, sandbox, tmp_path)  # its report was given as a relative path
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = bulkmail("undo", run_id, "--yes")
    assert result.code == 0, result.err
    assert set(state(sandbox)) == {"boss@acme.com", "stays@acme.com"}


def test_undo_on_another_service_than_the_run_is_refused(bulkmail, sandbox, tmp_path, monkeypatch):
    from bulkmail.sandbox import Sandbox

    run_id = imported(bulkmail, sandbox, tmp_path)
    with Sandbox() as staging:  # the same account id on another host
        monkeypatch.setenv("BULKMAIL_BASE_URL", staging.url)
        result = bulkmail("undo", run_id, "--yes")
        assert result.code == 2 and result.err.endswith(
            f" ran on the service at {sandbox.url} (account {sandbox.settings.account_id}); this login is for the "
            f"service at {staging.url} (the same account id). Nothing was sent. Use --base-url {sandbox.url} (or that "
            "service's profile).\n")
        assert staging.store.requests[("POST", "/email/mailbox")] == 0


def test_an_undo_run_twice_says_it_was_undone_already_and_changes_nothing(bulkmail, sandbox, tmp_path):
    run_id = imported(bulkmail, sandbox, tmp_path)
    first = json.loads(bulkmail("undo", run_id, "--yes", "--json").out)
    posts = sandbox.store.requests[("POST", "/email/mailbox")]
    again = bulkmail("undo", run_id, "--yes")
    assert again.code == 0, again.err
    assert f"Note: run {first['run_id']} already undid this run on " in again.out
    assert "Results: already_present 1, not_found 1" in again.out
    assert sandbox.store.requests[("POST", "/email/mailbox")] == posts


def end_record(run_id: str) -> dict:
    from bulkmail.audit import AuditLog

    [end] = [r for r in AuditLog().records() if r.get("run_id") == run_id and r.get("event") == "end"]
    return end


def test_undo_by_run_id_refuses_an_undo_file_that_a_later_run_wrote_over(bulkmail, sandbox, tmp_path):
    write_csv(tmp_path / "a.csv", ["email,action", "owa@acme.com,add"])
    write_csv(tmp_path / "b.csv", ["email,action", "owb@acme.com,add"])
    first = json.loads(bulkmail("import", "a.csv", "--yes", "--report", "r.csv", "--json").out)["run_id"]
    second = json.loads(bulkmail("import", "b.csv", "--yes", "--report", "r.csv", "--force", "--json").out)["run_id"]
    assert len(end_record(second)["undo_sha256"]) == 64
    refused = bulkmail("undo", first, "--yes")
    assert (refused.code, refused.err) == (
        2, f"Error: The undo file of run {first} (import, {end_record(first)['time']}), {tmp_path / 'r-undo.csv'}, is "
           "not the file that run wrote: it was changed or replaced since (another run's --report --force writes one "
           "of the same name). Nothing was sent. If you are sure of what it holds, import it yourself: bulkmail import "
           f"{tmp_path / 'r-undo.csv'} --dry-run\n")
    assert sandbox.store.addresses() == {"owa@acme.com", "owb@acme.com"}
    assert sandbox.store.requests[("DELETE", "/email/mailbox")] == 0
    assert bulkmail("undo", second, "--yes").code == 0  # the file is that run's own
    assert sandbox.store.addresses() == {"owa@acme.com"}


def forget_undo_digests() -> None:
    """The audit log as bulkmail wrote it before end records held the undo file's SHA-256."""
    from bulkmail.audit import AuditLog

    path = AuditLog().path
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "undo_sha256"}) + "\n" for r in lines))


def test_undo_of_a_run_logged_without_the_digest_checks_each_undo_row_against_the_runs_changes(bulkmail, sandbox,
                                                                                            tmp_path):
    run_id = imported(bulkmail, sandbox, tmp_path)
    forget_undo_digests()
    undo = tmp_path / "r-undo.csv"
    honest = undo.read_text(encoding="utf-8-sig")
    undo.write_text(honest + "remove,stays@acme.com,,\n", encoding="utf-8-sig")  # not a change of that run
    refused = bulkmail("undo", run_id, "--yes")
    assert (refused.code, refused.err) == (
        2, f"Error: The undo file of run {run_id} (import, {end_record(run_id)['time']}), {undo}, does not match that "
           "run's changes in the audit log (row 4: remove stays@acme.com, but that run did not add it). Nothing was "
           f"sent. If you are sure of what it holds, import it yourself: bulkmail import {undo} --dry-run\n")
    assert set(state(sandbox)) == {"new@acme.com", "stays@acme.com"}
    undo.write_text(honest, encoding="utf-8-sig")
    assert bulkmail("undo", run_id, "--yes").code == 0
    assert set(state(sandbox)) == {"boss@acme.com", "stays@acme.com"}


def test_undo_says_before_applying_and_in_its_summary_what_cannot_come_back_and_which_run_it_undoes(bulkmail,
                                                                                                  sandbox, tmp_path):
    import openpyxl

    from bulkmail.files.undo import CANNOT_COME_BACK

    run_id = imported(bulkmail, sandbox, tmp_path)
    for args, run_line in [(["--dry-run"], f"dry run of the undo of run {run_id}: nothing changed"),
                           (["--yes"], f"undo of run {run_id}")]:
        result = bulkmail("undo", run_id, *args, "--report", f"back{len(args[0])}.xlsx")
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        said = f"It adds back 1 mailbox that run removed: {CANNOT_COME_BACK}."
        assert lines[1] == said and lines.index(said) < next(n for n, line in enumerate(lines)
                                                              if line.startswith("Results: "))
        summary = dict(openpyxl.load_workbook(tmp_path / f"back{len(args[0])}.xlsx")["Summary"].iter_rows(
            values_only=True))
        assert (summary["run"], summary["cannot come back"]) == (run_line, CANNOT_COME_BACK)
    assert set(state(sandbox)) == {"boss@acme.com", "stays@acme.com"}


def test_a_resumed_run_logged_without_the_digest_owns_the_changes_its_interrupted_run_logged(tmp_path):
    import pytest

    from bulkmail.audit import AuditLog
    from bulkmail.errors import InputError
    from bulkmail.jobs.revert import find_run

    source = {"path": str(tmp_path / "w.csv"), "sha256": "ab" * 32, "rows": 2}
    write_csv(tmp_path / "r-undo.csv", ["action,email_address,executive,realname", "remove,a@acme.com,,",
                                        "remove,b@acme.com,,"])

    def logged(run_id: str, resumed: bool) -> None:
        common = {"command": "import", "input": source, "resume": resumed}
        AuditLog().append([
            {"type": "run", "event": "start", "run_id": f"{run_id}-killed", "time": "2026-11-25T02:00:00+00:00",
             **common},
            {"type": "change", "run_id": f"{run_id}-killed", "action": "add", "email_address": "A@acme.com",
             "time": "2026-11-25T02:00:01+00:00", "input": source},  # the interrupted run logged this one
            {"type": "change", "run_id": run_id, "action": "add", "email_address": "b@acme.com",
             "time": "2026-11-25T02:10:01+00:00", "input": source},
            {"type": "run", "event": "end", "run_id": run_id, "time": "2026-11-25T02:10:02+00:00", "exit_status": 0,
             "counts": {"added": 2}, "report": str(tmp_path / "r.csv"), **common}])

    logged("resumed", True)
    assert [row.email_address for row in find_run("resumed").rows] == ["a@acme.com", "b@acme.com"]
    logged("fresh", False)  # not a resume: another run's change is not its own
    with pytest.raises(InputError, match=r"row 2: remove a@acme.com, but that run did not add it\)"):
        find_run("fresh")
