"""Fixtures: a sandbox on a free loopback port in a thread, a client of it, and a CLI runner."""

from __future__ import annotations

import io
from dataclasses import dataclass

import keyring
import pytest
from keyring.backends import fail

from bulkmail.cli.main import Environment, run
from bulkmail.api.client import Client
from bulkmail.api.retry import Retry
from bulkmail.sandbox import Sandbox, Settings


@pytest.fixture(autouse=True)
def user_folders(tmp_path_factory, monkeypatch):
    """Every user folder (state, config, logs) in a temporary folder: a test never writes into
    the real home. Subprocesses inherit the variables."""
    home = tmp_path_factory.mktemp("home")
    for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.delenv("BULKMAIL_CONFIG", raising=False)
    monkeypatch.delenv("BULKMAIL_PROFILE", raising=False)
    monkeypatch.delenv("BULKMAIL_AUDIT_LOG", raising=False)
    # No real keyring, ever: the "no backend" one unless a test sets an in-memory one.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.set_keyring(fail.Keyring())
    return home


class Sleeps(list):
    """An injectable sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def settings(request) -> Settings:
    """The sandbox's API variant: @pytest.mark.parametrize("settings", [{...}], indirect=True)."""
    return Settings(**getattr(request, "param", {}))


@pytest.fixture
def sandbox(settings):
    with Sandbox(settings) as server:
        yield server


@pytest.fixture
def client(sandbox, sleeps):
    with Client(sandbox.url, sandbox.settings.username, sandbox.settings.password,
                retry=Retry(sleep=sleeps)) as c:
        yield c


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def bulkmail(capsys, monkeypatch, sandbox, tmp_path):
    """Run the command line as a user would, against the sandbox; returns code, stdout, stderr."""
    monkeypatch.setenv("BULKMAIL_BASE_URL", sandbox.url)
    monkeypatch.setenv("BULKMAIL_USERNAME", sandbox.settings.username)
    monkeypatch.setenv("BULKMAIL_PASSWORD", sandbox.settings.password)
    monkeypatch.delenv("BULKMAIL_ACCOUNT_ID", raising=False)
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, stdin: str | bytes = b"", tty: bool = False) -> Result:
        """``stdin``: what standard input holds; ``tty``: whether a person is typing there."""
        data = stdin.encode() if isinstance(stdin, str) else stdin
        env = Environment(stdin=io.TextIOWrapper(io.BytesIO(data)), stdin_isatty=tty)
        capsys.readouterr()
        code = run([str(a) for a in args], env)
        out, err = capsys.readouterr()
        return Result(int(code), out, err)

    return invoke
