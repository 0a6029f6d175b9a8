"""Faults, crashes and resumes, over real HTTP and with real `bulkmail` processes."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from helpers import DELETES, POSTS, read_report, report_path, start, wave, write_csv

from bulkmail.api.client import Client
from bulkmail.api.retry import Retry, Throttle, parse_retry_after
from bulkmail.errors import InputError
from bulkmail.files.paths import journal_dir
from bulkmail.jobs.change import import_file, load
from bulkmail.jobs.journal import Journal, open_journal
from bulkmail.jobs.options import ImportOptions
from bulkmail.jobs.planning import make_plan
from bulkmail.jobs.send import Sender
from bulkmail.sandbox import Fault


def interrupted_mid_send(folder: Path) -> bool:
    """Did the journal of the file stop unfinished with rows already sent?"""
    found = list(journal_dir().glob("*.sqlite"))
    if not found:  # killed before the journal was opened
        return False
    [path] = found
    try:
        with sqlite3.connect(path) as db:
            unfinished = db.execute("SELECT count(*) FROM run WHERE finished IS NULL").fetchone()[0]
            sent = db.execute("SELECT count(*) FROM rows WHERE sent = 1").fetchone()[0]
    except sqlite3.OperationalError:  # killed while the journal was being created: nothing sent yet
        return False
    return bool(unfinished and sent)


def assert_true_report(lines: list[dict], rows: int) -> None:
    """Every row once, and each change reported as made by this import (not as a no-op)."""
    assert sorted(int(line["row"]) for line in lines) == list(range(2, rows + 2))
    assert {(line["action"], line["status"]) for line in lines} <= {("add", "added"), ("remove", "removed")}
    # every change verified, with its ids, like a run that was never stopped
    assert all(line["mailbox_id"] and line["email_address_id"] for line in lines)
    assert not [line for line in lines if "not verified" in line["detail"]]


@pytest.mark.parametrize("settings", [{"latency": 0.03}], indirect=True)
def test_ctrl_c_stops_cleanly_with_exit_130_and_resume_finishes_with_one_true_report(sandbox, tmp_path):
    path, expected = wave(tmp_path, sandbox, 120, 40)
    run = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--batch-size", "5", "--concurrency", "1",
                "--allow-mass-remove")
    deadline = time.monotonic() + 30
    while sandbox.store.requests[POSTS] < 3 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert err.endswith("Error: Interrupted: the batches in flight were finished, the rest not sent. Run the same "
                        "command with --resume to finish.\n")
    assert "not_attempted" in report_path(out, tmp_path).read_text(encoding="utf-8-sig")

    again = start(sandbox, tmp_path, "import", path.name, "--yes", "-q")
    assert again.wait(timeout=60) == 2
    assert "is not finished. Pass --resume to finish it" in again.stderr.read()

    resumed = start(sandbox, tmp_path, "import", path.name, "--yes", "-q", "--resume", "--allow-mass-remove")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert sandbox.store.addresses() == expected
    assert_true_report(read_report(report_path(out, tmp_path)), 160)


@pytest.mark.parametrize("settings", [{"latency": 0.03}], indirect=True)
def test_kill_9_at_random_moments_then_resume_ends_in_the_expected_state(sandbox, tmp_path):
    path, expected = wave(tmp_path, sandbox, 140, 60)
    rng = random.Random(20261124)
    command = ["import", path.name, "--yes", "-q", "--resume", "--batch-size", "7", "--concurrency", "2",
               "--allow-mass-remove"]
    mid_send = 0
    for round_ in range(5):
        changes = sandbox.store.requests[POSTS] + sandbox.store.requests[DELETES]
        run = start(sandbox, tmp_path, *command)
        if round_ == 0:
            time.sleep(rng.uniform(0.05, 0.8))  # during start-up, reading or planning
        else:  # right after a random number of further changes reached the server
            target, deadline = changes + rng.randint(1, 6), time.monotonic() + 30
            while (sandbox.store.requests[POSTS] + sandbox.store.requests[DELETES] < target
                   and run.poll() is None and time.monotonic() < deadline):
                time.sleep(0.002)
        run.kill()
        run.wait()
        mid_send += interrupted_mid_send(tmp_path)
    final = start(sandbox, tmp_path, *command)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert mid_send >= 1, "no kill landed while a run was sending; the test proved nothing about resume"
    assert sandbox.store.addresses() == expected
    assert_true_report(read_report(report_path(out, tmp_path)), 200)


def test_resume_of_a_finished_run_points_to_its_report(bulkmail, sandbox, tmp_path):
    path, _ = wave(tmp_path, sandbox, 3, 1)
    first = bulkmail("import", path.name, "--yes", "-q")
    again = bulkmail("import", path.name, "--yes", "-q", "--resume")
    assert again.code == first.code == 0
    report = first.out.splitlines()[-1][len("Report: "):]
    assert again.out.splitlines()[-1].startswith("Nothing to resume: the last run of wave.csv finished at ")
    assert again.out.endswith(f". Report: {report}\n")


def test_resume_refuses_a_file_that_changed_since_the_interrupted_run(tmp_path):
    path = write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    journal, _, _ = open_journal(path, folder=tmp_path)
    journal.close()  # left unfinished, as by a crash
    path.write_text("action,email\nadd,b@acme.com\n")
    with pytest.raises(InputError) as caught:
        open_journal(path, resume=True, folder=tmp_path)
    assert str(caught.value).startswith("w.csv changed since the interrupted run of ")
    assert str(caught.value).endswith(", so that run cannot be finished with it. Restore the file as it was and use "
                                      "--resume, or start a new run with --fresh.")


def test_a_second_run_on_the_same_file_is_refused_while_the_first_holds_it(bulkmail, sandbox, tmp_path):
    path = write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    with Journal(path, sandbox.settings.account_id):
        result = bulkmail("import", "w.csv", "--yes")
    assert result.code == 2
    assert result.err == (f"Error: Another bulkmail run (pid {os.getpid()}) is importing this file right now. Wait "
                          "for it to finish, then try again.\n")
    assert sandbox.store.addresses() == set()
    assert bulkmail("import", "w.csv", "--yes", "--fresh").code == 0  # the lock went with its holder


def test_mutation_answered_429_is_sent_again_after_retry_after_or_backoff(client, sandbox, sleeps, tmp_path):
    client.login()
    sandbox.script(Fault(429, method="POST", path="/email/mailbox", retry_after=3),
                       Fault(429, method="POST", path="/email/mailbox"))
    result = import_file(client, write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"]),
                         report=tmp_path / "r.csv")
    assert [r.status for r in result.rows] == ["added"]
    assert sleeps[0] == 3.0 and 0 <= sleeps[1] <= 1.0 and len(sleeps) == 2
    assert sandbox.store.requests[POSTS] == 3


def test_retry_after_as_an_http_date():
    from datetime import datetime, timezone
    now = datetime(2026, 11, 24, 8, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Tue, 24 Nov 2026 08:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon", now) is None and parse_retry_after("2.5") == 2.5


def test_throttle_halves_on_429_and_recovers_one_step_at_a_time():
    throttle = Throttle(8, recover_after=3)
    throttle.record(True)
    throttle.record(True)
    assert throttle.limit == 2
    for _ in range(6):
        throttle.record(False)
    assert throttle.limit == 4


def test_max_remove_stops_before_anything_is_sent(bulkmail, sandbox, tmp_path):
    path, _ = wave(tmp_path, sandbox, 2, 5)
    result = bulkmail("import", path.name, "--yes", "--max-remove", "4")
    assert result.code == 2
    assert result.err == ("Error: The plan removes 5 mailboxes, more than --max-remove 4. Nothing was sent. Check the "
                          "file, or raise --max-remove.\n")
    assert sandbox.store.requests[POSTS] == 0 and len(sandbox.store.addresses()) == 6


def test_removing_a_large_share_of_the_account_needs_an_explicit_flag(bulkmail, sandbox, tmp_path):
    path, expected = wave(tmp_path, sandbox, 0, 30)
    result = bulkmail("import", path.name, "--yes")
    assert result.code == 2
    assert result.err == ("Error: The plan removes 30 of the account's 31 mailboxes (97%). Nothing was sent. If that "
                          "is really intended, add --allow-mass-remove.\n")
    assert len(sandbox.store.addresses()) == 31
    assert bulkmail("import", path.name, "--yes", "--allow-mass-remove").code == 0
    assert sandbox.store.addresses() == expected


@pytest.mark.parametrize("settings", [{"password": "S3cret-pa55word", "token_lifetime": 1, "lost_rate": 0.3,
                                       "error_rate": 0.1, "seed": 4}], indirect=True)
def test_no_password_or_token_in_any_output_report_or_journal_at_any_verbosity(bulkmail, sandbox, tmp_path):
    path, _ = wave(tmp_path, sandbox, 30, 5)
    outputs = [bulkmail("-vv", "import", path.name, "--yes", "--report", "r.xlsx", "--retries", "10"),
               bulkmail("-vv", "export", "-o", "e.csv", "--retries", "10"),
               bulkmail("-vv", "login", "--retries", "10")]
    assert [o.code for o in outputs] == [0, 0, 0]
    secrets = [sandbox.settings.password, *sandbox.store.tokens]
    assert len(secrets) > 2
    files = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for secret in secrets:
        assert all(secret not in o.out + o.err for o in outputs)
        assert all(secret.encode() not in data for data in files)


def test_client_repr_and_settings_repr_hide_the_password():
    from bulkmail.config import ConnectionSettings
    assert "pw-123" not in repr(Client("https://api.example.com", "u", "pw-123"))
    assert "pw-123" not in repr(ConnectionSettings(password="pw-123"))


@pytest.mark.parametrize("seed", range(4))
def test_randomised_faults_never_lose_or_repeat_a_change_and_statuses_stay_true(sandbox, sleeps, tmp_path, seed):
    rng = random.Random(seed)
    sandbox.configure(error_rate=0.15, lost_rate=0.1, rate_limit_rate=0.05, retry_after=rng.choice([None, 0.1]),
                      duplicate_add=rng.choice(["conflict", "ignore"]), missing_remove=rng.choice(["not_found", "ignore"]),
                      post_answer=rng.choice(["success", "list", "created", "empty"]),
                      delete_answer=rng.choice(["body", "empty"]), max_batch=rng.choice([None, 16]),
                      page_size_max=rng.choice([7, 100]), seed=seed)
    path, expected = wave(tmp_path, sandbox, rng.randint(20, 80), rng.randint(5, 30))
    client = Client(sandbox.url, "admin@acme.com", "sandbox-demo", retry=Retry(attempts=12, sleep=sleeps),
                    concurrency=rng.choice([1, 4]))
    options = ImportOptions(batch_size=rng.choice([5, 25, 100]), allow_mass_remove=True)
    result = import_file(client, path, options, report=tmp_path / "r.csv")
    assert sandbox.store.addresses() == expected
    assert result.exit_status == 0
    assert_true_report(read_report(result.report), len(result.rows))


@pytest.mark.parametrize("settings", [{"token_lifetime": 0.4, "latency": 0.03}], indirect=True)
def test_short_lived_tokens_are_renewed_throughout_a_long_run(sandbox, tmp_path):
    path, expected = wave(tmp_path, sandbox, 60, 20)
    client = Client(sandbox.url, "admin@acme.com", "sandbox-demo", concurrency=1)
    result = import_file(client, path, ImportOptions(batch_size=2, allow_mass_remove=True),
                         report=tmp_path / "r.csv")
    assert result.exit_status == 0 and sandbox.store.addresses() == expected
    assert sandbox.store.requests[("POST", "/auth")] >= 3


def test_lost_answer_that_cannot_be_re_read_is_in_doubt_never_failed(sandbox, sleeps, tmp_path):
    client = Client(sandbox.url, "admin@acme.com", "sandbox-demo", retry=Retry(attempts=2, sleep=sleeps))
    table, rows = load(write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"]))
    plan = make_plan(client, rows)
    sandbox.script(Fault(lost=True, method="POST", path="/email/mailbox"),
                       *[Fault(503, method="GET")] * 2)  # then the re-read fails too
    sender = Sender(client)
    sender.send(plan)
    [row] = rows
    assert row.status == "in_doubt" and row.detail.startswith("in doubt: the answer was lost and re-reading could not tell")
    assert sender.stopped.exit_status == 4 and sandbox.store.addresses() == {"a@acme.com"}
