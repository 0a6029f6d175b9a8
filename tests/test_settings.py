"""Settings of the wrong type, profile names, where a password came from, password commands,
and the small things of issue 16 (sync --json problems, --max-remove shares, the template)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from bulkmail import config as config_module
from bulkmail.config import load_config
from helpers import read_report, write_csv

from test_profiles import MemoryKeyring, no_credentials_in_env, three_accounts, three_profiles, write_config  # noqa: F401


def config_file(tmp_path, monkeypatch, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    monkeypatch.setenv("BULKMAIL_CONFIG", str(path))
    return path


def login_with_password_command(bulkmail, sandbox, monkeypatch, command: str):
    """`bulkmail login` with a default profile whose password comes from ``command`` alone."""
    write_config({"acme": {"base_url": sandbox.url, "username": "admin@acme.com", "password_command": command}},
                 default="acme")
    no_credentials_in_env(monkeypatch)
    return bulkmail("login")


# -- settings of the wrong type --------------------------------------------------------------------


@pytest.mark.parametrize("line,expected", [
    ("base_url = 5", 'base_url = 5, but base_url must be text, e.g. base_url = "https://apiv2.clouduss.com"'),
    ('max_remove = "lots"', 'max_remove = "lots", but max_remove must be a whole number of 0 or more, e.g. '
                            'max_remove = 50'),
    ("max_remove = -5", "max_remove = -5, but max_remove must be a whole number of 0 or more, e.g. max_remove = 50"),
    ("max_remove = true", "max_remove = true, but max_remove must be a whole number of 0 or more, e.g. "
                          "max_remove = 50"),
    ('domains = "acme.com"', 'domains = "acme.com", but domains must be a list of text, e.g. domains = ["acme.com", '
                             '"acme.co.uk"]'),
    ("account_id = 7", 'account_id = 7, but account_id must be text, e.g. account_id = '
                       '"b441390e-5f1c-4b0e-9d4f-36d7839f6153"'),
    ('password_command = ["pass", "show"]', 'password_command = ["pass", "show"], but password_command must be '
                                            'text, e.g. password_command = "pass show bulkmail/acme"'),
])
def test_a_setting_of_the_wrong_type_is_exit_2_naming_the_profile_the_key_and_the_type(bulkmail, tmp_path,
                                                                                      monkeypatch, line, expected):
    path = config_file(tmp_path, monkeypatch, f'[profiles.acme]\nusername = "u@acme.com"\n{line}\n')
    result = bulkmail("--profile", "acme", "login")
    assert (result.code, result.err) == (2, f"Error: {path}: profile 'acme' has {expected}. Correct that line.\n")


def test_profile_list_marks_a_broken_profile_and_still_lists_the_others(bulkmail, tmp_path, monkeypatch):
    path = config_file(tmp_path, monkeypatch, 'default_profile = "acme"\n'
                                              '[profiles.acme]\nbase_url = "https://a.example"\nusername = "a@acme.com"\n'
                                              '[profiles.broken]\nbase_url = "https://b.example"\nmax_remove = "lots"\n')
    monkeypatch.delenv("BULKMAIL_PASSWORD")
    listed = bulkmail("profile", "list")
    assert listed.code == 0, listed.err
    assert listed.out.splitlines() == [
        "   name    base_url           username    account_id  password",
        "*  acme    https://a.example  a@acme.com              prompt",
        "!  broken  (cannot be used: see below)",
        f"Profile broken cannot be used: {path}: profile 'broken' has max_remove = \"lots\", but max_remove must be "
        "a whole number of 0 or more, e.g. max_remove = 50. Correct that line."]
    rows = json.loads(bulkmail("profile", "list", "--json").out)["profiles"]
    assert [(r["name"], bool(r.get("error"))) for r in rows] == [("acme", False), ("broken", True)]
    assert bulkmail("--profile", "acme", "profile", "show", "acme").code == 0


def test_adding_a_profile_keeps_a_broken_one_in_the_file(bulkmail, tmp_path, monkeypatch):
    path = config_file(tmp_path, monkeypatch, '[profiles.broken]\nmax_remove = "lots"\n')
    added = bulkmail("profile", "add", "acme", "--base-url", "https://a.example", "--username", "a@acme.com",
                     "--no-keyring", "--no-check")
    assert added.code == 0, added.err
    assert 'max_remove = "lots"' in path.read_text()
    assert bulkmail("profile", "remove", "broken").code == 0
    assert "broken" not in path.read_text() and sorted(load_config().profiles) == ["acme"]


# -- profile names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".", "has space", ""])
def test_profile_add_refuses_a_name_that_is_not_letters_digits_dash_underscore_dot(bulkmail, name):
    result = bulkmail("profile", "add", name, "--base-url", "https://a.example", "--username", "u@a.example",
                      "--no-keyring", "--no-check")
    assert (result.code, result.err) == (2, f"Error: Profile names are made of letters, digits, '-', '_' and '.' "
                                            f"(and are not '.' or '..'); {name!r} is not one. Choose another name.\n")
    assert not load_config().path.exists()


def test_a_profile_with_a_bad_name_in_the_file_cannot_write_outside_the_folder(bulkmail, three_accounts, tmp_path,
                                                                               monkeypatch):
    a = three_accounts.accounts[0]
    path = config_file(tmp_path, monkeypatch, f'[profiles."../evil"]\nbase_url = "{three_accounts.url}"\n'
                                              f'username = "{a.username}"\n'
                                              f'[profiles.acme]\nbase_url = "{three_accounts.url}"\n'
                                              f'username = "{a.username}"\n')
    monkeypatch.setenv("BULKMAIL_PASSWORD", a.password)
    monkeypatch.delenv("BULKMAIL_USERNAME")
    monkeypatch.delenv("BULKMAIL_BASE_URL")
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path / "out")
    result = bulkmail("export", "--profile", "../evil", "--profile", "acme", "-o", "{profile}.csv")
    assert result.code == 2
    assert result.err == ("Error: Profile names are made of letters, digits, '-', '_' and '.' (and are not '.' or "
                          "'..'); '../evil' is not one. Choose another name.\n")
    assert sorted(p.name for p in tmp_path.rglob("*.csv")) == []


def test_one_profile_fills_in_profile_in_the_file_name(bulkmail, sandbox, tmp_path, monkeypatch):
    write_config({"acme": {"base_url": sandbox.url, "username": "admin@acme.com"}})
    sandbox.store.add("a@acme.com")
    result = bulkmail("export", "--profile", "acme", "-o", "inv-{profile}.csv")
    assert result.code == 0, result.err
    assert [p.name for p in tmp_path.glob("inv-*.csv")] == ["inv-acme.csv"]
    no_profile = bulkmail("export", "-o", "inv-{profile}.csv")
    assert (no_profile.code, no_profile.err) == (2, "Error: -o holds {profile}, but no profile is in use (--profile, "
                                                    "BULKMAIL_PROFILE or a default profile). Name one, or take "
                                                    "{profile} out of the file name.\n")


# -- where a password came from ----------------------------------------------------------------------


def test_a_wrong_password_from_password_command_names_the_command_not_the_variables(bulkmail, sandbox, monkeypatch):
    result = login_with_password_command(bulkmail, sandbox, monkeypatch, f"{sys.executable} -c \"print('wrong')\"")
    assert (result.code, result.err) == (3, "Error: Login failed for admin@acme.com: 401 Unauthorized for POST /auth: "
                                            "Invalid username or password. Check the username of profile acme and "
                                            "the password that the password_command of profile acme prints.\n")


def test_a_wrong_password_from_the_keyring_says_so(bulkmail, sandbox, monkeypatch):
    import keyring

    keyring.set_keyring(MemoryKeyring())
    keyring.set_password(config_module.keyring_key(sandbox.url), "admin@acme.com", "stale")
    monkeypatch.delenv("BULKMAIL_PASSWORD")
    result = bulkmail("login")
    assert (result.code, result.err) == (3, "Error: Login failed for admin@acme.com: 401 Unauthorized for POST /auth: "
                                            "Invalid username or password. Check BULKMAIL_USERNAME and the password "
                                            f"stored in the keyring for admin@acme.com at {sandbox.url} (remove it "
                                            f"with: keyring del 'bulkmail {sandbox.url}' admin@acme.com; then bulkmail "
                                            "login --save).\n")


def test_profile_add_with_a_wrong_password_names_the_option_and_the_command(bulkmail, sandbox):
    result = bulkmail("profile", "add", "acme", "--base-url", sandbox.url, "--username", "admin@acme.com",
                      "--password-command", f"{sys.executable} -c \"print('wrong')\"")
    assert (result.code, result.err) == (3, "Error: Login failed for admin@acme.com: 401 Unauthorized for POST /auth: "
                                            "Invalid username or password. Check --username and the password that "
                                            "the password_command of profile acme prints.\n")


# -- password commands -------------------------------------------------------------------------------


def test_a_hanging_password_command_is_stopped_with_its_children_and_its_last_words_shown(bulkmail, sandbox,
                                                                                      monkeypatch, tmp_path):
    pidfile = tmp_path / "child.pid"
    command = (f"sh -c 'sleep 60 & echo $! > {pidfile}; echo starting >&2; echo gpg: waiting for the card >&2; "
               "wait'")
    monkeypatch.setattr(config_module, "PASSWORD_COMMAND_TIMEOUT", 1.0)
    started = time.monotonic()
    result = login_with_password_command(bulkmail, sandbox, monkeypatch, command)
    assert (result.code, result.err) == (2, "Error: The password_command of profile 'acme' did not finish within 1 "
                                            "second and was stopped (it said: gpg: waiting for the card). Run it by "
                                            "hand to see why.\n")
    assert time.monotonic() - started < 10
    child = int(pidfile.read_text())
    for _ in range(50):  # the sleep was killed with its parent (a zombie waiting for its reaper is dead too)
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        os.kill(child, 9)
        pytest.fail("the password_command's child was left running")


def test_a_failing_password_command_shows_the_last_line_of_its_errors_never_its_output(bulkmail, sandbox,
                                                                                     monkeypatch):
    script = "import sys; print('secret-ish'); print('gpg: one', file=sys.stderr); " \
             "print('gpg: decryption failed: No secret key', file=sys.stderr); sys.exit(2)"
    result = login_with_password_command(bulkmail, sandbox, monkeypatch, f"{sys.executable} -c \"{script}\"")
    assert (result.code, result.err) == (2, "Error: The password_command of profile 'acme' exited with status 2 (it "
                                            "said: gpg: decryption failed: No secret key). Run it by hand to see "
                                            "why.\n")


def test_a_world_readable_config_file_is_warned_about(bulkmail, tmp_path, monkeypatch):
    path = config_file(tmp_path, monkeypatch, '[profiles.acme]\nusername = "u@acme.com"\n')
    path.chmod(0o644)
    result = bulkmail("profile", "list")
    assert result.code == 0
    assert result.err == (f"bulkmail: {path} can be read by every user of this machine. It holds no password, but it "
                          f"names accounts and the commands that print their passwords. Make it private: chmod 600 "
                          f"{path}\n")
    path.chmod(0o600)
    assert bulkmail("profile", "list").err == ""


# -- small things ------------------------------------------------------------------------------------


def test_sync_json_problems_leave_out_rows_already_present(bulkmail, sandbox, tmp_path):
    sandbox.store.add("here@acme.com")
    write_csv(tmp_path / "roster.csv", ["email", "here@acme.com", "new@acme.com", "not-an-address"])
    result = bulkmail("--json", "sync", "roster.csv", "--dry-run", "--skip-invalid", "--report", "r.csv")
    assert result.code == 1, result.err
    problems = json.loads(result.out)["problems"]
    assert [(p["email_address"], p["status"]) for p in problems] == [("not-an-address", "invalid")]


@pytest.mark.parametrize("share", ["150%", "-5%", "-5", "100.5%"])
def test_sync_refuses_a_max_remove_below_zero_or_above_the_whole(bulkmail, sandbox, tmp_path, share):
    write_csv(tmp_path / "roster.csv", ["email", "here@acme.com"])
    result = bulkmail("sync", "roster.csv", "--max-remove", share, "--yes")
    assert (result.code, result.err) == (2, "Error: --max-remove takes a number of mailboxes (0 or more) or a share of "
                                            f"the scope from 0% to 100%, e.g. 50 or 10%; got {share!r}.\n")
    assert sandbox.store.addresses() == set()
    assert sandbox.store.requests[("POST", "/auth")] == 0  # refused before the login


def test_export_across_profiles_in_json_counts_the_pages(bulkmail, three_accounts, monkeypatch, tmp_path):
    import keyring

    keyring.set_keyring(MemoryKeyring())
    three_profiles(three_accounts)
    for account in three_accounts.accounts[:2]:
        keyring.set_password(config_module.keyring_key(three_accounts.url), account.username, account.password)
    no_credentials_in_env(monkeypatch)
    result = bulkmail("--json", "export", "--profile", "acme", "--profile", "globex", "-o", "all.csv")
    assert result.code == 0, result.err
    facts = json.loads(result.out)
    assert facts["pages"] == 2
    assert [a["pages"] for a in facts["accounts"]] == [1, 1]


def test_the_template_says_the_name_is_sent(bulkmail, tmp_path):
    import openpyxl

    assert bulkmail("template", "-o", "t.xlsx").code == 0
    lines = [row[0] for row in openpyxl.load_workbook(tmp_path / "t.xlsx")["Instructions"].iter_rows(values_only=True)]
    assert "realname: optional, the person's display name; it is sent with each add and copied into the report." \
        in lines
    assert not [line for line in lines if line and "own reference" in line]



def test_export_across_all_profiles_reports_a_broken_one_and_exports_the_others(bulkmail, sandbox, tmp_path,
                                                                               monkeypatch):
    path = config_file(tmp_path, monkeypatch, f'[profiles.acme]\nbase_url = "{sandbox.url}"\n'
                                              'username = "admin@acme.com"\n'
                                              '[profiles.broken]\nmax_remove = "lots"\n')
    sandbox.store.add("a@acme.com")
    result = bulkmail("export", "--all-profiles", "-o", "all.csv")
    assert result.code == 1
    assert result.err == (f"Error: profile broken: {path}: profile 'broken' has max_remove = \"lots\", but max_remove "
                          "must be a whole number of 0 or more, e.g. max_remove = 50. Correct that line.\n")
    assert [line["email_address"] for line in read_report(tmp_path / "all.csv")] == ["a@acme.com"]
