"""The plan and verify stages alone: reading the live state, classifying, re-reading."""

from __future__ import annotations

import pytest

from bulkmail.errors import ServiceError
from bulkmail.jobs.change import import_file, load
from bulkmail.jobs.options import ImportOptions
from bulkmail.jobs.live import domain_in_use, read_live
from bulkmail.jobs.planning import make_plan
from bulkmail.sandbox import Fault
from helpers import write_csv

LIST = ("GET", "/email/mailbox/v2")


def test_few_addresses_are_searched_and_many_are_read_in_one_walk(client, sandbox):
    sandbox.store.seed(250, sandbox.settings.domains)
    client.login()
    few = read_live(client, ["kaito.eriksen0@acme.com", "nobody@acme.com"])
    assert set(few.mailboxes) == {"kaito.eriksen0@acme.com"} and few.size is None
    before = sandbox.store.requests[LIST]
    many = read_live(client, [f"x{n}@acme.com" for n in range(10)])
    # 3 pages of 100, page 1 and the last read again (the check that nothing moved meanwhile)
    assert many.size == 250 and sandbox.store.requests[LIST] - before == 5


def test_domain_in_use_needs_an_exact_domain_not_a_substring(client, sandbox):
    sandbox.store.add("a@acme.com.au")
    client.login()
    assert domain_in_use(client, "acme.com") is False
    assert domain_in_use(client, "acme.com.au") is True


def test_plan_classifies_rows_against_the_live_state(client, sandbox, tmp_path):
    sandbox.store.add("here@acme.com")
    sandbox.store.add("leaver@acme.com")
    table, rows = load(write_csv(tmp_path / "w.csv", ["action,email", "add,HERE@acme.com", "add,new@acme.com",
                                                      "remove,Leaver@acme.com", "remove,gone@acme.com"]))
    plan = make_plan(client, rows)
    assert [r.status for r in rows] == ["already_present", "planned", "planned", "not_found"]
    assert [r.email_address for r in plan.to_add] == ["new@acme.com"]
    assert [r.email_address for r in plan.to_remove] == ["Leaver@acme.com"]


def test_no_verify_trusts_the_answers_and_reads_nothing_after_sending(client, sandbox, tmp_path):
    sandbox.store.add("xa@acme.com")  # the search for a@acme.com finds it: the domain is known, no extra read
    path = write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    result = import_file(client, path, ImportOptions(verify=False), report=tmp_path / "r.csv")
    reads = sandbox.store.requests[LIST]
    [row] = result.rows
    assert (row.status, row.detail) == ("added", "accepted by the service; not verified (--no-verify)")
    assert reads == 1  # the plan's one search; no verifying re-read


def test_a_verifying_re_read_that_fails_stops_the_run_and_says_the_rows_are_not_verified(client, sandbox, tmp_path,
                                                                                         sleeps):
    sandbox.store.add("someone@acme.com")
    path = write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])

    def fail_reads_after_the_post(request):
        if request.method == "POST" and request.path == "/email/mailbox":
            sandbox.script(*[Fault(503, method="GET")] * 6)

    sandbox.on_request(fail_reads_after_the_post)
    result = import_file(client, path, report=tmp_path / "r.csv")
    [row] = result.rows
    assert result.exit_status == 4 and row.status == "added"
    assert row.detail.startswith("accepted by the service; not verified because the run stopped (The service kept "
                                 "failing (503 Service Unavailable for GET /email/mailbox/v2")


@pytest.mark.parametrize("body,message", [
    ("<html>proxy</html>", "GET /email/mailbox/v2 answered 200 without JSON"),
    ('{"data": "oops"}', "GET /email/mailbox/v2 answered without a data list"),
])
def test_a_malformed_list_answer_is_a_clear_service_error(client, sandbox, body, message):
    client.login()
    sandbox.script(Fault(200, method="GET", body=body))
    with pytest.raises(ServiceError) as failed:
        client.get_page(1)
    assert str(failed.value) == message and failed.value.exit_status == 4
