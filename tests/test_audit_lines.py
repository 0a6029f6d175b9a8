"""The audit log's change lines: formatted without json.dumps per row, yet byte for byte what
json.dumps makes of each record, whatever the values hold."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from bulkmail import audit
from bulkmail.audit import AuditLog, Run
from bulkmail.records import Row

# Quotes, backslashes, control characters, non-ASCII (an IDN, a combining accent, an emoji, a
# line separator), a lone surrogate the service can send, and ids of every kind it may give.
AWKWARD = [
    ("add", 'o"brien\\x@acme.com', {"id": 7}, 1),
    ("remove", "tab\there\x00\x1f\x7f@acme.com", {"id": "M-12\"\\"}, None),
    ("add", "jos\u00e9@b\u00fccher.de", {"id": None}, 3),
    ("remove", "e\u0301mile\U0001f600@acme.com\u2028", None, 12),
    ("add", "ren\ud83dee@acme.com", {"id": 10**20}, 0),
    ("remove", "", {"id": 1.5}, 4),
    ("add", "plain@acme.com", {"id": True}, 5),
]


def rows() -> list[Row]:
    made = []
    for n, (action, address, mailbox, batch) in enumerate(AWKWARD, 2):
        status = "added" if action == "add" else "not_found" if n % 2 else "removed"
        made.append(Row(n, action, address, status=status, mailbox=mailbox, batch=batch))
    return made


def old_line(run: Run, time: str, row: Row) -> str:
    """The line as json.dumps made it before (one call per value)."""
    record = {"type": "change", "run_id": run.run_id, "time": time, "action": row.action,
              "email_address": row.email_address, "mailbox_id": (row.mailbox or {}).get("id"),
              "status": str(row.done_status), "verified": str(row.status) in ("added", "removed"),
              "batch": row.batch, "input": run.facts.get("input")}
    return json.dumps(record, ensure_ascii=False, default=str)


@pytest.mark.parametrize("given", ['in"put\\.csv sha256:ab', None, "\u00e9t\u00e9\n.xlsx"])
def test_a_change_line_is_byte_for_byte_what_json_dumps_makes_of_its_record(tmp_path, given):
    log = AuditLog(tmp_path / "audit.jsonl")
    run = Run(log, "import", input=given)
    run.changes(rows())
    lines = (tmp_path / "audit.jsonl").read_bytes().splitlines()
    assert len(lines) == len(AWKWARD)
    for line, row in zip(lines, rows()):
        record = json.loads(line)
        expected = old_line(run, record["time"], row).encode("utf-8", "backslashreplace")
        assert line == expected
        assert (record["email_address"], record["mailbox_id"], record["batch"], record["input"]) == (
            row.email_address, (row.mailbox or {}).get("id"), row.batch, given)


@settings(max_examples=80, deadline=None)
@given(st.text(), st.one_of(st.none(), st.integers(), st.text(max_size=8)), st.one_of(st.none(), st.integers(0)))
def test_any_address_and_ids_make_the_line_json_dumps_would(address, mailbox_id, batch):
    run = Run(AuditLog("unused"), "import", input="wave.csv")
    row = Row(2, "add", address, status="added", mailbox={"id": mailbox_id}, batch=batch)
    lines = []
    run.log.append = lines.extend  # the line as formatted, before the file
    run.changes([row])
    assert lines == [old_line(run, json.loads(lines[0])["time"], row)]


def test_change_lines_are_formatted_without_a_json_dumps_call_per_row(tmp_path, monkeypatch):
    calls = []
    dumps = json.dumps
    monkeypatch.setattr(audit.json, "dumps", lambda *a, **k: calls.append(a) or dumps(*a, **k))
    run = Run(AuditLog(tmp_path / "audit.jsonl"), "import", input="wave.csv")
    run.changes([Row(n, "add", f"u{n}@acme.com", status="added", mailbox={"id": n}, batch=n // 10)
                 for n in range(2, 102)])
    assert len((tmp_path / "audit.jsonl").read_bytes().splitlines()) == 100
    assert len(calls) <= 2  # the parts every line shares, formatted once
