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
