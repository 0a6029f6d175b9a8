"""The send stage alone, against the sandbox over real HTTP."""

from __future__ import annotations

from bulkmail.jobs.change import load
from bulkmail.jobs.planning import make_plan
from bulkmail.sandbox import Fault
from bulkmail.jobs.send import LOST_ANSWER, Sender, chunks
from helpers import write_csv


def planned(client, tmp_path, lines):
    table, rows = load(write_csv(tmp_path / "w.csv", ["action,email"] + lines))
    return rows, make_plan(client, rows)


def test_chunks_cut_in_order_with_a_short_last_one():
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_413_for_a_single_row_fails_that_row_only(client, sandbox, tmp_path):
    sandbox.store.add("someone@acme.com")
    rows, plan = planned(client, tmp_path, ["add,a@acme.com", "add,b@acme.com"])
    sandbox.script(Fault(413, method="POST", path="/email/mailbox"), Fault(413, method="POST", path="/email/mailbox"))
    sender = Sender(client, batch_size=1, concurrency=1)
    sender.send(plan)
    assert rows[0].status == "failed" and rows[0].http_status == 413
    assert rows[0].detail.startswith("413 Request Entity Too Large for POST /email/mailbox")
    assert rows[1].status == "failed" and sender.stopped is None


def test_a_lone_row_refused_after_an_answer_in_doubt_is_settled_by_a_re_read(client, sandbox, tmp_path, sleeps):
    sandbox.store.add("someone@acme.com")
    rows, plan = planned(client, tmp_path, ["add,a@acme.com"])
    seen = []

    def someone_adds_it_meanwhile(request):  # after the re-read, before the second try: that try gets a 409
        seen.append(request.method)
        if seen[-2:] == ["POST", "GET"] and not sandbox.store.find("a@acme.com"):
            sandbox.store.add("a@acme.com")

    sandbox.script(Fault(503, method="POST", path="/email/mailbox"))  # in doubt: not applied, answer a 5xx
    sandbox.on_request(someone_adds_it_meanwhile)
    Sender(client, concurrency=1).send(plan)
    [row] = rows
    assert (row.status, row.detail, row.attempts) == ("added", LOST_ANSWER, 2)
    assert row.mailbox["email_address"] == "a@acme.com"


def test_the_journal_hook_sees_each_batch_before_it_leaves(client, sandbox, tmp_path):
    sandbox.store.add("someone@acme.com")
    rows, plan = planned(client, tmp_path, [f"add,u{n}@acme.com" for n in range(5)])
    seen = []

    def on_send(batch):
        seen.append([(r.email_address, sandbox.store.find(r.email_address)) for r in batch])

    Sender(client, batch_size=2, concurrency=1, on_send=on_send).send(plan)
    assert [len(batch) for batch in seen] == [2, 2, 1]
    assert all(found is None for batch in seen for _, found in batch)  # recorded before the service had it
    assert {r.status for r in rows} == {"sent"}
