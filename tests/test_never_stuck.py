"""Never stuck, never lying: each finding of the combined-fault trial, reproduced on its own.

Renewal deadlocks, walks that miss mailboxes while others change the list, rows applied but
called failed, SIGTERM and --max-duration, sync --resume, full disks."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bulkmail.api.walk import walk
from bulkmail.api.client import Client
from bulkmail.jobs.export import ExportOptions, export_mailboxes
from bulkmail.jobs.change import import_file, load
from bulkmail.jobs.options import ImportOptions
from bulkmail.jobs.planning import make_plan
from bulkmail.jobs.verify import verify
from bulkmail.api.retry import Retry
from bulkmail.sandbox import Fault
from bulkmail.jobs.send import Sender
from helpers import POSTS, read_report, report_path, start, wave, write_csv

LIST = ("GET", "/email/mailbox/v2")


def finishes(work, seconds: float = 20) -> None:
    """Run ``work`` in a thread; a thread still running after ``seconds`` is a hang."""
    failure: list[BaseException] = []

    def run():
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung"
    if failure:
        raise failure[0]


# -- renewal never waits for a slot ---------------------------------------------------------------

@pytest.mark.parametrize("settings", [{"page_size_max": 10}], indirect=True)
def test_a_token_renewed_while_the_only_slot_is_taken_does_not_deadlock(sandbox):
    sandbox.store.seed(60, sandbox.settings.domains)
    client = Client(sandbox.url, "admin@acme.com", "sandbox-demo", concurrency=1)
    client.login()
    client.throttle.limit = 1  # as after a 429 halved it
    sandbox.on_request(lambda request: sandbox.store.expire_tokens() if request.args.get("page") == "3" else None)
    pages = []
    finishes(lambda: pages.extend(walk(client)))
    assert sum(len(page.items) for page in pages) == 60
    assert sandbox.store.requests[("POST", "/auth")] >= 2


@pytest.mark.parametrize("settings", [{"page_size_max": 7, "revoke_rate": 0.3, "single_session": True,
                                       "seed": 5}], indirect=True)
def test_revoked_tokens_at_every_concurrency_are_renewed_without_a_hang(sandbox):
    sandbox.store.seed(200, sandbox.settings.domains)
    for concurrency in (1, 2, 4, 8):
        client = Client(sandbox.url, "admin@acme.com", "sandbox-demo", concurrency=concurrency,
                        retry=Retry(attempts=10, sleep=lambda seconds: None))
        client.login()
        pages = []
        finishes(lambda: pages.extend(walk(client)))
        assert sum(len(page.items) for page in pages) == 200


@pytest.mark.parametrize("settings", [{"token_lifetime": 0.5, "bucket_rate": 30, "bucket_burst": 2,
                                       "latency": 0.01}], indirect=True)
def test_an_import_at_concurrency_1_under_a_rate_limit_with_short_tokens_finishes(sandbox, tmp_path):
    path, expected = wave(tmp_path, sandbox, 40, 10)
    run = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--concurrency", "1", "--batch-size", "2")
    out, err = run.communicate(timeout=90)
    assert run.returncode == 0, err
    assert sandbox.store.addresses() == expected and sandbox.store.requests[("POST", "/auth")] >= 2


@pytest.mark.parametrize("settings", [{"single_session": True, "latency": 0.03}], indirect=True)
def test_two_runs_of_one_user_on_a_one_session_service_both_finish(sandbox, tmp_path):
    first = write_csv(tmp_path / "a.csv", ["action,email"] + [f"add,a{n}@acme.com" for n in range(60)])
    second = write_csv(tmp_path / "b.csv", ["action,email"] + [f"add,b{n}@acme.com" for n in range(60)])
    runs = [start(sandbox, tmp_path, "import", name, "--yes", "-q", "--batch-size", "1") for name in
            (first.name, second.name)]
    for run in runs:
        out, err = run.communicate(timeout=90)
        assert run.returncode == 0, err
    assert len(sandbox.store.addresses()) == 120
    assert sandbox.store.requests[("POST", "/auth")] > 2  # they ended each other's sessions, and carried on


# -- walks that can be trusted ---------------------------------------------------------------------

@pytest.mark.parametrize("settings", [{"page_size_max": 20}], indirect=True)
def test_an_export_while_another_run_removes_mailboxes_holds_every_mailbox_that_existed_throughout(
        client, sandbox, tmp_path):
    sandbox.store.seed(400, sandbox.settings.domains)
    first_ids = sorted(sandbox.store.mailboxes)
    doomed = first_ids[:60:2]  # early mailboxes: each removal shifts every later page

    def remove_one(request):
        if request.path == "/email/mailbox/v2" and doomed:
            sandbox.store.remove(doomed.pop(0))

    sandbox.on_request(remove_one)
    result = export_mailboxes(client, tmp_path / "all.csv", ExportOptions(concurrency=4))
    exported = [int(line["id"]) for line in read_report(tmp_path / "all.csv")]
    throughout = set(first_ids) & set(sandbox.store.mailboxes)
    assert len(exported) == len(set(exported)) and throughout <= set(exported)
    assert result.uncertain == []


@pytest.mark.parametrize("settings", [{"page_size_max": 20, "churn_rate": 1.0, "seed": 3}], indirect=True)
def test_an_export_of_a_list_that_keeps_changing_everywhere_says_so_and_exits_1(bulkmail, sandbox):
    sandbox.store.seed(300, sandbox.settings.domains)
    before = set(sandbox.store.mailboxes)
    result = bulkmail("export", "-o", "all.csv", "-q")
    exported = {int(line["id"]) for line in read_report("all.csv")}
    missed = (before & set(sandbox.store.mailboxes)) - exported
    if result.code == 1:
        assert result.err.startswith("Error: bulkmail could not be sure it read every mailbox: around page ")
    else:
        assert result.code == 0 and not missed


def test_a_verify_walk_that_meets_empty_pages_does_not_call_applied_adds_failed(client, sandbox, tmp_path):
    sandbox.store.seed(300, sandbox.settings.domains)
    table, rows = load(write_csv(tmp_path / "w.csv", ["action,email"] + [f"add,new{n}@acme.com" for n in range(30)]))
    plan = make_plan(client, rows)
    Sender(client).send(plan)
    empty = '{"data": [], "meta": {"total": 330, "page_size": 100, "total_pages": 4}}'
    sandbox.script(*[Fault(200, method="GET", body=empty)] * 6)  # pages lost while meta still counts rows
    verify(client, rows)
    assert {str(row.status) for row in rows} == {"added"}


# -- in doubt, never failed -----------------------------------------------------------------------

def test_a_lost_answer_no_re_read_can_settle_is_in_doubt_never_failed_and_resume_settles_it(bulkmail, sandbox,
                                                                                            tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com", "add,b@acme.com"])
    sandbox.store.add("someone@acme.com")  # a domain in use: no canary row goes first
    sandbox.script(Fault(lost=True, method="POST", path="/email/mailbox"))
    # then every re-read fails too, until the retries run out
    sandbox.on_request(lambda request: sandbox.script(*[Fault(503, method="GET")] * 12)
                       if (request.method, request.path) == POSTS and sandbox.store.requests[POSTS] == 1 else None)
    result = bulkmail("import", "w.csv", "--yes", "-q", "--retries", "1", "--report", "r.csv")
    assert result.code == 4, result.err
    lines = read_report(tmp_path / "r.csv")
    assert [line["status"] for line in lines] == ["in_doubt", "in_doubt"]
    assert lines[0]["detail"].startswith("in doubt: the answer was lost and re-reading could not tell")
    sandbox.app.faults.clear()  # the service is back
    sandbox.app.hooks.clear()
    again = bulkmail("import", "w.csv", "--yes", "-q", "--resume", "--report", "r2.csv")
    assert again.code == 0
    assert [line["status"] for line in read_report(tmp_path / "r2.csv")] == ["added", "added"]
    assert sandbox.store.requests[POSTS] == 1  # settled by re-reading, never sent again


# -- signals and time limits ----------------------------------------------------------------------

def wait_for_posts(sandbox, run, count: int) -> None:
    deadline = time.monotonic() + 30
    while sandbox.store.requests[POSTS] < count and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def audit_records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("settings", [{"latency": 0.03}], indirect=True)
def test_sigterm_stops_like_ctrl_c_with_exit_143_a_report_and_an_audit_end_record(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("BULKMAIL_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    path, expected = wave(tmp_path, sandbox, 80, 20)
    run = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--batch-size", "5", "--concurrency", "1",
                "--allow-mass-remove")
    wait_for_posts(sandbox, run, 3)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 143, err
    assert err.endswith("Error: Stopped by SIGTERM: the batches in flight were finished, the rest not sent. Run the "
                        "same command with --resume to finish.\n")
    statuses = {line["status"] for line in read_report(report_path(out, tmp_path))}
    assert "not_attempted" in statuses and statuses <= {"added", "removed", "not_attempted"}
    assert [r["exit_status"] for r in audit_records(tmp_path) if r.get("event") == "end"] == [143]
    resumed = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--resume", "--allow-mass-remove")
    assert resumed.wait(timeout=60) == 0 and sandbox.store.addresses() == expected


@pytest.mark.parametrize("settings", [{"latency": 0.4}], indirect=True)
def test_a_second_signal_stops_at_once_and_resume_finishes_the_job(sandbox, tmp_path):
    path, expected = wave(tmp_path, sandbox, 20, 0)
    run = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--batch-size", "2", "--concurrency", "1")
    wait_for_posts(sandbox, run, 2)
    run.send_signal(signal.SIGTERM)
    time.sleep(0.1)  # while the batch in flight is still on the wire
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 143
    assert "Stopped at once. The journal keeps what was sent: run the same command with --resume." in err
    resumed = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--resume")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert sandbox.store.addresses() == expected
    assert {line["status"] for line in read_report(report_path(out, tmp_path))} == {"added"}


NESTED_SIGNAL = """
import signal, sys
from bulkmail.cancel import Cancel
from bulkmail.errors import Interrupted

for wanted in range(1, 30):  # the second signal's handler runs at each instruction of the first set() in turn
    cancel, seen = Cancel(), [0]
    signal.signal(signal.SIGUSR1, lambda *_: cancel.set(Interrupted("the second signal")))

    def tracer(frame, event, arg):
        if event == "line":
            seen[0] += 1
            if seen[0] == wanted:
                signal.raise_signal(signal.SIGUSR1)
        return tracer

    sys.settrace(tracer)
    cancel.set(Interrupted("the first signal"))
    sys.settrace(None)
    assert cancel.is_set()
print("every interleaving returned")
"""


def test_a_second_signal_handled_while_the_first_sets_the_cancel_flag_never_waits():
    # The handler of a second Ctrl-C/SIGTERM runs between two instructions of the main thread,
    # also inside the first handler's Cancel.set(); a lock taken there was waited for for ever.
    import sys

    done = subprocess.run([sys.executable, "-c", NESTED_SIGNAL], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, "every interleaving returned\n"), done.stderr


@pytest.mark.parametrize("settings", [{"latency": 0.5, "page_size_max": 5}], indirect=True)
def test_a_second_signal_during_an_export_stops_at_once_and_leaves_no_half_file(sandbox, tmp_path):
    # half a second a page: the first Ctrl-C waits for the page on the wire, the second comes meanwhile
    sandbox.store.seed(300, sandbox.settings.domains)
    run = start(sandbox, tmp_path, "export", "-o", "all.csv", "-q", "--concurrency", "1")
    deadline = time.monotonic() + 20
    while not list(tmp_path.glob(".all.csv.*.tmp")):  # the file is being written
        assert time.monotonic() < deadline and run.poll() is None, run.communicate()
        time.sleep(0.02)
    run.send_signal(signal.SIGINT)
    time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 130, err
    assert err.endswith("\nStopped at once. Nothing was written.\n"), err
    assert sorted(p.name for p in tmp_path.iterdir() if "all" in p.name) == []


@pytest.mark.parametrize("argv", [["log"], ["--json", "validate", "w.csv", "--report", "r.csv"]])
def test_standard_output_on_a_full_disk_says_so_with_exit_4(tmp_path, argv):
    import os
    import sys

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "bulkmail", *argv], stdout=full, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path, timeout=60)
    assert (done.returncode, done.stderr.splitlines()[-1:]) == (4, [
        "Error: Could not write the output (No space left on device); is the disk full? Free some space and run the "
        "command again."]), done.stderr


SWALLOWED_STOP = """
import signal, sys
import bulkmail.files.csvfile as csvfile
from bulkmail.cli.main import run

finish = csvfile.finish

class Finalizer:
    def __del__(self):  # Ctrl-C lands here: Python cannot raise out of a finalizer and drops it
        signal.raise_signal(signal.SIGINT)

def finishing(*args, **kwargs):
    Finalizer()
    return finish(*args, **kwargs)

csvfile.finish = finishing
print(run(["validate", "w.csv", "-q"]))
"""


def test_a_ctrl_c_that_lands_in_a_finalizer_still_stops_the_command_without_noise(tmp_path):
    import sys

    write_csv(tmp_path / "w.csv", ["action,email"] + [f"add,u{n}@acme.com" for n in range(50_000)])  # work left
    done = subprocess.run([sys.executable, "-c", SWALLOWED_STOP], capture_output=True, text=True, cwd=tmp_path,
                          timeout=30)
    assert (done.stdout, done.stderr) == ("130\n", "\nInterrupted.\n")
    assert not list(tmp_path.glob("reports/*"))


@pytest.mark.parametrize("settings", [{"latency": 0.03}], indirect=True)
def test_max_duration_stops_the_run_cleanly_with_exit_4_and_resume_finishes(sandbox, tmp_path):
    path, expected = wave(tmp_path, sandbox, 200, 0)
    run = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--batch-size", "2", "--concurrency", "1",
                "--max-duration", "2s")
    wait_for_posts(sandbox, run, 1)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 4, err
    assert err.endswith("Error: --max-duration 2s ran out: the batches in flight were finished, the rest not sent. "
                        "Run the same command with --resume to finish.\n")
    assert "not_attempted" in {line["status"] for line in read_report(report_path(out, tmp_path))}
    resumed = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--resume")
    assert resumed.wait(timeout=60) == 0 and sandbox.store.addresses() == expected


@pytest.mark.parametrize("settings", [{"latency": 0.05, "page_size_max": 5}], indirect=True)
def test_an_export_stopped_by_sigterm_or_its_time_limit_writes_no_file(sandbox, tmp_path):
    sandbox.store.seed(300, sandbox.settings.domains)
    run = start(sandbox, tmp_path, "export", "-o", "all.csv", "-q", "--concurrency", "1")
    time.sleep(1.5)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=30)
    assert (run.returncode, err) == (143, "Error: Stopped by SIGTERM: the export was not written.\n")
    timed = start(sandbox, tmp_path, "export", "-o", "all.csv", "-q", "--concurrency", "1", "--max-duration", "1s")
    out, err = timed.communicate(timeout=30)
    assert (timed.returncode, err) == (4, "Error: --max-duration 1s ran out: the export was not written.\n")
    assert not (tmp_path / "all.csv").exists()


def test_max_duration_takes_a_duration(bulkmail, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    for value, why in (("soon", "'soon' is not a duration; use e.g. 90m, 2h, 1h30m or 45s."),
                       ("0m", "'0m' is no time at all; give a duration above zero.")):
        result = bulkmail("import", "w.csv", "--yes", "--max-duration", value)
        assert result.code == 2 and result.err.endswith(f"Error: Invalid value for '--max-duration': {why}\n")


# -- sync --resume --------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [{"latency": 0.03}], indirect=True)
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_sync_resume_reports_the_interrupted_runs_adds_as_added_and_logs_each_change_once(sandbox, tmp_path,
                                                                                         monkeypatch, stop):
    monkeypatch.setenv("BULKMAIL_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    for n in range(10):
        sandbox.store.add(f"stays{n}@acme.com")
    roster = [f"stays{n}@acme.com" for n in range(10)] + [f"hire{n}@acme.com" for n in range(60)]
    write_csv(tmp_path / "roster.csv", ["email_address", *roster])
    args = ["sync", "roster.csv", "--yes", "-q", "--batch-size", "2", "--concurrency", "1", "--report", "r.csv",
            "--force"]
    run = start(sandbox, tmp_path, *args)
    wait_for_posts(sandbox, run, 4)
    run.send_signal(stop)
    run.communicate(timeout=60)
    resumed = start(sandbox, tmp_path, *args, "--resume")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    statuses = {line["email_address"]: line["status"] for line in read_report(tmp_path / "r.csv")}
    assert statuses == {a: "already_present" if a.startswith("stays") else "added" for a in roster}
    logged = sorted(r["email_address"] for r in audit_records(tmp_path) if r["type"] == "change")
    assert logged == sorted(a for a in roster if a.startswith("hire"))


# -- full disks -----------------------------------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB file system of its own (tmpfs), to fill: skipped where this user may not mount."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system of ``folder`` up to ``leave`` free bytes."""
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


@pytest.mark.parametrize("settings", [{"latency": 0.005}], indirect=True)
def test_a_full_disk_under_the_journal_stops_with_exit_4_and_a_report_and_resume_finishes(sandbox, tmp_path,
                                                                                         tiny_disk, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tiny_disk / "state"))
    monkeypatch.setenv("BULKMAIL_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    path, expected = wave(tmp_path, sandbox, 300, 0)
    filler = fill(tiny_disk, 160_000)  # room to start the journal and mark some batches
    run = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--batch-size", "1", "--concurrency", "1",
                "--report", "r.csv")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 4, err
    assert "cannot be written (database or disk is full); is the disk full? Nothing more was sent. Free some space, " \
           "then run the same command with --resume." in err, err + out
    assert (tmp_path / "r.csv").exists(), err + out
    statuses = [line["status"] for line in read_report(tmp_path / "r.csv")]
    assert "not_attempted" in statuses and "Traceback" not in err
    filler.unlink()
    resumed = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--resume", "--report", "r2.csv")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert sandbox.store.addresses() == expected
    logged = [r["email_address"] for r in audit_records(tmp_path) if r["type"] == "change"]
    assert sorted(logged) == sorted(expected - {"stays@acme.com"})


@pytest.mark.parametrize("settings", [{"latency": 0.005}], indirect=True)
def test_a_full_audit_log_never_holds_half_a_line_and_resume_logs_each_change_once(sandbox, tmp_path, tiny_disk,
                                                                                   monkeypatch):
    audit = tiny_disk / "audit.jsonl"
    monkeypatch.setenv("BULKMAIL_AUDIT_LOG", str(audit))
    path, expected = wave(tmp_path, sandbox, 300, 0)
    filler = fill(tiny_disk, 12_000)  # the start record fits; 300 change records do not
    run = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--report", "r.csv")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 4, err
    assert f"Error: The audit log {audit} cannot be written (No space left on device); is the disk full?" in err
    assert audit.read_text().endswith("\n") and all(json.loads(line) for line in audit.read_text().splitlines())
    assert {line["status"] for line in read_report(tmp_path / "r.csv")} == {"added"}
    filler.unlink()
    resumed = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--resume", "--report", "r2.csv")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    logged = [json.loads(line)["email_address"] for line in audit.read_text().splitlines()
              if json.loads(line)["type"] == "change"]
    assert sorted(logged) == sorted(expected - {"stays@acme.com"})


def test_two_runs_whose_reports_fall_back_never_replace_each_other(bulkmail, sandbox, tmp_path, tiny_disk):
    fill(tiny_disk, 3000)  # the output check's probe fits; a workbook report does not
    reports = []
    for n in range(2):
        write_csv(tmp_path / "w.csv", ["action,email", f"add,u{n}@acme.com"])
        result = bulkmail("import", "w.csv", "--yes", "-q", "--report", str(tiny_disk / "w-results.xlsx"))
        assert result.code == 0, result.err
        assert f"Warning: Could not write the report to {tiny_disk / 'w-results.xlsx'} (No space left on device); " \
               "it was written to " in result.err
        reports.append(Path(result.out.rstrip("\n").rpartition("Report: ")[2]))
    assert reports[0] != reports[1]
    assert [[line["email_address"] for line in read_report(path)] for path in reports] == [["u0@acme.com"],
                                                                                          ["u1@acme.com"]]


@pytest.mark.parametrize("leave", [20_000, 60_000])
def test_a_journal_that_cannot_be_created_on_a_full_disk_says_so_with_exit_4_and_sends_nothing(
        sandbox, tmp_path, tiny_disk, monkeypatch, leave):
    monkeypatch.setenv("XDG_STATE_HOME", str(tiny_disk / "state"))
    monkeypatch.setenv("BULKMAIL_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    path, _ = wave(tmp_path, sandbox, 20, 0)
    fill(tiny_disk, leave)
    run = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--report", "r.csv")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 4, err
    assert "is the disk full? Nothing was sent. Free some space, then run the same command again." in err, err
    assert sandbox.store.requests[POSTS] == 0


@pytest.mark.parametrize("name", ["all.csv", "all.xlsx"])
def test_an_export_onto_a_full_disk_says_so_with_exit_4_and_leaves_no_file(bulkmail, sandbox, tiny_disk, name):
    sandbox.store.seed(3000, sandbox.settings.domains)
    fill(tiny_disk, 40_000)
    result = bulkmail("export", "-o", str(tiny_disk / name), "-q")
    assert (result.code, result.err) == (4, f"Error: Could not write {tiny_disk / name} (No space left on device); is "
                                            "the disk full? The export stopped and it left no part of the file. Free "
                                            "some space and export again, or write it elsewhere with -o.\n")
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]


def test_a_report_that_falls_back_never_puts_its_undo_file_over_another_runs(bulkmail, sandbox, tmp_path, tiny_disk):
    from bulkmail.files.paths import fallback_folder

    earlier = fallback_folder() / "w-results-undo.csv"  # an earlier run's undo file, sent there by a full disk
    earlier.write_text("action,email_address\nremove,earlier@acme.com\n")
    fill(tiny_disk, 3000)  # the output check's probe fits; the report does not
    write_csv(tmp_path / "w.csv", ["action,email", "add,u0@acme.com"])
    result = bulkmail("import", "w.csv", "--yes", "--report", str(tiny_disk / "w-results.csv"))
    assert result.code == 0, result.err
    report = Path(result.out.rstrip("\n").rpartition("Report: ")[2])
    assert report == fallback_folder() / "w-results-2.csv"
    assert earlier.read_text() == "action,email_address\nremove,earlier@acme.com\n"
    assert [line["email_address"] for line in read_report(fallback_folder() / "w-results-2-undo.csv")] == ["u0@acme.com"]


def test_an_undo_file_a_full_disk_sent_elsewhere_is_found_by_its_run_id(bulkmail, sandbox, tmp_path, tiny_disk,
                                                                        monkeypatch):
    monkeypatch.setenv("BULKMAIL_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    name = "N" * 200
    write_csv(tmp_path / "w.csv", ["action,email,realname"] + [f"add,u{n}@acme.com,{name}" for n in range(200)])
    fill(tiny_disk, 56_000)  # the report (51 kB) fits; its undo file (5 kB) then does not
    result = bulkmail("import", "w.csv", "--yes", "--report", str(tiny_disk / "r.csv"))
    assert result.code == 0, result.err
    assert (tiny_disk / "r.csv").is_file() and not (tiny_disk / "r-undo.csv").exists()
    assert f"Could not write the undo file to {tiny_disk / 'r-undo.csv'} (No space left on device)" in result.err
    run_id = [r for r in audit_records(tmp_path) if r.get("event") == "end"][-1]["run_id"]
    undo = bulkmail("undo", run_id, "--dry-run", "--allow-mass-remove", "--report", str(tmp_path / "u.csv"))
    assert undo.code == 0, undo.err
    assert {line["status"] for line in read_report(tmp_path / "u.csv")} == {"would_remove"}


# -- pages lost on their way, shared rate limits (what a new admin's attack found) ---------------

@pytest.mark.parametrize("settings", [{"empty_page_rate": 0.5, "seed": 11, "page_size_max": 50}], indirect=True)
def test_pages_that_come_back_empty_never_make_a_status_false(bulkmail, sandbox, tmp_path):
    sandbox.store.seed(600, sandbox.settings.domains)
    before = sandbox.store.addresses()
    leaving = sorted(before)[:40]
    lines = ["action,email"] + [f"remove,{a}" for a in leaving] + [f"add,hire{n}@acme.com" for n in range(40)]
    write_csv(tmp_path / "w.csv", lines)
    result = bulkmail("import", "w.csv", "--yes", "-q", "--allow-mass-remove", "--report", "r.csv")
    assert "Internal error" not in result.err and result.code in (0, 4), result.err
    now = sandbox.store.addresses()
    for line in read_report(tmp_path / "r.csv"):
        address, status = line["email_address"], line["status"]
        assert status in {"added", "removed", "not_attempted", "in_doubt"}, (address, status, line["detail"])
        if status in ("added", "removed"):
            assert (address in now) == (status == "added")


@pytest.mark.parametrize("settings", [{"empty_page_rate": 0.5, "seed": 4, "page_size_max": 50}], indirect=True)
def test_an_export_whose_pages_keep_coming_back_empty_reads_on_and_never_blames_other_writers(bulkmail, sandbox):
    sandbox.store.seed(600, sandbox.settings.domains)
    result = bulkmail("export", "-o", "all.csv", "-q")
    ids = {int(line["id"]) for line in read_report("all.csv")}
    if result.code == 0:
        assert ids == set(sandbox.store.mailboxes)
    else:
        assert result.code == 1 and result.err.startswith("Error: bulkmail could not be sure it read every mailbox: page ")
        assert " kept coming back with 0 mailboxes while the service counts 600" in result.err


@pytest.mark.parametrize("settings", [{"empty_page_rate": 0.5, "seed": 3, "page_size_max": 50}], indirect=True)
def test_a_sync_that_cannot_read_the_whole_list_sends_nothing_and_never_leaves_a_mailbox_unsaid(bulkmail, sandbox,
                                                                                                tmp_path):
    sandbox.store.seed(400, sandbox.settings.domains)
    scoped = sorted(a for a in sandbox.store.addresses() if a.endswith("@acme.com"))
    write_csv(tmp_path / "roster.csv", ["email_address", *scoped[: len(scoped) * 4 // 5]])
    result = bulkmail("sync", "roster.csv", "--scope", "acme.com", "--yes", "-q", "--allow-mass-remove",
                      "--report", "r.csv")
    now = {a for a in sandbox.store.addresses() if a.endswith("@acme.com")}
    if result.code == 0:
        assert now == set(scoped[: len(scoped) * 4 // 5])
    else:
        assert result.code == 4 and "a sync needs every live mailbox to know what to remove" in result.err
        assert now == set(scoped)  # nothing sent


def test_a_call_refused_by_a_rate_limit_more_times_than_its_attempts_still_goes_through(client, sandbox, sleeps):
    client.login()
    sandbox.script(*[Fault(429, method="GET")] * (client.retry.attempts * 2))
    assert client.get_page(1).items == []
    assert len(sleeps) == client.retry.attempts * 2


def test_a_rate_limit_that_never_lets_up_gives_up_after_the_policys_wait(sandbox):
    waited = []
    client = Client(sandbox.url, "admin@acme.com", "sandbox-demo", retry=Retry(rate_limited_for=20, sleep=waited.append))
    client.login()
    sandbox.script(*[Fault(429, method="GET", retry_after=5)] * 50)
    with pytest.raises(Exception, match="gave up after"):
        client.get_page(1)
    assert 20 <= sum(waited) < 40


@pytest.mark.parametrize("settings", [{"bucket_rate": 15, "bucket_burst": 3, "latency": 0.005}], indirect=True)
def test_two_imports_sharing_a_rate_limit_both_finish(sandbox, tmp_path):
    for name in ("a", "b"):
        write_csv(tmp_path / f"{name}.csv", ["action,email"] + [f"add,{name}{n}@acme.com" for n in range(120)])
    runs = [start(sandbox, tmp_path, "import", f"{name}.csv", "--yes", "-q", "--batch-size", "5") for name in "ab"]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    assert len(sandbox.store.addresses()) == 240


def test_a_resumed_sync_leaves_alone_a_kept_mailbox_that_others_removed_meanwhile(tmp_path):
    from bulkmail.jobs.journal import Journal
    from bulkmail.records import Row

    roster = write_csv(tmp_path / "roster.csv", ["email_address", "a@acme.com"])
    with Journal(roster, "account") as journal:
        journal.start()
        kept = Row(-7, "remove", "svc@acme.com", status="kept", mailbox={"id": 7})
        removed = Row(-8, "remove", "gone@acme.com", status="planned", mailbox={"id": 8})
        journal.record([kept])
        journal.mark_sent([removed])
        assert [row.email_address for row in journal.live_rows()] == ["gone@acme.com"]


def test_a_report_that_fails_to_write_for_a_reason_other_than_the_disk_still_ends_the_run_cleanly(client, sandbox,
                                                                                                    tmp_path):
    client.login()  # the journal is kept per account
    write_csv(tmp_path / "w.csv", ["action,email", "add,new@acme.com"])
    bad = tmp_path / "r\x00.csv"  # open() refuses it with a ValueError, not an OSError
    result = import_file(client, tmp_path / "w.csv", report=bad)
    assert sandbox.store.addresses() == {"new@acme.com"}
    assert (int(result.exit_status), result.report, [r.status for r in result.rows]) == (1, None, ["added"])
    assert str(result.stopped) == (f"Could not write the report to {bad} (ValueError: embedded null byte). This is a "
                                   "bug in bulkmail: please report it. What was sent stays sent; run the same command "
                                   "with --resume to write the report again.")
    again = import_file(client, tmp_path / "w.csv", ImportOptions(resume=True), report=tmp_path / "r.csv")
    assert (int(again.exit_status), again.resumed, [r.status for r in again.rows]) == (0, True, ["added"])


def test_tokens_refused_now_and_then_do_not_make_the_step_back_grow():
    from bulkmail.api.auth import Grant, Tokens

    issued, waits = iter(range(100)), []
    tokens = Tokens(lambda: Grant(f"t{next(issued)}", time.monotonic() + 60, time.monotonic()),
                    lambda n: waits.append(n) or 0.0)
    tokens.log_in()
    for _ in range(5):  # a token revoked soon after its login, then a call that goes through
        tokens.served(tokens.renew_after_401(tokens.fresh()))
    assert waits == [1, 1, 1, 1, 1]
    for _ in range(3):  # refused again and again before any call goes through: another session
        tokens.renew_after_401(tokens.fresh())
    assert waits[5:] == [1, 2, 3]
