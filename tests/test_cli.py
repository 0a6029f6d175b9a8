"""The command line as a user runs it: exit codes and messages word for word."""

from __future__ import annotations

import re

from bulkmail import __version__


def test_version(bulkmail):
    assert bulkmail("--version").out == f"bulkmail, version {__version__}\n"


def test_login_prints_the_account(bulkmail, sandbox):
    result = bulkmail("login")
    assert result.code == 0
    assert result.out == f"Logged in to {sandbox.url} as admin@acme.com; account {sandbox.settings.account_id}\n"


def test_wrong_password_exits_3_with_one_line_and_no_traceback(bulkmail, monkeypatch):
    monkeypatch.setenv("BULKMAIL_PASSWORD", "not-the-password")
    result = bulkmail("export")
    assert result.code == 3
    assert result.err == ("Error: Login failed for admin@acme.com: 401 Unauthorized for POST /auth: Invalid username "
                          "or password. Check BULKMAIL_USERNAME and BULKMAIL_PASSWORD.\n")
    assert "not-the-password" not in result.out + result.err


def test_unreachable_url_exits_4(bulkmail):
    result = bulkmail("export", "--base-url", "http://127.0.0.1:9", "--retries", "0")
    assert result.code == 4
    assert result.err == ("Error: Cannot reach http://127.0.0.1:9 (POST /auth: connection refused or host not found); "
                          "gave up after 1 attempts. Check --base-url and the network.\n")


def test_plain_http_to_a_remote_host_exits_2_before_sending_anything(bulkmail):
    result = bulkmail("export", "--base-url", "http://console.example.com")
    assert result.code == 2
    assert result.err == ("Error: Refusing to send credentials over plain http:// to console.example.com. Use https://, "
                          "or http:// only for a sandbox on this machine (127.0.0.1 or localhost).\n")


def test_missing_credentials_outside_a_terminal_exit_2_saying_what_to_set(bulkmail, monkeypatch):
    monkeypatch.delenv("BULKMAIL_PASSWORD")
    result = bulkmail("login")
    assert result.code == 2
    assert result.err == ("Error: BULKMAIL_PASSWORD is not set. Set BULKMAIL_USERNAME and BULKMAIL_PASSWORD in the "
                          "environment, or run bulkmail in a terminal to be asked.\n")


def test_export_writes_the_file_and_one_summary_line(bulkmail, sandbox, tmp_path):
    sandbox.store.seed(120, sandbox.settings.domains)
    result = bulkmail("export", "-o", "all.xlsx", "-q")
    assert result.code == 0
    assert result.out.startswith("Exported 120 mailboxes (2 pages, ") and result.out.endswith("s) to all.xlsx\n")
    assert (tmp_path / "all.xlsx").is_file()


def test_export_default_path_is_a_timestamped_csv_under_reports(bulkmail, tmp_path):
    result = bulkmail("export")
    assert result.code == 0
    [written] = (tmp_path / "reports").iterdir()
    assert written.name.startswith("mailboxes-") and written.suffix == ".csv"


def test_default_output_names_never_overwrite_an_earlier_file(bulkmail, tmp_path):
    results = [bulkmail("export", "-q") for _ in range(3)]  # within one second, as often as not
    assert [r.code for r in results] == [0, 0, 0]
    assert len(list((tmp_path / "reports").iterdir())) == 3


def test_export_to_an_unknown_extension_exits_2(bulkmail):
    result = bulkmail("export", "-o", "all.txt")
    assert (result.code, result.err) == (2, "Error: Cannot write all.txt: use a .csv or .xlsx file name for --output.\n")


def test_unknown_option_is_a_usage_error_exit_2(bulkmail):
    result = bulkmail("export", "--pagesize", "5")
    assert result.code == 2
    assert result.err.splitlines()[-1] == "Error: No such option '--pagesize'. Did you mean '--page-size'?"


def test_password_option_does_not_exist(bulkmail):
    result = bulkmail("login", "--password", "x")
    assert result.code == 2
    assert result.err.splitlines()[-1] == "Error: No such option '--password'."


def test_demo_exports_imports_the_sample_and_reports(bulkmail, tmp_path):
    result = bulkmail("demo", "-q")
    assert result.code == 0
    assert "Results: added 12, removed 2, already_present 1\n" in result.out
    assert "Exported 260 mailboxes after the import" in result.out
    names = sorted(re.sub(r"-\d{8}-\d{6}", "", p.name) for p in (tmp_path / "reports").iterdir())
    assert names == ["demo-mailboxes-after.csv", "demo-mailboxes.csv", "demo-mailboxes.xlsx",
                     "onboarding-wave-results.xlsx"]
