"""Export to CSV and XLSX over real HTTP, read back; formula cells neutralised; atomic writes."""

from __future__ import annotations

import csv

import openpyxl
import pytest
from helpers import read_report

from bulkmail.jobs.export import COLUMNS, ExportOptions, export_mailboxes
from bulkmail.files.writing import neutralise


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def read_xlsx(path):
    sheet = openpyxl.load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]], sheet


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_export_writes_every_mailbox_exactly_once_with_standard_columns_first(client, sandbox, tmp_path, suffix):
    sandbox.store.seed(250, sandbox.settings.domains)
    result = export_mailboxes(client, tmp_path / f"all.{suffix}")
    rows = read_csv(result.path) if suffix == "csv" else read_xlsx(result.path)[0]
    assert result.rows == 250 and result.pages == 3
    assert list(rows[0])[:6] == COLUMNS
    assert sorted(int(r["id"]) for r in rows) == sorted(sandbox.store.mailboxes)


def test_csv_export_starts_with_a_utf8_bom_so_excel_shows_accents(client, sandbox, tmp_path):
    sandbox.store.add("chloe@acme.com", realname="Chloé Müller")
    path = export_mailboxes(client, tmp_path / "a.csv").path
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "Chloé Müller".encode() in raw


def test_search_keeps_only_real_matches_not_the_servers_loose_ones(client, sandbox, tmp_path):
    sandbox.store.seed(60, sandbox.settings.domains)
    result = export_mailboxes(client, tmp_path / "uk.csv", ExportOptions(search="acme.co.uk"))
    addresses = [r["email_address"] for r in read_csv(result.path)]
    assert len(addresses) == 30 and all(a.endswith("@acme.co.uk") for a in addresses)
    result = export_mailboxes(client, tmp_path / "com.csv", ExportOptions(search="acme.com"))
    assert result.rows == 30


def test_formula_looking_cells_are_inert_in_csv_and_text_in_xlsx(client, sandbox, tmp_path):
    sandbox.store.add("eve@acme.com", realname='=HYPERLINK("http://evil","x")')
    sandbox.store.add("mal@acme.com", realname="+1-555")
    csv_rows = read_csv(export_mailboxes(client, tmp_path / "f.csv").path)
    assert [r["realname"] for r in csv_rows] == ["'=HYPERLINK(\"http://evil\",\"x\")", "'+1-555"]
    xlsx_rows, sheet = read_xlsx(export_mailboxes(client, tmp_path / "f.xlsx").path)
    assert sheet["E2"].data_type == "s" and sheet["E2"].value == '=HYPERLINK("http://evil","x")'
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.bold


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_neutralise_prefixes_every_formula_trigger(value):
    assert neutralise(value) == "'" + value


def test_neutralise_leaves_plain_text_and_numbers_alone():
    assert [neutralise(v) for v in ["bob@acme.com", " ", 5, -5]] == ["bob@acme.com", " ", 5, -5]


def test_an_export_while_the_list_grows_holds_every_mailbox_once(client, sandbox, tmp_path):
    sandbox.store.seed(150, sandbox.settings.domains)

    def grow_after_first_page(request):
        if request.args.get("page") == "1" and len(sandbox.store.mailboxes) == 150:
            sandbox.store.add("late@acme.com")

    sandbox.on_request(grow_after_first_page)
    result = export_mailboxes(client, tmp_path / "g.csv", ExportOptions(concurrency=1))
    assert result.walk.totals[0] == 150 and result.walk.totals[-1] == 151 and result.uncertain == []
    ids = [line["id"] for line in read_report(tmp_path / "g.csv")]
    assert result.rows == 151 and len(set(ids)) == 151


def test_a_failed_export_leaves_no_partial_file(client, sandbox, tmp_path):
    sandbox.store.seed(150, sandbox.settings.domains)
    sandbox.configure(ignore_page=True)
    target = tmp_path / "broken.csv"
    with pytest.raises(Exception, match="ignores paging"):
        export_mailboxes(client, target)
    assert list(tmp_path.iterdir()) == []
