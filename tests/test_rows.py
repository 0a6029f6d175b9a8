"""Rows that are not what they seem: one address with two sets of data, one address in two
spellings (an international domain), and "did you mean" proposing a stranger."""

from __future__ import annotations

import pytest
from helpers import read_report

from bulkmail.addresses import address_key
from bulkmail.files.reading import read_table
from bulkmail.jobs.change import import_file
from bulkmail.jobs.options import ImportOptions
from bulkmail.jobs.validate import validate

UNICODE, ASCII = "user@exämple.com", "USER@XN--EXMPLE-CUA.COM"
# jürgen with a ü (NFC, what Windows types) and with a u and a combining diaeresis (NFD, what macOS writes)
COMPOSED, DECOMPOSED = "j\u00fcrgen@acme.com", "ju\u0308rgen@acme.com"


def write(path, lines: list[str]):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def outcome(rows):
    return [(r.row, str(r.status), r.detail) for r in rows]


# -- the same address twice ---------------------------------------------------------------------


def test_the_same_address_added_again_with_other_data_is_invalid_naming_both_values(tmp_path):
    path = write(tmp_path / "w.csv", ["action,email,executive,name",
                                      "add,bob@acme.com,yes,Bob",
                                      "add,BOB@acme.com,no,Bob",
                                      "add,bob@acme.com,y,Robert",
                                      "add,bob@acme.com,,",
                                      "add,bob@acme.com,1,Bob"])
    assert outcome(validate(read_table(path))) == [
        (2, "planned", ""),
        (3, "invalid", "row 2 adds the same address with executive 1, this row with executive 0; keep one of the two "
                       "rows"),
        (4, "invalid", "row 2 adds the same address with realname 'Bob', this row with realname 'Robert'; keep one of "
                       "the two rows"),
        (5, "invalid", "row 2 adds the same address with executive 1 and realname 'Bob', this row with executive 0 "
                       "and realname ''; keep one of the two rows"),
        (6, "duplicate", "same as row 2"),  # the same data again: nothing is lost
    ]


def test_a_repeated_add_with_other_data_makes_validate_exit_1(bulkmail, tmp_path):
    write(tmp_path / "w.csv", ["action,email,executive", "add,bob@acme.com,yes", "add,bob@acme.com,no"])
    result = bulkmail("validate", "w.csv", "--report", "r.csv")
    assert result.code == 1
    assert ("  row 3  bob@acme.com  invalid  row 2 adds the same address with executive 1, this row with executive 0; "
            "keep one of the two rows\n") in result.out


def test_repeated_removes_stay_duplicates_whatever_their_other_cells(tmp_path):
    path = write(tmp_path / "w.csv", ["action,email,executive", "remove,bob@acme.com,yes", "remove,bob@acme.com,no"])
    assert outcome(validate(read_table(path)))[1] == (3, "duplicate", "same as row 2")


# -- one address, two spellings -----------------------------------------------------------------


def test_the_key_of_an_address_is_its_lower_cased_local_part_and_ascii_domain():
    assert address_key(UNICODE) == address_key(ASCII) == "user@xn--exmple-cua.com"
    assert address_key("Bob@Acme.COM") == "bob@acme.com"
    assert address_key("Ünï@ÄCME.com") == "ünï@xn--cme-pla.com"


def test_an_international_domain_in_both_spellings_is_one_address_in_a_file(bulkmail, tmp_path):
    write(tmp_path / "w.csv", ["action,email", f"add,{UNICODE}", f"add,{ASCII}", f"remove,{ASCII.lower()}"])
    rows = validate(read_table(tmp_path / "w.csv"))
    assert outcome(rows) == [(2, "invalid", "row 4 removes the same address; keep one of the two rows"),
                             (3, "duplicate", "same as row 2"),
                             (4, "invalid", "row 2 adds the same address; keep one of the two rows")]
    assert [r.email_address for r in rows] == [UNICODE, ASCII, ASCII.lower()]  # as typed


@pytest.mark.parametrize("live,typed", [(UNICODE, ASCII), (ASCII, UNICODE)])
@pytest.mark.parametrize("extra", [0, 300])  # a few searches, or one walk of the account
def test_the_plan_finds_a_live_mailbox_spelled_the_other_way(client, sandbox, tmp_path, live, typed, extra):
    sandbox.store.seed(extra, sandbox.settings.domains)
    sandbox.store.add(live)
    lines = ["action,email", f"remove,{typed}"] + [f"remove,x{n}@acme.com" for n in range(extra // 50)]
    result = import_file(client, write(tmp_path / "w.csv", lines), ImportOptions(), report=tmp_path / "r.csv")
    assert outcome(result.rows[:1]) == [(2, "removed", "")]
    assert live.lower() not in sandbox.store.addresses()
    assert read_report(tmp_path / "r.csv")[0]["email_address"] == typed


@pytest.mark.parametrize("old,new", [((UNICODE, "User"), (ASCII, "User")),
                                     ((COMPOSED, "J\u00fcrgen"), (DECOMPOSED, "Ju\u0308rgen"))])  # the name too
def test_diff_sees_one_mailbox_in_two_spellings(bulkmail, tmp_path, old, new):
    write(tmp_path / "old.csv", ["email_address,executive,realname", f"{old[0]},0,{old[1]}"])
    write(tmp_path / "new.csv", ["email_address,executive,realname", f"{new[0]},0,{new[1]}"])
    result = bulkmail("diff", "old.csv", "new.csv", "-o", "d.csv")
    assert result.code == 0, result.err
    assert "Diff: appeared 0, disappeared 0, changed 0\n" in result.out
    assert read_report(tmp_path / "d.csv") == []


def test_an_address_composed_and_decomposed_is_one_address_in_a_file_and_so_is_a_name(tmp_path):
    assert address_key(DECOMPOSED) == address_key(COMPOSED.upper()) == COMPOSED
    write(tmp_path / "w.csv", ["action,email,name", f"remove,{DECOMPOSED},", f"remove,{COMPOSED.upper()},",
                               "add,ren\u00e9@acme.com,Ren\u00e9", "add,rene\u0301@acme.com,Rene\u0301",
                               f"add,{COMPOSED},"])
    assert outcome(validate(read_table(tmp_path / "w.csv"))) == [
        (2, "invalid", "row 6 adds the same address; keep one of the two rows"),
        (3, "duplicate", "same as row 2"),
        (4, "planned", ""),
        (5, "duplicate", "same as row 4"),  # the name too is one name in both forms
        (6, "invalid", "row 2 removes the same address; keep one of the two rows")]


@pytest.mark.parametrize("live,typed", [(COMPOSED, DECOMPOSED), (DECOMPOSED, COMPOSED)])
@pytest.mark.parametrize("extra", [0, 300])  # a few searches, or one walk of the account
def test_the_plan_finds_a_live_mailbox_composed_the_other_way(client, sandbox, tmp_path, live, typed, extra):
    sandbox.store.seed(extra, sandbox.settings.domains)
    names = {COMPOSED: "J\u00fcrgen", DECOMPOSED: "Ju\u0308rgen"}
    sandbox.store.add(live, realname=names[live])
    lines = ["action,email,name", f"add,{typed},{names[typed]}"]  # the name in the other form too
    lines += [f"remove,x{n}@acme.com" for n in range(extra // 50)]
    result = import_file(client, write(tmp_path / "w.csv", lines), ImportOptions(), report=tmp_path / "r.csv")
    assert outcome(result.rows[:1]) == [(2, "already_present", "the mailbox exists already; nothing sent")]


def test_the_audit_log_knows_a_change_by_the_key_of_its_address():
    from bulkmail.audit import AuditLog, Run
    from bulkmail.records import Row

    run = Run(AuditLog(), "import")
    run.changes([Row(2, "add", "USER@EX\u00c4MPLE.COM", status="added"), Row(3, "remove", DECOMPOSED, status="removed")])
    assert run.logged_before([run.run_id]) == {(Row(0, "add", ASCII).key, "add"), (COMPOSED, "remove")}


def test_sync_matches_the_roster_and_the_scope_in_either_spelling(bulkmail, sandbox, tmp_path):
    sandbox.store.add(ASCII)
    sandbox.store.add("other@xn--exmple-cua.com")
    write(tmp_path / "roster.csv", ["email", UNICODE])
    result = bulkmail("sync", "roster.csv", "--scope", "exämple.com", "--dry-run", "--report", "r.csv")
    assert result.code == 0, result.err
    assert "Results: already_present 1, would_remove 1\n" in result.out
    assert [(x["email_address"], x["status"]) for x in read_report(tmp_path / "r.csv")] == [
        (UNICODE, "already_present"), ("other@xn--exmple-cua.com", "would_remove")]


@pytest.mark.parametrize("allowed,typed", [("xn--exmple-cua.com", UNICODE), ("EXÄMPLE.com", ASCII)])
def test_the_domain_allow_list_accepts_either_spelling(tmp_path, allowed, typed):
    path = write(tmp_path / "w.csv", ["action,email", f"add,{typed}", "add,a@acme.com"])
    assert outcome(validate(read_table(path), domains=[allowed])) == [
        (2, "planned", ""), (3, "invalid", f"domain acme.com is not among --domain {allowed.lower()}")]


# -- did you mean -------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [0, 300])
@pytest.mark.parametrize("typed,live,suggested", [
    ("bob@acme.com", ["jimbob@acme.com"], None),  # another person, not a typo
    ("user0000013@acme.com", ["user0000138@acme.com", "user0000013@acme.co.uk"], "user0000013@acme.co.uk"),
    ("user0000013@acme.com", ["user0000014@acme.com"], None),  # another number is another person
    ("jane.doe@acme.com", ["jane.deo@acme.com"], "jane.deo@acme.com"),  # two letters swapped
    ("maria.garcia@acme.com", ["maria.graica@acme.com"], "maria.graica@acme.com"),  # two slips in a long name
    ("maria@acme.com", ["mariana@acme.com"], None),  # longer by two: another name
    ("tim@acme.com", ["tom@acme.com"], None),  # too short to tell a typo from a stranger
    ("jonathsn@acme.com", ["jonathan@acme.com"], "jonathan@acme.com"),  # s is a's neighbour on the keyboard
    ("nobody.hearr@acme.com", ["nobody.hear@acme.com"], "nobody.hear@acme.com"),  # a letter typed twice
    ("nobody.her@acme.com", ["nobody.hear@acme.com"], "nobody.hear@acme.com"),  # a letter dropped
    ("mario@acme.com", ["maria@acme.com"], None),  # o and a are no neighbours: another person
    ("b.smith@acme.com", ["a.smith@acme.com"], None),  # another initial is another person
    ("j.smith@acme.com", ["k.smith@acme.com"], None),  # even a neighbouring key
    ("christine.meyer@acme.com", ["christina.meyer@acme.com"], None),
    ("jane.doe@acme.com", ["jane.deo@acme.com", "jane.dow@acme.com"], None),  # two as close: neither
    ("bob@acme.com", ["bob@acme.de", "bob@acme.fr"], None),  # two other domains as close: neither
])
def test_did_you_mean_proposes_near_typos_never_strangers(client, sandbox, tmp_path, typed, live, suggested, extra):
    sandbox.store.seed(extra, sandbox.settings.domains)
    for address in live:
        sandbox.store.add(address)
    lines = ["action,email", f"remove,{typed}"] + [f"remove,x{n}@acme.com" for n in range(extra // 50)]
    result = import_file(client, write(tmp_path / "w.csv", lines), ImportOptions(dry_run=True),
                         report=tmp_path / "r.csv")
    hint = f"; did you mean {suggested}?" if suggested else ""
    assert result.rows[0].detail == "no such mailbox; nothing sent" + hint
