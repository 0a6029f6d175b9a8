"""Names and flags: display names sent and verified; an existing mailbox whose flag or name
differs says so."""

from __future__ import annotations

import pytest
from helpers import POSTS, write_csv

from bulkmail.jobs.change import import_file


@pytest.mark.parametrize("settings,detail", [({}, ""), ({"ignore_realname": True},
                                             "added, but the service did not keep the name 'Ana Díaz' (it shows '')")],
                         indirect=["settings"])
def test_display_names_are_sent_and_verified(client, sandbox, tmp_path, detail):
    sandbox.store.add("someone@acme.com")
    path = write_csv(tmp_path / "w.csv", ["action,email,Display Name", "add,ana@acme.com,Ana Díaz"])
    result = import_file(client, path, report=tmp_path / "r.csv")
    [row] = result.rows
    assert (row.status, row.detail) == ("added", detail)
    stored = sandbox.store.find("ana@acme.com")["realname"]
    assert stored == (" " if detail else "Ana Díaz")


def test_a_removed_row_with_a_name_column_says_nothing_about_names(client, sandbox, tmp_path):
    sandbox.store.add("leaver@acme.com", realname="Lee Ver")
    sandbox.store.add("stays@acme.com")
    path = write_csv(tmp_path / "w.csv", ["action,email,Name", "remove,leaver@acme.com,Contract ended"])
    [row] = import_file(client, path, report=tmp_path / "r.csv").rows
    assert (row.status, row.detail) == ("removed", "")


def test_an_existing_mailbox_with_another_executive_flag_says_so(client, sandbox, tmp_path):
    sandbox.store.add("boss@acme.com", executive=1)
    path = write_csv(tmp_path / "w.csv", ["action,email,executive", "add,boss@acme.com,no"])
    [row] = import_file(client, path, report=tmp_path / "r.csv").rows
    assert row.status == "already_present"
    assert row.detail == ("the mailbox exists already; nothing sent (executive is 1 there, the file says 0; the API "
                          "has no call to change an existing mailbox)")
    assert sandbox.store.requests[POSTS] == 0
