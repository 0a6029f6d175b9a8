"""Exact round trips: what bulkmail writes (reports, undo files, exports) it reads back as the
same strings, while no cell ever becomes a live formula in Excel."""

from __future__ import annotations

import csv
import zipfile

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bulkmail.files.cells import BLANKS, needs_mark, unmark
from bulkmail.files.reading import read_table
from bulkmail.files.cells import FORMULA_START
from bulkmail.files.writing import neutralise, write_table
from helpers import read_report, write_csv

# Any text a cell can hold but NUL (a NUL makes its row invalid on purpose), surrogates (no file
# format carries them), and text of blanks only (it reads as an empty cell, like " " names).
cell_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30).filter(
    lambda text: text.strip(BLANKS) != "")
odd_text = st.sampled_from(["=1+2", "@cmd", '\t=HYPERLINK("http://evil","x")', "-5", "+44 20 7946 0000", "'=1+2",
                            "''@x", "'", "' Bob", "\r=x", " Bob", "Bob\t", "_x0041_", "a\rb", "\x01", "=", "+"])
quick = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = ["=1+2", "@cmd", '\t=HYPERLINK("http://evil","x")', "-5", "+44 20 7946 0000", "'quoted'", "' x"]


def _round_trip(folder, suffix: str, values: list[str]) -> list[str]:
    path = folder / f"t{suffix}"
    write_table(path, ["email", "value"], [{"email": f"u{n}@acme.com", "value": v} for n, v in enumerate(values)])
    return read_table(path).column("value")


@quick
@given(st.lists(cell_text | odd_text, min_size=1, max_size=6))
def test_csv_write_then_read_gives_the_same_strings(tmp_path_factory, values):
    assert _round_trip(tmp_path_factory.mktemp("csv"), ".csv", values) == values


@quick
@given(st.lists(cell_text | odd_text, min_size=1, max_size=6))
def test_xlsx_write_then_read_gives_the_same_strings(tmp_path_factory, values):
    assert _round_trip(tmp_path_factory.mktemp("xlsx"), ".xlsx", values) == values


@given(cell_text | odd_text)
def test_the_csv_mark_is_a_bijection_and_never_leaves_a_formula(text):
    written = neutralise(text)
    assert not written.startswith(FORMULA_START)
    assert (unmark(written) if unmark(written) is not None else written.strip(BLANKS)) == text


def test_formula_text_in_xlsx_is_a_string_with_the_quote_prefix_and_no_apostrophe(tmp_path):
    path = tmp_path / "f.xlsx"
    write_table(path, ["email", "realname"], [{"email": "a@acme.com", "realname": name} for name in NAMES])
    cells = [row[1] for row in openpyxl.load_workbook(path).active.iter_rows(min_row=2)]
    assert [c.value for c in cells] == NAMES
    assert all(c.data_type == "s" for c in cells)
    assert [c.quotePrefix for c in cells] == [needs_mark(name) for name in NAMES] == [True] * 5 + [False, True]
    with zipfile.ZipFile(path) as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()


def test_numbers_like_text_survives_both_formats(tmp_path):
    for suffix in (".csv", ".xlsx"):
        assert _round_trip(tmp_path, suffix, ["-5", "+44 20 7946 0000", "00123", "1e5"]) == [
            "-5", "+44 20 7946 0000", "00123", "1e5"]


def test_undo_file_restores_the_removed_names_exactly(bulkmail, sandbox, tmp_path):
    for n, name in enumerate(NAMES):
        sandbox.store.add(f"user{n}@acme.com", executive=n % 2, realname=name)
    before = {m["email_address"]: (m["executive"], m["realname"]) for m in sandbox.store.mailboxes.values()}
    write_csv(tmp_path / "leavers.csv", ["email"] + [f"user{n}@acme.com" for n in range(len(NAMES))])
    assert bulkmail("import", "leavers.csv", "--action", "remove", "--yes", "--report", "r.csv").code == 0
    with open(tmp_path / "r-undo.csv", encoding="utf-8-sig", newline="") as handle:
        assert [line["realname"] for line in csv.DictReader(handle)] == [neutralise(name) for name in NAMES]
    result = bulkmail("import", "r-undo.csv", "--yes", "--report", "back.csv")
    assert result.code == 0, result.err
    after = {m["email_address"]: (m["executive"], m["realname"]) for m in sandbox.store.mailboxes.values()}
    assert after == before
    assert [line["detail"] for line in read_report(tmp_path / "back.csv")] == [""] * len(NAMES)


def test_diff_of_an_export_against_live_sees_no_change_in_formula_like_names(bulkmail, sandbox, tmp_path):
    for n, name in enumerate(NAMES[:-2]):
        sandbox.store.add(f"user{n}@acme.com", realname=name)
    for output in ("inventory.csv", "inventory.xlsx"):
        assert bulkmail("export", "-q", "-o", output).code == 0
        result = bulkmail("diff", output, "live", "-o", f"{output}-diff.csv")
        assert result.code == 0, result.err
        assert read_report(tmp_path / f"{output}-diff.csv") == []


def test_a_retried_report_carries_the_inputs_own_cells_unchanged(bulkmail, sandbox, tmp_path):
    with open(tmp_path / "w.csv", "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["action", "email", "note"], ["add", "bad@", "=SUM(A1)"],
                                      ["add", "also bad", "''@x"]])
    assert bulkmail("validate", "w.csv", "--report", "first.xlsx").code == 1
    assert bulkmail("validate", "first.xlsx", "--only", "invalid", "--report", "second.csv").code == 1
    assert [line["note"] for line in read_report(tmp_path / "second.csv")] == ["'=SUM(A1)", "''@x"]
    assert read_table(tmp_path / "second.csv").column("note") == ["=SUM(A1)", "'@x"]


# A lone surrogate: the service can send one in JSON ("\ud83d" without its pair); UTF-8 cannot encode it.
LONE = "Ren\ud83dee"


def test_text_utf8_cannot_encode_is_written_as_the_replacement_character_by_export_and_diff(bulkmail, sandbox,
                                                                                            tmp_path):
    sandbox.store.add("rene@acme.com", realname=LONE)
    for output in ("e.csv", "e.xlsx"):
        result = bulkmail("export", "-q", "-o", output)
        assert result.code == 0, result.err
        assert [line["realname"] for line in read_report(tmp_path / output, "Mailboxes")] == ["Ren\ufffdee"]
        assert "Diff: appeared 0, disappeared 0, changed 0\n" in bulkmail("diff", output, "live", "-o", "d.csv", "--force").out
    piped = bulkmail("export", "-q", "-o", "-")
    assert piped.code == 0 and piped.out.splitlines()[1].endswith(",rene@acme.com,0,Ren\ufffdee,0")
    write_csv(tmp_path / "old.csv", ["email_address,realname", "other@acme.com,Other"])
    compared = bulkmail("diff", "old.csv", "live", "-o", "d.xlsx")
    assert compared.code == 0, compared.err
    assert [(line["status"], line["realname_new"]) for line in read_report(tmp_path / "d.xlsx", "Mailboxes")] == [
        ("disappeared", ""), ("appeared", "Ren\ufffdee")]


def test_a_removal_of_a_name_utf8_cannot_encode_ends_cleanly_with_its_report_undo_file_and_audit_end(bulkmail,
                                                                                                   sandbox, tmp_path):
    from bulkmail.audit import AuditLog

    sandbox.store.add("rene@acme.com", executive=1, realname=LONE)
    write_csv(tmp_path / "w.csv", ["email", "rene@acme.com"])
    result = bulkmail("import", "w.csv", "--action", "remove", "--yes", "--report", "r.xlsx")
    assert result.code == 0, result.err
    assert read_report(tmp_path / "r-undo.csv") == [
        {"action": "add", "email_address": "rene@acme.com", "executive": "yes", "realname": "Ren\ufffdee"}]
    summary = dict(openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True))
    assert summary["cannot come back"].endswith("; 1 name (rene@acme.com) held characters that no file can carry "
                                                "(lone surrogates) and come back with U+FFFD (\ufffd) in their place")
    assert [r["exit_status"] for r in AuditLog().records() if r.get("event") == "end"] == [0]


def test_a_plan_and_the_audit_log_keep_text_utf8_cannot_encode_as_its_json_escape(bulkmail, sandbox, tmp_path):
    from bulkmail.audit import AuditLog

    sandbox.store.add("rene@acme.com", realname=LONE)
    write_csv(tmp_path / "w.csv", ["email", "rene@acme.com"])
    planned = bulkmail("import", "w.csv", "--action", "remove", "--dry-run", "--plan-out", "p.json")
    assert planned.code == 0, planned.err
    assert '"realname": "Ren\\ud83dee"' in (tmp_path / "p.json").read_text(encoding="utf-8")
    applied = bulkmail("apply", "p.json", "--yes", "--report", "r.csv")
    assert applied.code == 0, applied.err
    assert sandbox.store.addresses() == set()
    AuditLog().append([{"type": "note", "email_address": LONE}])
    assert list(AuditLog().records())[-1] == {"type": "note", "email_address": LONE}


@pytest.mark.parametrize("settings", [{"domains": ("acme.com", "xn--exmple-cua.com")}], indirect=True)
def test_the_undo_file_brings_back_the_address_as_the_service_held_it_not_as_typed(bulkmail, sandbox, tmp_path):
    sandbox.store.add("Mixed.Case@acme.com", executive=1, realname="Mixed")
    sandbox.store.add("user@xn--exmple-cua.com", realname="Idn")
    before = {m["email_address"]: (m["executive"], m["realname"]) for m in sandbox.store.mailboxes.values()}
    write_csv(tmp_path / "w.csv", ["email", "mixed.case@ACME.COM", "USER@EXÄMPLE.COM"])
    assert bulkmail("import", "w.csv", "--action", "remove", "--yes", "--report", "r.csv").code == 0
    assert [line["email_address"] for line in read_report(tmp_path / "r-undo.csv")] == [
        "Mixed.Case@acme.com", "user@xn--exmple-cua.com"]
    assert bulkmail("import", "r-undo.csv", "--yes", "--report", "back.csv").code == 0
    assert {m["email_address"]: (m["executive"], m["realname"]) for m in sandbox.store.mailboxes.values()} == before


def test_an_undo_file_brings_back_a_name_longer_than_excels_cell_and_a_name_with_a_nul(bulkmail, sandbox, tmp_path):
    long, nul = "L" * 40_000, "Ann\x00Lee"
    sandbox.store.add("long@acme.com", realname=long)
    sandbox.store.add("nul@acme.com", executive=1, realname=nul)
    before = {m["email_address"]: (m["executive"], m["realname"]) for m in sandbox.store.mailboxes.values()}
    write_csv(tmp_path / "w.csv", ["email", "long@acme.com", "nul@acme.com"])
    assert bulkmail("import", "w.csv", "--action", "remove", "--yes", "--report", "r.csv").code == 0
    result = bulkmail("import", "r-undo.csv", "--yes", "--report", "back.csv")
    assert result.code == 0, result.err
    assert {m["email_address"]: (m["executive"], m["realname"]) for m in sandbox.store.mailboxes.values()} == before
