"""Safety rails: a plan that removes too much is refused before anything is sent, and the
account's size is known for it, or the plan needs the flag."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from helpers import DELETES, write_csv

from bulkmail.api.walk import count
from bulkmail.errors import Refused
from bulkmail.jobs.planning import Plan
from bulkmail.jobs.rails import check_rails
from bulkmail.records import Row


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
