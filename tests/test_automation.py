"""Machine-readable results and the audit log (issue 12)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bulkmail.audit import AuditLog
from helpers import POSTS, SAMPLES, read_report, write_csv

COMMON = {"command", "exit_status", "started", "finished", "duration_s", "version", "profile", "service", "account",
          "error"}


def one_json_object(result) -> dict:
    """Standard output is exactly one JSON object (and its newline), nothing else."""
    assert result.out.endswith("\n") and result.out.count("\n") == 1, result.out
    obj = json.loads(result.out)
    assert COMMON <= set(obj) and obj["exit_status"] == result.code
    return obj


def audit_records(user_folders) -> list[dict]:
    return list(AuditLog(user_folders / "xdg_state_home" / "bulkmail" / "log" / "audit.jsonl").records())


def test_import_json_matches_the_report_and_the_exit_status(bulkmail, sandbox, tmp_path):
    sandbox.store.seed(250, sandbox.settings.domains)
    result = bulkmail("import", SAMPLES / "every-error.xlsx", "--yes", "-q", "--json", "--report", "r.csv")
    obj = one_json_object(result)
    lines = read_report(tmp_path / "r.csv")
    from collections import Counter
    assert obj["counts"] == dict(Counter(line["status"] for line in lines))
    assert (obj["command"], obj["exit_status"], obj["error"]) == ("import", 1, None)
    assert (obj["service"], obj["account"], obj["report"]) == (sandbox.url, sandbox.settings.account_id, "r.csv")
    assert obj["input"]["rows"] == 13 and len(obj["input"]["sha256"]) == 64
    assert obj["problems"][0] == {"row": 3, "email_address": "kaito.eriksen0@acme.com", "status": "already_present",
                                  "detail": lines[1]["detail"]}
    assert "Results: " in result.err  # the people's text went to standard error


def test_validate_export_template_login_and_profile_list_each_print_one_object(bulkmail, sandbox, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    assert one_json_object(bulkmail("validate", "w.csv", "--json"))["counts"] == {"valid": 1}
    exported = one_json_object(bulkmail("--json", "export", "-o", "e.csv"))
    assert (exported["output"], exported["mailboxes"], exported["pages"]) == ("e.csv", 0, 1)
    assert one_json_object(bulkmail("template", "-o", "t.xlsx", "--json"))["output"] == "t.xlsx"
    assert one_json_object(bulkmail("login", "--json"))["account"] == sandbox.settings.account_id
    assert one_json_object(bulkmail("profile", "list", "--json"))["profiles"] == []


def test_a_refused_rail_is_exit_2_with_the_reason_in_the_object(bulkmail, sandbox, tmp_path):
    for n in range(3):
        sandbox.store.add(f"l{n}@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email"] + [f"remove,l{n}@acme.com" for n in range(3)])
    obj = one_json_object(bulkmail("import", "w.csv", "--yes", "--max-remove", "1", "--json"))
    assert obj["exit_status"] == 2
    assert obj["error"].startswith("The plan removes 3 mailboxes, more than --max-remove 1.")
    assert obj["counts"] == {"not_attempted": 3}


def test_login_failure_and_an_unreachable_service_are_objects_with_exit_3_and_4(bulkmail, monkeypatch):
    monkeypatch.setenv("BULKMAIL_PASSWORD", "wrong")
    refused = one_json_object(bulkmail("export", "--json"))
    assert refused["exit_status"] == 3 and refused["error"].startswith("Login failed for admin@acme.com: 401")
    gone = one_json_object(bulkmail("export", "--json", "--base-url", "http://127.0.0.1:9", "--retries", "0"))
    assert gone["exit_status"] == 4 and gone["error"].startswith("Cannot reach http://127.0.0.1:9")


def test_a_usage_error_is_an_object_too(bulkmail):
    obj = one_json_object(bulkmail("export", "--json", "--pagesize", "5"))
    assert (obj["command"], obj["exit_status"]) == ("export", 2)
    assert obj["error"] == "No such option '--pagesize'. Did you mean '--page-size'?"


# -- the audit log -------------------------------------------------------------------------------


def test_an_import_writes_run_records_and_one_change_per_mailbox(bulkmail, sandbox, tmp_path, user_folders):
    sandbox.store.add("leaver@acme.com")
    sandbox.store.add("stays@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email", "add,new@acme.com", "remove,leaver@acme.com", "remove,gone@acme.com"])
    assert bulkmail("import", "w.csv", "--yes").code == 0
    records = audit_records(user_folders)
    start, *changes, end = records
    assert (start["type"], start["event"], end["event"]) == ("run", "start", "end")
    assert start["run_id"] == end["run_id"] == changes[0]["run_id"]
    assert start["input"]["path"] == str(tmp_path / "w.csv") and len(start["input"]["sha256"]) == 64
    assert start["operator"] and start["host"] and start["account"] == sandbox.settings.account_id
    assert sorted((c["action"], c["email_address"], c["status"], c["verified"]) for c in changes) == [
        ("add", "new@acme.com", "added", True), ("remove", "leaver@acme.com", "removed", True)]
    assert end["counts"] == {"added": 1, "removed": 1, "not_found": 1} and end["exit_status"] == 0
    path = user_folders / "xdg_state_home" / "bulkmail" / "log" / "audit.jsonl"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_dry_run_logs_its_run_only(bulkmail, sandbox, tmp_path, user_folders):
    write_csv(tmp_path / "w.csv", ["action,email", "add,new@acme.com"])
    assert bulkmail("import", "w.csv", "--dry-run").code == 0
    assert [(r["type"], r["event"], r["dry_run"]) for r in audit_records(user_folders)] == [
        ("run", "start", True), ("run", "end", True)]


@pytest.mark.parametrize("settings", [{"latency": 0.03, "lost_rate": 0.3, "seed": 3}], indirect=True)
def test_lost_answers_and_a_resume_log_every_change_exactly_once(sandbox, tmp_path, user_folders):
    sandbox.store.add("someone@acme.com")
    adds = [f"hire{n}@acme.com" for n in range(60)]
    write_csv(tmp_path / "w.csv", ["action,email"] + [f"add,{a}" for a in adds])
    env = dict(os.environ, BULKMAIL_BASE_URL=sandbox.url, BULKMAIL_USERNAME="admin@acme.com",
               BULKMAIL_PASSWORD="sandbox-demo")
    command = [sys.executable, "-m", "bulkmail", "import", "w.csv", "--yes", "-q", "--batch-size", "3",
               "--concurrency", "1", "--retries", "10"]
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while sandbox.store.requests[POSTS] < 6 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert first.returncode == 130
    resumed = subprocess.run(command + ["--resume"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    changes = [r for r in audit_records(user_folders) if r["type"] == "change"]
    assert sorted(c["email_address"] for c in changes) == sorted(adds)  # each once, none missing
    assert sandbox.store.addresses() == set(adds) | {"someone@acme.com"}
    runs = {r["run_id"] for r in audit_records(user_folders) if r["type"] == "run"}
    assert len(runs) == 2


def append_many(path: str, writer: int) -> None:
    log = AuditLog(path)
    for n in range(150):
        log.append([{"type": "change", "writer": writer, "n": n, "pad": "x" * 300}])


def test_concurrent_runs_append_whole_lines_without_interleaving(tmp_path):
    path = str(tmp_path / "audit.jsonl")
    workers = [multiprocessing.Process(target=append_many, args=(path, w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    lines = Path(path).read_text().splitlines()
    assert len(lines) == 600 and all(json.loads(line)["pad"] == "x" * 300 for line in lines)
    assert sorted((r["writer"], r["n"]) for r in map(json.loads, lines)) == [(w, n) for w in range(4) for n in range(150)]


def test_the_log_rotates_at_its_size_and_keeps_a_few_generations(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=1000, keep=2)
    for n in range(40):
        log.append([{"type": "run", "n": n, "pad": "y" * 80}])
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert names == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    kept = [r["n"] for r in log.records()]
    assert kept == sorted(kept) and kept[-1] == 39 and kept[0] > 0  # the oldest went, the order holds


def test_log_email_answers_who_removed_a_mailbox_from_which_file_and_when(bulkmail, sandbox, tmp_path):
    mailbox = sandbox.store.add("leaver@acme.com")
    sandbox.store.add("stays@acme.com")
    write_csv(tmp_path / "leavers.csv", ["action,email", "remove,leaver@acme.com"])
    run_id = one_json_object(bulkmail("import", "leavers.csv", "--yes", "--json"))["run_id"]
    result = bulkmail("log", "--email", "LEAVER@acme.com")
    [line] = result.out.splitlines()
    import getpass
    import socket
    assert line.endswith(f"  removed  leaver@acme.com  mailbox {mailbox['id']}  by {getpass.getuser()}@"
                         f"{socket.gethostname()}  run {run_id}  from {tmp_path / 'leavers.csv'}")
    runs = one_json_object(bulkmail("log", "--json"))["runs"]
    assert [r["command"] for r in runs] == ["import"] and runs[0]["counts"] == {"removed": 1}
    assert bulkmail("log", "--email", "nobody@acme.com").out.startswith("No changes found in ")


@pytest.mark.parametrize("settings", [{"password": "S3cret-audit", "token_lifetime": 1}], indirect=True)
def test_no_secret_reaches_the_audit_log(bulkmail, sandbox, tmp_path, user_folders):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    assert bulkmail("-vv", "import", "w.csv", "--yes").code == 0
    text = (user_folders / "xdg_state_home" / "bulkmail" / "log" / "audit.jsonl").read_text()
    assert "S3cret-audit" not in text and not any(token in text for token in sandbox.store.tokens)


def test_the_report_summary_names_operator_host_version_input_and_times(bulkmail, sandbox, tmp_path):
    import openpyxl
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    assert bulkmail("import", "w.csv", "--yes", "--report", "r.xlsx").code == 0
    summary = dict(openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True))
    assert {"operator", "host", "tool version", "input sha256", "started", "finished"} <= set(summary)
    assert len(summary["input sha256"]) == 64
