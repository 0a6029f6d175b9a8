"""Profiles, stored credentials and one export across many accounts (issue 10)."""

from __future__ import annotations

import json
import os
import stat
import sys

import keyring
import pytest
from keyring.backend import KeyringBackend

from bulkmail.config import Config, Profile, keyring_key, load_config, resolve
from bulkmail.sandbox import Sandbox
from helpers import read_report, write_csv


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in this test's memory (keyring lets tests set their own backend)."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


@pytest.fixture
def memory_keyring():
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def three_accounts():
    with Sandbox(seed_mailboxes=5, accounts=3) as server:
        yield server


def write_config(profiles: dict[str, dict], default: str | None = None) -> Config:
    config = load_config()
    config.profiles = {name: Profile(name, **values) for name, values in profiles.items()}
    config.default_profile = default
    config.save()
    return config


def no_credentials_in_env(monkeypatch):
    for name in ("BULKMAIL_BASE_URL", "BULKMAIL_USERNAME", "BULKMAIL_PASSWORD", "BULKMAIL_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)


# -- precedence --------------------------------------------------------------------------------


PROFILE = {"base_url": "https://profile.example", "username": "p@acme.com", "account_id": "from-profile",
           "domains": ["acme.com"], "max_remove": 50}


@pytest.mark.parametrize("option,variable,expected,source", [
    (None, None, "https://profile.example", "profile acme"),
    (None, "https://env.example", "https://env.example", "BULKMAIL_BASE_URL"),
    ("https://option.example", "https://env.example", "https://option.example", "command line"),
])
def test_base_url_comes_from_option_then_variable_then_profile(option, variable, expected, source):
    config = Config(path=None, profiles={"acme": Profile("acme", **PROFILE)})
    env = {"BULKMAIL_BASE_URL": variable} if variable else {}
    settings = resolve({"base_url": option}, "acme", config, env)
    assert (settings.base_url, settings.sources["base_url"]) == (expected, source)


@pytest.mark.parametrize("key,option,variable,expected", [
    ("username", None, "BULKMAIL_USERNAME", "env@acme.com"),
    ("username", None, None, "p@acme.com"),
    ("account_id", None, "BULKMAIL_ACCOUNT_ID", "env@acme.com"),
    ("account_id", None, None, "from-profile"),
    ("domains", ("cli.com",), None, ["cli.com"]),
    ("domains", (), None, ["acme.com"]),
    ("max_remove", 3, None, 3),
    ("max_remove", None, None, 50),
])
def test_each_setting_follows_option_variable_profile_default(key, option, variable, expected):
    config = Config(path=None, profiles={"acme": Profile("acme", **PROFILE)})
    env = {variable: "env@acme.com"} if variable else {}
    assert getattr(resolve({key: option}, "acme", config, env), key) == expected


def test_without_any_profile_the_defaults_and_environment_apply():
    settings = resolve({}, None, Config(path=None), {"BULKMAIL_USERNAME": "u@acme.com"})
    assert (settings.base_url, settings.username, settings.profile) == ("https://apiv2.clouduss.com", "u@acme.com", None)


def test_the_profile_comes_from_the_variable_then_the_default_profile():
    config = Config(path=None, default_profile="b", profiles={"a": Profile("a", username="a@x.com"),
                                                              "b": Profile("b", username="b@x.com")})
    assert resolve({}, None, config, {}).username == "b@x.com"
    assert resolve({}, None, config, {"BULKMAIL_PROFILE": "a"}).username == "a@x.com"


# -- the file ------------------------------------------------------------------------------------


def test_the_config_file_is_written_owner_only(user_folders):
    config = write_config({"acme": {"username": "api@acme.com"}}, default="acme")
    assert config.path == user_folders / "xdg_config_home" / "bulkmail" / "config.toml"
    assert stat.S_IMODE(os.stat(config.path).st_mode) == 0o600
    assert load_config().profiles["acme"].username == "api@acme.com"


def test_a_password_in_the_config_file_is_refused(bulkmail, tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text('[profiles.acme]\nusername = "u@acme.com"\npassword = "hunter2"\n')
    path.chmod(0o600)
    monkeypatch.setenv("BULKMAIL_CONFIG", str(path))
    result = bulkmail("--profile", "acme", "login")
    assert result.code == 2
    assert result.err == (f"Error: {path}: profile 'acme' has a password key. Passwords never go in the config file: "
                          "remove that line, then store the password with 'bulkmail login --save', or give the profile "
                          "a password_command, or set BULKMAIL_PASSWORD.\n")
    assert "hunter2" not in result.out + result.err


def test_an_unknown_profile_is_named_with_the_known_ones(bulkmail, monkeypatch):
    write_config({"acme": {"username": "u@acme.com"}})
    result = bulkmail("export", "--profile", "acmee")
    assert result.code == 2
    assert result.err.startswith("Error: No profile named 'acmee' in ") and "(profiles: acme)" in result.err


# -- passwords -----------------------------------------------------------------------------------


def test_profile_add_stores_the_password_in_the_keyring_and_later_runs_use_it(bulkmail, sandbox, monkeypatch,
                                                                               memory_keyring, tmp_path):
    result = bulkmail("profile", "add", "acme", "--base-url", sandbox.url, "--username", "admin@acme.com")
    assert result.code == 0, result.err
    assert memory_keyring.entries == {(keyring_key(sandbox.url), "admin@acme.com"): "sandbox-demo"}
    config_text = load_config().path.read_text()
    assert "sandbox-demo" not in config_text and 'default_profile = "acme"' in config_text
    no_credentials_in_env(monkeypatch)
    export = bulkmail("-vv", "export", "-o", "all.csv")
    assert export.code == 0, export.err
    assert "bulkmail: profile: acme\n" in export.err
    assert "bulkmail: password: (hidden) (from keyring)\n" in export.err
    assert "sandbox-demo" not in export.out + export.err


def test_without_a_keyring_profile_add_says_so_and_points_elsewhere(bulkmail, sandbox):
    result = bulkmail("profile", "add", "acme", "--base-url", sandbox.url, "--username", "admin@acme.com")
    assert result.code == 2
    assert result.err == ("Error: No keyring is available on this machine (a headless server has none), so bulkmail "
                          "cannot store or read the password there. Give the profile a password_command (e.g. 'pass "
                          "show bulkmail/acme'), or set BULKMAIL_PASSWORD for the run. bulkmail never writes "
                          "passwords to a file.\n")
    assert not load_config().path.exists()


def test_an_unattended_run_reads_the_password_from_password_command(bulkmail, sandbox, monkeypatch, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("sandbox-demo\n")
    command = f"{sys.executable} -c \"print(open(r'{secret}').read())\""
    added = bulkmail("profile", "add", "acme", "--base-url", sandbox.url, "--username", "admin@acme.com",
                     "--password-command", command)
    assert added.code == 0, added.err
    assert added.out.endswith("; the password comes from its password_command. It is the default profile.\n")
    no_credentials_in_env(monkeypatch)
    write_csv(tmp_path / "w.csv", ["action,email", "add,new@acme.com"])
    result = bulkmail("import", "w.csv", "--yes", "--report", "r.xlsx")
    assert result.code == 0, result.err
    assert sandbox.store.addresses() == {"new@acme.com"}
    import openpyxl
    summary = dict(openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True))
    assert summary["profile"] == "acme"


def test_a_failing_password_command_is_a_clear_error(bulkmail, sandbox, monkeypatch):
    write_config({"acme": {"base_url": sandbox.url, "username": "admin@acme.com",
                           "password_command": f"{sys.executable} -c \"import sys; print('oops'); sys.exit(3)\""}},
                 default="acme")
    no_credentials_in_env(monkeypatch)
    result = bulkmail("login")
    assert (result.code, result.err) == (2, "Error: The password_command of profile 'acme' exited with status 3. "
                                            "Run it by hand to see why.\n")
    assert "oops" not in result.err


@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")  # a fake terminal cannot hide the echo
def test_login_save_stores_a_typed_password(bulkmail, sandbox, monkeypatch, memory_keyring):

    monkeypatch.delenv("BULKMAIL_PASSWORD")
    result = bulkmail("login", "--save", stdin="sandbox-demo\n", tty=True)
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == f"Saved the password in the keyring for admin@acme.com at {sandbox.url}."
    assert memory_keyring.entries[(keyring_key(sandbox.url), "admin@acme.com")] == "sandbox-demo"


def test_profile_remove_keeps_a_keyring_entry_another_profile_shares(bulkmail, memory_keyring):
    write_config({"a": {"base_url": "https://x.example", "username": "u@x.com"},
                  "b": {"base_url": "https://x.example", "username": "u@x.com"}}, default="a")
    keyring.set_password(keyring_key("https://x.example"), "u@x.com", "pw")
    assert bulkmail("profile", "remove", "a").out == "Removed profile a.\n"
    assert memory_keyring.entries
    assert bulkmail("profile", "remove", "b").out == "Removed profile b; its password was removed from the keyring.\n"
    assert memory_keyring.entries == {}


# -- listing ---------------------------------------------------------------------------------------


def test_profile_list_shows_where_passwords_come_from_never_the_secret(bulkmail, memory_keyring, monkeypatch):
    write_config({"acme": {"base_url": "https://a.example", "username": "api@acme.com", "account_id": "id-1"},
                  "globex": {"base_url": "https://g.example", "username": "api@globex.com",
                             "password_command": "pass show globex"}}, default="acme")
    keyring.set_password(keyring_key("https://a.example"), "api@acme.com", "top-secret")
    monkeypatch.delenv("BULKMAIL_PASSWORD", raising=False)
    listed = bulkmail("profile", "list")
    assert listed.out.splitlines() == [
        "   name    base_url           username        account_id  password",
        "*  acme    https://a.example  api@acme.com    id-1        keyring",
        "   globex  https://g.example  api@globex.com              password_command"]
    rows = json.loads(bulkmail("profile", "list", "--json").out)["profiles"]
    assert [(r["name"], r["password"], r["default"]) for r in rows] == [("acme", "keyring", True),
                                                                          ("globex", "password_command", False)]
    shown = bulkmail("profile", "show", "globex").out
    assert "password_command: pass show globex\n" in shown
    assert all("top-secret" not in text for text in (listed.out, shown, load_config().path.read_text()))
    assert bulkmail("profile", "default", "globex").out == "Profile globex is now the default.\n"
    assert load_config().default_profile == "globex"


# -- across accounts ---------------------------------------------------------------------------------


def three_profiles(server) -> None:
    a, b, _ = server.accounts
    write_config({"acme": {"base_url": server.url, "username": a.username},
                  "globex": {"base_url": server.url, "username": b.username},
                  "down": {"base_url": "http://127.0.0.1:9", "username": "x@down.example"}}, default="acme")


def test_export_across_accounts_writes_one_file_and_reports_the_account_that_failed(bulkmail, three_accounts,
                                                                                    monkeypatch, memory_keyring,
                                                                                    tmp_path):
    three_profiles(three_accounts)
    for account in three_accounts.accounts[:2]:
        keyring.set_password(keyring_key(three_accounts.url), account.username, account.password)
    keyring.set_password(keyring_key("http://127.0.0.1:9"), "x@down.example", "pw")
    no_credentials_in_env(monkeypatch)
    result = bulkmail("export", "--all-profiles", "-o", "inventory.xlsx", "--retries", "0")
    assert result.code == 1
    assert result.err.startswith("Error: profile down: Cannot reach http://127.0.0.1:9")
    assert result.out.splitlines()[-1] == "Exported 10 mailboxes of 2 profiles to inventory.xlsx"
    lines = read_report(tmp_path / "inventory.xlsx", sheet="Mailboxes")
    assert list(lines[0])[:3] == ["profile", "id", "email_address_id"]
    by_profile = {p: {line["email_address"] for line in lines if line["profile"] == p} for p in ("acme", "globex")}
    assert by_profile["acme"] == three_accounts.accounts[0].store.addresses()
    assert by_profile["globex"] == three_accounts.accounts[1].store.addresses()


def test_export_with_profile_in_the_name_writes_one_file_per_profile(bulkmail, three_accounts, monkeypatch,
                                                                     memory_keyring, tmp_path):
    three_profiles(three_accounts)
    for account in three_accounts.accounts[:2]:
        keyring.set_password(keyring_key(three_accounts.url), account.username, account.password)
    no_credentials_in_env(monkeypatch)
    result = bulkmail("--profile", "acme", "export", "--profile", "globex", "-o", "inv-{profile}.csv")
    assert result.code == 0, result.err
    assert sorted(p.name for p in tmp_path.glob("inv-*.csv")) == ["inv-acme.csv", "inv-globex.csv"]
    assert len(read_report(tmp_path / "inv-globex.csv")) == 5


def test_every_account_failing_exits_with_the_failures_own_code(bulkmail, monkeypatch, memory_keyring):
    write_config({"down": {"base_url": "http://127.0.0.1:9", "username": "x@down.example"}})
    no_credentials_in_env(monkeypatch)
    monkeypatch.setenv("BULKMAIL_PASSWORD", "pw")
    result = bulkmail("export", "--all-profiles", "-o", "all.csv", "--retries", "0")
    assert result.code == 4


def test_one_command_but_export_refuses_several_profiles(bulkmail):
    write_config({"a": {"username": "a@x.com"}, "b": {"username": "b@x.com"}})
    result = bulkmail("--profile", "a", "login", "--profile", "b")
    assert (result.code, result.err) == (2, "Error: --profile was given 2 times; only export works across several "
                                            "profiles. Run this command once per profile.\n")


def test_import_applies_the_profiles_domains_and_max_remove(bulkmail, sandbox, monkeypatch, tmp_path):
    write_config({"acme": {"base_url": sandbox.url, "username": "admin@acme.com", "domains": ["acme.com"],
                           "max_remove": 1}}, default="acme")
    for n in range(3):
        sandbox.store.add(f"leaver{n}@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.co.uk"] + [f"remove,leaver{n}@acme.com" for n in range(2)])
    result = bulkmail("import", "w.csv", "--yes")
    assert result.code == 2
    assert result.err == ("Error: The plan removes 2 mailboxes, more than --max-remove 1. Nothing was sent. Check the "
                          "file, or raise --max-remove.\n")
    assert bulkmail("import", "w.csv", "--yes", "--max-remove", "5", "--fresh").code == 1  # the .co.uk row invalid


def test_the_sandbox_refuses_another_accounts_header_with_403(three_accounts):
    from bulkmail.api.client import Client
    from bulkmail.errors import AuthError

    first, second, _ = three_accounts.accounts
    with Client(three_accounts.url, second.username, second.password, account_id=first.account_id) as client:
        client.login()
        with pytest.raises(AuthError) as refused:
            client.get_page(1)
    assert refused.value.status == 403
    assert len({a.account_id for a in three_accounts.accounts}) == 3
    assert not first.store.addresses() & second.store.addresses()


def test_password_command_runs_without_a_shell_and_sh_c_gives_it_one_as_the_readme_says(bulkmail, sandbox,
                                                                                         monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "(run without a shell: quotes are honoured, but a pipe, `$VAR` or `~` is not, so write\n  `sh -c 'pass " \
           "show acme | head -1'` for those;" in readme
    no_credentials_in_env(monkeypatch)
    for command, code in [("echo sandbox-demo | cat", 3),  # echo prints "sandbox-demo | cat": a wrong password
                          ("sh -c 'echo sandbox-demo | cat'", 0)]:
        write_config({"acme": {"base_url": sandbox.url, "username": "admin@acme.com", "password_command": command}},
                     default="acme")
        assert bulkmail("login").code == code
