"""The command line as a user runs it: exit codes and messages word for word."""

from __future__ import annotations

import re

from bulkmail import __version__
from helpers import write_csv


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
                          "gave up after 1 attempt. Check --base-url and the network.\n")


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
                          "environment, use a profile with a stored password or a password_command, or run bulkmail "
                          "in a terminal to be asked.\n")


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
                     "onboarding-wave-results-undo.csv", "onboarding-wave-results.xlsx"]


def test_sandbox_command_prints_its_url_and_demo_credentials():
    import subprocess
    import sys
    process = subprocess.Popen([sys.executable, "-m", "bulkmail", "sandbox", "--port", "0", "--mailboxes", "3"],
                               stdout=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(5)]
    finally:
        process.terminate()
        process.wait()
    url = lines[0].split("listening on ")[1].split()[0]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert lines == [f"Sandbox listening on {url} with 3 mailboxes (Ctrl-C to stop). Demo credentials:\n",
                     f"  export BULKMAIL_BASE_URL={url}\n", "  export BULKMAIL_USERNAME=admin@acme.com\n",
                     "  export BULKMAIL_PASSWORD=sandbox-demo\n", "Registered domains: acme.com, acme.co.uk\n"]


def test_sandbox_refuses_a_non_loopback_address(bulkmail):
    result = bulkmail("sandbox", "--host", "0.0.0.0")
    assert (result.code, result.err) == (2, "Error: The sandbox listens on loopback only; 0.0.0.0 is not a loopback "
                                            "address.\n")


def test_verbose_says_what_was_detected_in_the_file(bulkmail, tmp_path):
    (tmp_path / "leavers.csv").write_bytes("Name;E-Mail\r\nJürgen;j@acme.com\r\n".encode("cp1252"))
    result = bulkmail("-v", "validate", "leavers.csv", "--action", "remove")
    assert "bulkmail: read leavers.csv: encoding cp1252, delimiter ';'\n" in result.err


def test_answering_no_at_the_prompt_sends_nothing(bulkmail, sandbox, tmp_path, monkeypatch):

    (tmp_path / "w.csv").write_text("action,email\nadd,a@acme.com\n")
    result = bulkmail("import", "w.csv", stdin="n\n", tty=True)
    assert f"About to add 1 and remove 0 mailboxes in account {sandbox.settings.account_id} ({sandbox.url}). " \
           "Continue? [y/N]: " in result.err
    assert result.err.endswith("Error: You answered no at the prompt; nothing was sent.\n")
    assert "Plan: would_add 1\n" in result.err
    assert result.code == 2 and sandbox.store.addresses() == set()


def test_python_dash_m_runs_the_same_command_line():
    import subprocess
    import sys
    from bulkmail import __version__
    done = subprocess.run([sys.executable, "-m", "bulkmail", "--version"], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, f"bulkmail, version {__version__}\n")


def test_reading_another_sheet_than_the_first_is_said_without_verbose(bulkmail, tmp_path):
    from corpus import hr_workbook
    result = bulkmail("validate", hr_workbook(tmp_path))
    assert result.out.splitlines()[:2] == ["Read 3 rows from sheet 'Data' of wave.xlsx.",
                                           "Sheet 'Read me' has no email column; using sheet 'Data'."]


def test_password_is_asked_in_a_terminal_without_echo_and_never_shown(sandbox):
    import os
    import pty
    import select
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if k != "BULKMAIL_PASSWORD"}
    env.update(BULKMAIL_BASE_URL=sandbox.url, BULKMAIL_USERNAME="admin@acme.com")
    pid, terminal = pty.fork()
    if pid == 0:  # the child: bulkmail with a real controlling terminal
        os.execve(sys.executable, [sys.executable, "-m", "bulkmail", "login"], env)
    screen, typed, deadline = b"", False, time.monotonic() + 30
    while time.monotonic() < deadline:
        if not select.select([terminal], [], [], 0.1)[0]:
            continue
        try:
            chunk = os.read(terminal, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
        if not typed and b"Password: " in screen:
            os.write(terminal, b"sandbox-demo\n")
            typed = True
    _, status = os.waitpid(pid, 0)
    text = screen.decode()
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Password: " in text and "Logged in to " in text
    assert "sandbox-demo" not in text  # not echoed, not printed


def test_resume_with_fresh_is_refused_before_anything_is_read(bulkmail, sandbox):
    result = bulkmail("import", "missing.csv", "--resume", "--fresh")
    assert (result.code, result.err) == (2, "Error: --resume cannot be combined with --fresh or --dry-run.\n")
    assert sandbox.store.requests[("POST", "/auth")] == 0


def test_help_and_version_do_not_import_the_heavy_libraries():
    import subprocess
    import sys
    code = ("import sys; from bulkmail.cli.main import run; run(['--version']); run(['import', '--help']); "
            "print(sorted(m for m in ('pandas', 'requests', 'openpyxl', 'werkzeug') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_csv_validation_loads_no_spreadsheet_library_no_progress_bars_and_no_address_validator(tmp_path):
    import subprocess
    import sys
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com", "remove,b@acme.co.uk"])
    code = ("import sys; from bulkmail.cli.main import run; code = run(['validate', 'w.csv', '-q']); "
            "print(code, sorted(m for m in ('pandas', 'openpyxl', 'python_calamine', 'tqdm', 'email_validator', "
            "'bulkmail.files.workbook', 'bulkmail.files.xlsx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "0 []", done.stderr


def test_the_package_names_its_public_api_and_imports_each_part_on_first_use():
    import pytest

    import bulkmail
    assert bulkmail.ImportOptions().batch_size == 100 and bulkmail.Client.__name__ == "Client"
    assert {"Client", "export_mailboxes", "import_file", "__version__"} <= set(dir(bulkmail))
    with pytest.raises(AttributeError, match="module 'bulkmail' has no attribute 'nothing'"):
        bulkmail.nothing
