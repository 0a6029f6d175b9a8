"""Domains the account has no mailbox in: one canary row each before the rest, so a refused
domain costs a few requests, not a bisection."""

from __future__ import annotations

import pytest
from helpers import POSTS, write_csv

from bulkmail.jobs.change import import_file
from bulkmail.sandbox import Fault


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
