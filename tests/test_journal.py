"""The journal alone: what a run records is what a resumed run restores."""

from __future__ import annotations

import pytest

from bulkmail.errors import InputError
from bulkmail.jobs.journal import Journal
from bulkmail.records import Row
from helpers import write_csv


@pytest.fixture
def source(tmp_path):
    return write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com", "add,b@acme.com", "remove,c@acme.com",
                                          "add,d@acme.com"])


def fresh_rows() -> list[Row]:
    return [Row(2, "add", "a@acme.com", status="planned"), Row(3, "add", "b@acme.com", status="planned"),
            Row(4, "remove", "c@acme.com", status="planned"), Row(5, "add", "d@acme.com", status="planned")]


def test_record_then_restore_keeps_settled_rows_and_marks_sent_ones_in_doubt(source):
    with Journal(source, "acct") as journal:
        journal.start()
        rows = fresh_rows()
        rows[0].status, rows[0].mailbox = "added", {"id": 1, "email_address_id": 11, "email_address": "a@acme.com"}
        rows[2].status, rows[2].mailbox = "not_found", None
        journal.record(rows[:1] + rows[2:3])
        journal.mark_sent([rows[1]])  # on the wire when the run died
        assert journal.any_sent() and journal.unfinished() is not None
    with Journal(source, "acct") as journal:
        assert journal.check_resumable() is True
        again = fresh_rows()
        assert journal.restore(again) == 2
    assert [(r.status, r.in_doubt) for r in again] == [("added", False), ("planned", True), ("not_found", False),
                                                       ("planned", False)]
    assert again[0].mailbox == {"id": 1, "email_address_id": 11, "email_address": "a@acme.com"}


def test_a_mark_made_after_a_record_wins_over_it_and_a_later_record_wins_over_the_mark(source):
    with Journal(source, "acct") as journal:
        journal.start()
        rows = fresh_rows()
        journal.record(rows)  # all planned, as a plan records them
        rows[2].mailbox, rows[2].batch, rows[2].attempts = {"id": 3, "email_address": "c@acme.com"}, 7, 1
        journal.mark_sent([rows[2], rows[3]])  # the remove's ids and the batch live in the mark
        rows[3].status = "added"
        journal.record([rows[3]])  # settled after it was sent
    with Journal(source, "acct") as journal:
        assert journal.sent_rows() == {4, 5}
        again = fresh_rows()
        assert journal.restore(again) == 1
    assert [(r.status, r.in_doubt, r.batch) for r in again] == [("planned", False, None), ("planned", False, None),
                                                                ("planned", True, 7), ("added", True, None)]
    assert again[2].mailbox == {"id": 3, "email_address": "c@acme.com"}


def test_a_row_that_changed_in_the_file_is_not_restored(source):
    with Journal(source, "acct") as journal:
        journal.start()
        journal.record([Row(2, "add", "a@acme.com", status="added")])
        again = [Row(2, "remove", "a@acme.com", status="planned")]  # same row number, another action
        assert journal.restore(again) == 0 and again[0].status == "planned"


def test_a_finished_run_names_its_report_and_status(source, tmp_path):
    with Journal(source, "acct") as journal:
        journal.start()
        journal.finish(tmp_path / "r.csv", 1)
        finished, report, status = journal.finished()
        assert (report, status) == (str(tmp_path / "r.csv"), 1) and journal.unfinished() is None


def test_one_journal_per_file_and_account_and_one_run_at_a_time(source):
    with Journal(source, "acct") as first:
        with Journal(source, "other") as second:  # another account: another journal
            assert first.path != second.path
        with pytest.raises(InputError, match=r"^Another bulkmail run \(pid \d+\) is importing this file right now"):
            Journal(source, "acct")
