"""Recurring work (issue 11): retrying what failed, undo files, diffs of exports."""

from __future__ import annotations

import json

import pytest

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
        "not_found, would_add, would_remove, kept, duplicate, invalid, failed, in_doubt, not_attempted, valid.\n")


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
        "variants and exec-tracking settings kept by the console outside this API are lost, and is_ad_mailbox comes "
        "back 0 (the add call cannot set it); only the address, the executive flag and the name come back)")
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



def test_an_undo_says_is_ad_mailbox_comes_back_0_which_it_does(bulkmail, sandbox, tmp_path):
    sandbox.store.add("synced@acme.com", is_ad_mailbox=1)
    write_csv(tmp_path / "w.csv", ["action,email", "remove,synced@acme.com"])
    result = bulkmail("import", "w.csv", "--yes", "--report", "r.xlsx")
    assert result.out.splitlines()[-2] == (
        "Undo: r-undo.csv (import it to revert this run; for the 1 removed mailbox, aliases, groups, name variants and "
        "exec-tracking settings kept by the console outside this API are lost, and is_ad_mailbox comes back 0 (the "
        "add call cannot set it); only the address, the executive flag and the name come back)")
    import openpyxl
    summary = dict(openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True))
    assert "is_ad_mailbox comes back 0" in summary["cannot come back"]
    assert bulkmail("import", "r-undo.csv", "--yes").code == 0
    assert sandbox.store.find("synced@acme.com")["is_ad_mailbox"] == 0

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



def test_a_diff_of_unchanged_data_is_empty_whatever_the_cell_types_and_formula_guards(bulkmail, sandbox, tmp_path):
    odd = {"eq@acme.com": {"realname": "=SUM(1,2)"}, "dash@acme.com": {"realname": "-Dash"},
           "plus@acme.com": {"realname": "+Plus"}, "at@acme.com": {"realname": "@At"},
           "tab@acme.com": {"realname": "\tTab"}, "blank@acme.com": {"realname": " "},
           "nbsp@acme.com": {"realname": "\u00a0"}, "null@acme.com": {"realname": None, "executive": None},
           "text@acme.com": {"executive": "1"}, "bool@acme.com": {"executive": True},
           "float@acme.com": {"executive": 1.0}, "zero@acme.com": {"executive": "0"}}
    for address, values in odd.items():
        sandbox.store.mailboxes[sandbox.store.add(address, realname="Some One")["id"]].update(values)
    assert bulkmail("export", "-o", "export.csv").code == 0
    assert bulkmail("export", "-o", "export.xlsx").code == 0
    for old, new in (("export.csv", "live"), ("export.xlsx", "export.csv"), ("export.xlsx", "live")):
        result = bulkmail("diff", old, new, "-o", f"{old}-{new}.csv")
        assert result.out.splitlines()[1] == "Diff: appeared 0, disappeared 0, changed 0", (old, new)
    sandbox.store.mailboxes[sandbox.store.find("float@acme.com")["id"]]["executive"] = 0  # a real change still shows
    bulkmail("diff", "export.xlsx", "live", "-o", "real.csv")
    assert [(x["email_address"], x["executive_old"], x["executive_new"], x["id_old"] == x["id_new"])
            for x in read_report(tmp_path / "real.csv")] == [("float@acme.com", "1", "0", True)]

# -- plans ------------------------------------------------------------------------------------------


def planned(bulkmail, sandbox, tmp_path):
    """A dry run of 2 removes and 1 add, written as plan.json."""
    for address in ("leaver1@acme.com", "leaver2@acme.com", "stays@acme.com"):
        sandbox.store.add(address)
    write_csv(tmp_path / "w.csv", ["action,email", "remove,leaver1@acme.com", "remove,leaver2@acme.com",
                                   "add,hire@acme.com"])
    result = bulkmail("import", "w.csv", "--dry-run", "--plan-out", "plan.json")
    assert result.code == 0, result.err
    assert "Plan: plan.json (review it with the report; then: bulkmail apply plan.json)\n" in result.out
    return json.loads((tmp_path / "plan.json").read_text())


def test_a_plan_is_applied_exactly_after_approval(bulkmail, sandbox, tmp_path):
    plan = planned(bulkmail, sandbox, tmp_path)
    assert [(c["row"], c["action"], c["email_address"]) for c in plan["changes"]] == [
        (2, "remove", "leaver1@acme.com"), (3, "remove", "leaver2@acme.com"), (4, "add", "hire@acme.com")]
    assert plan["changes"][0]["live"]["id"] == sandbox.store.find("leaver1@acme.com")["id"]
    assert plan["account"] == sandbox.settings.account_id and plan["digest"].startswith("sha256:")
    result = bulkmail("apply", "plan.json", "--yes", "--report", "applied.csv")
    assert result.code == 0, result.err
    assert sandbox.store.addresses() == {"stays@acme.com", "hire@acme.com"}
    assert [(x["row"], x["status"]) for x in read_report(tmp_path / "applied.csv")] == [
        ("2", "removed"), ("3", "removed"), ("4", "added")]


def test_a_stale_plan_is_refused_and_nothing_is_sent(bulkmail, sandbox, tmp_path):
    planned(bulkmail, sandbox, tmp_path)
    sandbox.store.remove(sandbox.store.find("leaver2@acme.com")["id"])  # someone removed it meanwhile
    sandbox.store.add("hire@acme.com")  # and added this one
    before = dict(sandbox.store.requests)
    result = bulkmail("apply", "plan.json", "--yes")
    assert result.code == 2
    assert result.err == ("Error: stale plan: 2 of the changes in plan.json no longer match the service; make a new "
                          "plan. Nothing was sent. (row 3 remove leaver2@acme.com: the mailbox is gone; row 4 add "
                          f"hire@acme.com: the mailbox exists now (id {sandbox.store.find('hire@acme.com')['id']}))\n")
    assert sandbox.store.requests[("POST", "/email/mailbox")] == before.get(("POST", "/email/mailbox"), 0)
    assert sandbox.store.requests[("DELETE", "/email/mailbox")] == 0


def test_an_edited_plan_is_refused(bulkmail, sandbox, tmp_path):
    plan = planned(bulkmail, sandbox, tmp_path)
    plan["changes"][2]["email_address"] = "intruder@acme.com"
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    result = bulkmail("apply", "plan.json", "--yes")
    assert (result.code, result.err) == (2, "Error: plan.json was changed after it was written (its digest does not "
                                            "match), so it is not the plan that was approved. Nothing was sent. Make a "
                                            "new plan.\n")
    assert sandbox.store.requests[("POST", "/auth")] == 1  # only the dry run logged in


def test_a_plan_of_another_account_or_version_is_refused(bulkmail, sandbox, tmp_path, monkeypatch):
    plan = planned(bulkmail, sandbox, tmp_path)
    monkeypatch.setenv("BULKMAIL_ACCOUNT_ID", "another-account")
    result = bulkmail("apply", "plan.json", "--yes")
    assert result.code == 2 and result.err.startswith(f"Error: plan.json was made for account "
                                                      f"{sandbox.settings.account_id} ({sandbox.url}); this login is "
                                                      "for account another-account")
    monkeypatch.delenv("BULKMAIL_ACCOUNT_ID")
    from bulkmail.jobs.planfile import digest
    content = {k: v for k, v in plan.items() if k != "digest"}
    content["version"] = 99
    (tmp_path / "v99.json").write_text(json.dumps({**content, "digest": digest(content)}))
    result = bulkmail("apply", "v99.json", "--yes")
    assert (result.code, result.err) == (2, "Error: v99.json has plan format version 99; this bulkmail reads version "
                                            "1. Make a new plan with this version.\n")


def test_plan_out_needs_a_dry_run(bulkmail, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    result = bulkmail("import", "w.csv", "--plan-out", "p.json", "--yes")
    assert (result.code, result.err) == (2, "Error: --plan-out goes with --dry-run: a plan is what a dry run would do. "
                                            "Add --dry-run.\n")


@pytest.mark.parametrize("settings", [{"latency": 0.03}], indirect=True)
def test_apply_killed_mid_send_is_finished_by_resume(bulkmail, sandbox, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    sandbox.store.add("someone@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email"] + [f"add,hire{n}@acme.com" for n in range(80)])
    assert bulkmail("import", "w.csv", "--dry-run", "--plan-out", "plan.json").code == 0
    env = dict(os.environ, BULKMAIL_BASE_URL=sandbox.url, BULKMAIL_USERNAME="admin@acme.com",
               BULKMAIL_PASSWORD="sandbox-demo")
    command = [sys.executable, "-m", "bulkmail", "apply", "plan.json", "--yes", "-q", "--batch-size", "4",
               "--concurrency", "1"]
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while sandbox.store.requests[("POST", "/email/mailbox")] < 5 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert 0 < len(sandbox.store.addresses()) - 1 < 80  # killed half-way
    refused = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "is not finished. Pass --resume" in refused.stderr
    resumed = subprocess.run(command + ["--resume", "--report", "done.csv"], cwd=tmp_path, env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert sandbox.store.addresses() == {f"hire{n}@acme.com" for n in range(80)} | {"someone@acme.com"}
    lines = read_report(tmp_path / "done.csv")
    assert len(lines) == 80 and {x["status"] for x in lines} == {"added"} and all(x["mailbox_id"] for x in lines)


# -- sync -----------------------------------------------------------------------------------------------


def tenant(sandbox, count: int = 30) -> None:
    for n in range(count):
        sandbox.store.add(f"staff{n}@acme.com")
    sandbox.store.add("svc-backup@acme.com")
    sandbox.store.add("partner@acme.co.uk")  # another domain: outside a sync scoped to acme.com


def roster(tmp_path, addresses, name="roster.csv"):
    return write_csv(tmp_path / name, ["Name,Email"] + [f"N,{a}" for a in addresses])


def test_a_nightly_sync_adds_the_missing_removes_the_unlisted_and_keeps_the_protected(bulkmail, sandbox, tmp_path):
    tenant(sandbox)
    listed = [f"staff{n}@acme.com" for n in range(28)] + ["hire@acme.com"]  # staff28, staff29 left
    roster(tmp_path, listed)
    dry = bulkmail("sync", "roster.csv", "--keep", "svc-*@acme.com", "--dry-run", "--report", "dry.csv")
    assert dry.code == 0, dry.err
    assert "Scope: acme.com.\n" in dry.out and "Results: already_present 28, would_add 1, would_remove 2, kept 1" in dry.out
    result = bulkmail("sync", "roster.csv", "--keep", "svc-*@acme.com", "--yes", "--report", "r.csv")
    assert result.code == 0, result.err
    assert sandbox.store.addresses() == set(listed) | {"svc-backup@acme.com", "partner@acme.co.uk"}
    lines = read_report(tmp_path / "r.csv")
    assert [(x["row"], x["status"], x["source"]) for x in lines[-4:]] == [
        ("30", "added", "roster"), ("", "removed", "live"), ("", "removed", "live"), ("", "kept", "live")]
    assert [x["email_address"] for x in lines[-3:]] == ["staff28@acme.com", "staff29@acme.com", "svc-backup@acme.com"]
    assert len(lines) == 29 + 3


def test_a_truncated_roster_is_refused_by_the_removal_rail(bulkmail, sandbox, tmp_path):
    tenant(sandbox, 60)
    roster(tmp_path, [f"staff{n}@acme.com" for n in range(5)])  # the HR export stopped early
    result = bulkmail("sync", "roster.csv", "--yes")
    assert result.code == 2
    assert result.err == ("Error: The sync would remove 56 mailboxes, more than 10% of the 61 mailboxes in the scope "
                          "(and more than 20). Nothing was sent. Check the roster (a truncated file?); if it is right, "
                          "add --allow-mass-remove or raise --max-remove.\n")
    assert len(sandbox.store.addresses()) == 62
    percent = bulkmail("sync", "roster.csv", "--yes", "--max-remove", "50%")
    assert percent.code == 2 and "more than --max-remove 50% of the 61 mailboxes in the scope" in percent.err


def test_an_empty_roster_or_one_outside_the_scope_or_with_invalid_rows_is_refused(bulkmail, sandbox, tmp_path):
    tenant(sandbox, 3)
    write_csv(tmp_path / "empty.csv", ["Name,Email"])
    empty = bulkmail("sync", "empty.csv", "--yes")
    assert (empty.code, empty.err) == (2, "Error: The roster empty.csv has no usable address. Nothing was sent.\n")
    roster(tmp_path, ["staff0@acme.com"], "uk.csv")
    outside = bulkmail("sync", "uk.csv", "--scope", "acme.co.uk", "--yes")
    assert (outside.code, outside.err) == (2, "Error: No roster address is in the scope (acme.co.uk). Nothing was "
                                              "sent.\n")
    roster(tmp_path, ["staff0@acme.com", "not-an-address"], "bad.csv")
    bad = bulkmail("sync", "bad.csv", "--yes")
    assert bad.code == 2 and bad.err.startswith("Error: 1 roster rows are invalid (first: row 3, 'not-an-address': ")
    assert len(sandbox.store.addresses()) == 5
    skipped = bulkmail("sync", "bad.csv", "--yes", "--skip-invalid", "--scope", "acme.com")
    assert skipped.code == 1  # the invalid row is reported; the rest synced
    assert sandbox.store.addresses() == {"staff0@acme.com", "partner@acme.co.uk"}


def test_add_only_and_remove_only_do_half_of_a_sync(bulkmail, sandbox, tmp_path):
    tenant(sandbox, 3)
    roster(tmp_path, ["staff0@acme.com", "hire@acme.com"])
    assert bulkmail("sync", "roster.csv", "--add-only", "--yes").code == 0
    assert sandbox.store.addresses() >= {"hire@acme.com", "staff1@acme.com", "staff2@acme.com"}
    roster(tmp_path, ["staff0@acme.com", "late@acme.com"], "second.csv")
    assert bulkmail("sync", "second.csv", "--remove-only", "--yes", "--allow-mass-remove").code == 0
    assert sandbox.store.addresses() == {"staff0@acme.com", "partner@acme.co.uk"}


def test_a_sync_plan_is_applied_by_apply(bulkmail, sandbox, tmp_path):
    tenant(sandbox, 3)
    roster(tmp_path, ["staff0@acme.com", "staff1@acme.com", "hire@acme.com", "svc-backup@acme.com"])
    assert bulkmail("sync", "roster.csv", "--dry-run", "--plan-out", "p.json").code == 0
    assert bulkmail("apply", "p.json", "--yes").code == 0
    assert sandbox.store.addresses() == {"staff0@acme.com", "staff1@acme.com", "hire@acme.com", "svc-backup@acme.com",
                                         "partner@acme.co.uk"}


@pytest.mark.parametrize("settings", [{"latency": 0.03}], indirect=True)
def test_a_sync_killed_mid_send_is_finished_by_resume_with_every_row_once(sandbox, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    tenant(sandbox, 40)
    keep = [f"staff{n}@acme.com" for n in range(10)]
    roster(tmp_path, keep + [f"hire{n}@acme.com" for n in range(30)])
    env = dict(os.environ, BULKMAIL_BASE_URL=sandbox.url, BULKMAIL_USERNAME="admin@acme.com",
               BULKMAIL_PASSWORD="sandbox-demo")
    command = [sys.executable, "-m", "bulkmail", "sync", "roster.csv", "--yes", "-q", "--batch-size", "3",
               "--concurrency", "1", "--allow-mass-remove", "--keep", "svc-*@acme.com"]
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while sandbox.store.requests[("DELETE", "/email/mailbox")] < 3 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait()
    resumed = subprocess.run(command + ["--resume", "--report", "done.csv"], cwd=tmp_path, env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    expected = set(keep) | {f"hire{n}@acme.com" for n in range(30)} | {"svc-backup@acme.com", "partner@acme.co.uk"}
    assert sandbox.store.addresses() == expected
    lines = read_report(tmp_path / "done.csv")
    removed = sorted(x["email_address"] for x in lines if x["status"] == "removed")
    assert removed == sorted(f"staff{n}@acme.com" for n in range(10, 40))  # each once, those removed before the kill too
    assert len(lines) == 40 + 30 + 1  # roster rows, removed live mailboxes, the kept one


# -- apply: which service, applied before, row numbers ------------------------------------------------


def test_a_plan_made_on_another_service_with_the_same_account_id_is_refused(bulkmail, sandbox, tmp_path,
                                                                            monkeypatch):
    from bulkmail.sandbox import Sandbox

    planned(bulkmail, sandbox, tmp_path)
    with Sandbox() as staging:  # same account id, another service (e.g. the staging host)
        for address in ("leaver1@acme.com", "leaver2@acme.com"):
            staging.store.add(address)
        monkeypatch.setenv("BULKMAIL_BASE_URL", staging.url)
        result = bulkmail("apply", "plan.json", "--yes")
        assert (result.code, result.err) == (
            2, f"Error: plan.json was made for the service at {sandbox.url} (account {sandbox.settings.account_id}); "
               f"this login is for the service at {staging.url} (the same account id). Nothing was sent. Use "
               f"--base-url {sandbox.url} (or that service's profile), or make a new plan.\n")
        assert staging.store.addresses() == {"leaver1@acme.com", "leaver2@acme.com"}
        assert staging.store.requests[("DELETE", "/email/mailbox")] == 0


def test_a_plan_applied_twice_says_which_run_applied_it_rather_than_stale(bulkmail, sandbox, tmp_path, monkeypatch):
    planned(bulkmail, sandbox, tmp_path)
    first = json.loads(bulkmail("apply", "plan.json", "--yes", "--report", "applied.csv", "--json").out)
    assert first["exit_status"] == 0
    from bulkmail.audit import AuditLog
    [end] = [r for r in AuditLog().records() if r.get("run_id") == first["run_id"] and r.get("event") == "end"]
    again = bulkmail("apply", "plan.json", "--yes")
    assert (again.code, again.err) == (
        2, f"Error: plan.json was already applied by run {first['run_id']} on {end['time']} (report: "
           f"{tmp_path / 'applied.csv'}). Nothing was sent. For further changes, make a new plan.\n")
    monkeypatch.setenv("BULKMAIL_AUDIT_LOG", str(tmp_path / "a-fresh-log.jsonl"))  # the log lost: the journal knows
    again = bulkmail("apply", "plan.json", "--yes")
    assert again.code == 2 and again.err.startswith("Error: plan.json was already applied on ")
    assert again.err.endswith(" (report: applied.csv). Nothing was sent. For further changes, make a new plan.\n")


def test_a_stale_sync_plan_names_live_mailboxes_by_address_never_by_an_internal_row_number(bulkmail, sandbox,
                                                                                         tmp_path):
    tenant(sandbox, 3)
    roster(tmp_path, ["staff0@acme.com", "staff1@acme.com", "svc-backup@acme.com"])
    assert bulkmail("sync", "roster.csv", "--dry-run", "--plan-out", "p.json").code == 0
    sandbox.store.remove(sandbox.store.find("staff2@acme.com")["id"])  # someone was quicker
    result = bulkmail("apply", "p.json", "--yes")
    assert (result.code, result.err) == (
        2, "Error: stale plan: 1 of the changes in p.json no longer match the service; make a new plan. Nothing was "
           "sent. (remove staff2@acme.com, a live mailbox not on the roster: the mailbox is gone)\n")


def test_a_sync_lists_a_live_mailbox_it_could_not_remove_by_address_not_by_an_internal_row_number(bulkmail, sandbox,
                                                                                                tmp_path):
    from bulkmail.sandbox import Fault

    tenant(sandbox, 3)
    roster(tmp_path, ["staff0@acme.com", "staff1@acme.com", "svc-backup@acme.com"])
    sandbox.script(Fault(422, method="DELETE", body='{"message": "Mailbox is locked"}'))
    result = bulkmail("sync", "roster.csv", "--yes", "--retries", "0")
    assert result.code == 1
    assert "Rows to look at:\n  live  staff2@acme.com  failed  " in result.out
    assert "row -" not in result.out


def test_a_keep_file_is_an_input_so_neither_the_report_nor_the_undo_file_may_replace_it(bulkmail, sandbox, tmp_path):
    sandbox.store.add("svc@acme.com")
    write_csv(tmp_path / "roster.csv", ["email", "a@acme.com"])
    for name in ("keep.csv", "keep-undo.csv"):
        write_csv(tmp_path / name, ["svc@acme.com"])
    report = bulkmail("sync", "roster.csv", "--keep", "keep.csv", "--report", "keep.csv", "--force", "--yes")
    assert (report.code, report.err) == (2, "Error: --report keep.csv is the input file; bulkmail never writes over "
                                            "its input. Choose another name.\n")
    undo = bulkmail("sync", "roster.csv", "--keep", "keep-undo.csv", "--report", "keep.xlsx", "--force", "--yes")
    assert (undo.code, undo.err) == (2, "Error: the undo file keep-undo.csv is the input file; bulkmail never writes "
                                        "over its input. Choose another name.\n")
    assert [(tmp_path / name).read_text() for name in ("keep.csv", "keep-undo.csv")] == ["svc@acme.com\n"] * 2
    assert sandbox.store.addresses() == {"svc@acme.com"}
