"""Settings: command-line option > BULKMAIL_* variable > profile > built-in default.

Profiles live in a TOML file (``$BULKMAIL_CONFIG``, else ``config.toml`` in the user's config
folder), written only by bulkmail's own commands, owner-only. Passwords never go in it: they
come from BULKMAIL_PASSWORD, the OS keyring, a profile's ``password_command``, or a hidden
prompt — first found wins — and never go out (no repr, no log, no message)."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

from .errors import InputError, NoKeyring

DEFAULT_BASE_URL = "https://apiv2.clouduss.com"
KEYRING_SERVICE = "bulkmail"
# The keys a profile may hold, each with the type it must have (said as in the message, with
# an example); anything else in the file is refused with a message.
PROFILE_KEYS = {
    "base_url": (str, f'text, e.g. base_url = "{DEFAULT_BASE_URL}"'),
    "username": (str, 'text, e.g. username = "api@acme.com"'),
    "account_id": (str, 'text, e.g. account_id = "b441390e-5f1c-4b0e-9d4f-36d7839f6153"'),
    "domains": (list, 'a list of text, e.g. domains = ["acme.com", "acme.co.uk"]'),
    "max_remove": (int, "a whole number of 0 or more, e.g. max_remove = 50"),
    "password_command": (str, 'text, e.g. password_command = "pass show bulkmail/acme"'),
}
# A profile's name becomes part of file names ({profile}) and keyring entries: nothing else.
PROFILE_NAME = re.compile(r"[\w.-]+")
NAME_RULE = "profile names are made of letters, digits, '-', '_' and '.' (and are not '.' or '..')"
# How long a password_command may take (a pinentry waiting for a card, a vault asking for MFA).
PASSWORD_COMMAND_TIMEOUT = 60.0
log = logging.getLogger("bulkmail")


@dataclass
class Profile:
    """One named connection, as the config file holds it."""

    name: str
    base_url: str = DEFAULT_BASE_URL
    username: str = ""
    account_id: str | None = None
    domains: list[str] = field(default_factory=list)
    max_remove: int | None = None
    password_command: str | None = None

    def to_toml(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "name" and v not in (None, [], "")}


@dataclass
class ConnectionSettings:
    """What a run connects with, and where each setting came from (for -v; never the secret)."""

    base_url: str = DEFAULT_BASE_URL
    username: str = ""
    password: str = field(default="", repr=False)
    account_id: str | None = None
    profile: str | None = None
    domains: list[str] = field(default_factory=list)
    max_remove: int | None = None
    sources: dict[str, str] = field(default_factory=dict)


# -- the file ---------------------------------------------------------------------------------


def config_path() -> Path:
    import platformdirs

    if os.environ.get("BULKMAIL_CONFIG"):
        return Path(os.environ["BULKMAIL_CONFIG"])
    return platformdirs.user_config_path("bulkmail", appauthor=False) / "config.toml"


@dataclass
class Config:
    path: Path
    default_profile: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)
    # Profiles the file holds but bulkmail cannot use: why, and their settings as written (kept
    # as they are when bulkmail writes the file, so that fixing one is editing one line).
    broken: dict[str, str] = field(default_factory=dict)
    broken_values: dict[str, dict] = field(default_factory=dict)

    def profile(self, name: str) -> Profile:
        if name in self.broken:
            raise InputError(self.broken[name])
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none yet"
            raise InputError(f"No profile named {name!r} in {self.path} (profiles: {known}). "
                             "Add it with: bulkmail profile add NAME --base-url URL --username USER")
        return self.profiles[name]

    def save(self) -> None:
        """Write the file atomically with owner-only permissions (it names accounts and users)."""
        import tomli_w

        data: dict = {}
        if self.default_profile:
            data["default_profile"] = self.default_profile
        profiles = {name: p.to_toml() for name, p in self.profiles.items()} | self.broken_values
        data["profiles"] = dict(sorted(profiles.items()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            tomli_w.dump(data, handle)
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path)


def load_config(path: Path | None = None) -> Config:
    """The config file, or an empty one when it does not exist yet."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    path = path or config_path()
    if not path.is_file():
        return Config(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"Cannot read the config file {path}: {exc}. Fix it, or move it away to start afresh.") from None
    default = data.get("default_profile")
    if default is not None and not isinstance(default, str):
        raise InputError(f"{path}: default_profile = {_toml(default)}, but default_profile must be the name of a "
                         'profile, e.g. default_profile = "acme". Correct that line.')
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise InputError(f"{path}: profiles must be tables like [profiles.acme]. Correct the file.")
    config = Config(path, default_profile=default)
    for name, values in profiles.items():
        problem = _profile_problem(name, values)
        if problem:
            config.broken[name], config.broken_values[name] = f"{path}: {problem}", values
        else:
            config.profiles[name] = Profile(name, **values)
    _warn_if_public(path)
    return config


def profile_name_problem(name: str) -> str:
    """Why ``name`` cannot be a profile's name ('' when it can)."""
    if PROFILE_NAME.fullmatch(name) and name not in (".", ".."):
        return ""
    return f"{NAME_RULE[0].upper()}{NAME_RULE[1:]}; {name!r} is not one. Choose another name."


def _profile_problem(name: str, values) -> str:
    """Why a profile of the file cannot be used ('' when it can)."""
    if profile_name_problem(name):
        return f"profile {name!r} has a name bulkmail cannot use: {NAME_RULE}. Rename it in the file."
    if not isinstance(values, dict):
        return f"[profiles.{name}] must be a table of settings."
    if "password" in values:
        return (f"profile {name!r} has a password key. Passwords never go in the config file: remove that line, then "
                "store the password with 'bulkmail login --save', or give the profile a password_command, or set "
                "BULKMAIL_PASSWORD.")
    unknown = sorted(set(values) - set(PROFILE_KEYS))
    if unknown:
        return f"profile {name!r} has unknown keys {', '.join(unknown)} (known: {', '.join(PROFILE_KEYS)})."
    for key, value in values.items():
        kind, expected = PROFILE_KEYS[key]
        # bool is an int to Python, not to a person; a list must hold text
        if (not isinstance(value, kind) or isinstance(value, bool)
                or (kind is int and value < 0) or (kind is list and not all(isinstance(v, str) for v in value))):
            return f"profile {name!r} has {key} = {_toml(value)}, but {key} must be {expected}. Correct that line."
    return ""


def _toml(value) -> str:
    """A value as the file would spell it (near enough: JSON's spelling of TOML's types)."""
    return json.dumps(value, ensure_ascii=False, default=str)


_warned: set[Path] = set()


def _warn_if_public(path: Path) -> None:
    """The file holds no password, but it names accounts and the commands that print passwords:
    say so (once a run) when every user of the machine can read it."""
    if os.name == "nt" or path in _warned:
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o004:
        _warned.add(path)
        log.warning("%s can be read by every user of this machine. It holds no password, but it names accounts and "
                    "the commands that print their passwords. Make it private: chmod 600 %s", path, path)


# -- resolving a run's settings -------------------------------------------------------------------


def resolve(options: dict | None = None, profile_name: str | None = None, config: Config | None = None,
            env: dict | None = None) -> ConnectionSettings:
    """Each setting from the first that has it: ``options`` (command line), BULKMAIL_* variables,
    the profile (``profile_name``, else BULKMAIL_PROFILE, else the file's default), the default.
    The password is not looked up here (see password())."""
    env = os.environ if env is None else env
    options = {k: v for k, v in (options or {}).items() if v not in (None, (), [])}
    config = config or load_config()
    name = profile_name or env.get("BULKMAIL_PROFILE") or config.default_profile
    profile = config.profile(name) if name else None
    settings = ConnectionSettings(profile=name)
    for key, variable in (("base_url", "BULKMAIL_BASE_URL"), ("username", "BULKMAIL_USERNAME"),
                          ("account_id", "BULKMAIL_ACCOUNT_ID"), ("domains", None), ("max_remove", None)):
        if key in options:
            value, source = options[key], "command line"
        elif variable and env.get(variable, "").strip():
            value, source = env[variable].strip(), variable
        elif profile is not None and getattr(profile, key) not in (None, "", []):
            value, source = getattr(profile, key), f"profile {name}"
        else:
            continue
        setattr(settings, key, list(value) if key == "domains" else value)
        settings.sources[key] = source
    settings.sources.setdefault("base_url", "default")
    return settings


def keyring_key(base_url: str) -> str:
    """The keyring's service name: one entry per service address and user name, shared by the
    profiles that use the same login."""
    return f"{KEYRING_SERVICE} {base_url.rstrip('/')}"


def _keyring():
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or backend.priority <= 0:
        raise NoKeyring("No keyring is available on this machine (a headless server has none), so bulkmail cannot "
                        "store or read the password there. Give the profile a password_command (e.g. 'pass show "
                        "bulkmail/acme'), or set BULKMAIL_PASSWORD for the run. bulkmail never writes passwords "
                        "to a file.")
    return keyring


def keyring_get(base_url: str, username: str) -> str | None:
    try:
        return _keyring().get_password(keyring_key(base_url), username)
    except NoKeyring:
        return None


def keyring_set(base_url: str, username: str, password: str) -> None:
    _keyring().set_password(keyring_key(base_url), username, password)


def keyring_delete(base_url: str, username: str) -> bool:
    import keyring.errors

    try:
        _keyring().delete_password(keyring_key(base_url), username)
        return True
    except (NoKeyring, keyring.errors.PasswordDeleteError):
        return False


def run_password_command(command: str, profile: str | None) -> str:
    """The command's standard output, trimmed. It runs in a process group of its own, stopped
    whole after PASSWORD_COMMAND_TIMEOUT seconds. A failure is an error that names the profile
    and quotes the last line of the command's standard error, never its output (it may be the
    secret)."""
    where = f"profile {profile!r}" if profile else "the profile"
    try:
        child = subprocess.Popen(shlex.split(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"The password_command of {where} could not run ({type(exc).__name__}: "
                         f"{getattr(exc, 'strerror', None) or exc}). Check it with: bulkmail profile show "
                         f"{profile or 'NAME'}") from None
    try:
        output, errors = child.communicate(timeout=PASSWORD_COMMAND_TIMEOUT)
        why = f"exited with status {child.returncode}" if child.returncode else "printed nothing"
    except subprocess.TimeoutExpired:
        seconds = PASSWORD_COMMAND_TIMEOUT
        why = f"did not finish within {seconds:g} second{'' if seconds == 1 else 's'} and was stopped"
        output, errors = _stop(child)
    password = output.strip()
    if child.returncode != 0 or not password:
        said = [line.strip() for line in errors.splitlines() if line.strip()]
        quoted = f" (it said: {said[-1][:200]})" if said else ""
        raise InputError(f"The password_command of {where} {why}{quoted}. Run it by hand to see why.")
    return password


def _stop(child: subprocess.Popen) -> tuple[str, str]:
    """Kill the command and whatever it started (a pinentry, a helper), and read what it left."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(child.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups to kill
            child.kill()
    except ProcessLookupError:
        pass
    try:
        return child.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # something escaped the group and holds the pipes open
        child.kill()
        return "", ""


def credentials_hint(settings: ConnectionSettings) -> str:
    """What to check after the service refused the login: where the user name and the password
    came from (never the password)."""
    user_source = settings.sources.get("username", "")
    user = {"BULKMAIL_USERNAME": "BULKMAIL_USERNAME", "command line": "--username",
            "prompt": "the user name you typed"}.get(user_source) or f"the username of {user_source or 'the profile'}"
    service = keyring_key(settings.base_url)
    password = {
        "BULKMAIL_PASSWORD": "BULKMAIL_PASSWORD",
        "keyring": (f"the password stored in the keyring for {settings.username} at {settings.base_url} (remove it "
                    f"with: keyring del {shlex.quote(service)} {shlex.quote(settings.username)}; then bulkmail login "
                    "--save)"),
        "password_command": f"the password that the password_command of profile {settings.profile} prints",
        "prompt": "the password you typed",
    }.get(settings.sources.get("password", ""), "the password")
    return f"Check {user} and {password}."


def password_source(settings: ConnectionSettings, profile: Profile | None, env: dict | None = None) -> str:
    """Where the password will come from, without reading it (profile list, -v)."""
    env = os.environ if env is None else env
    if env.get("BULKMAIL_PASSWORD"):
        return "BULKMAIL_PASSWORD"
    if settings.username and keyring_get(settings.base_url, settings.username) is not None:
        return "keyring"
    if profile is not None and profile.password_command:
        return "password_command"
    return "prompt"


def fill_password(settings: ConnectionSettings, ask: Callable[[str, bool], str] | None,
                  config: Config | None = None, env: dict | None = None) -> ConnectionSettings:
    """The user name and password for ``settings``: BULKMAIL_PASSWORD, the keyring, the
    profile's password_command, else ``ask(label, secret)`` when interactive."""
    env = os.environ if env is None else env
    config = config or load_config()
    profile = config.profiles.get(settings.profile) if settings.profile else None
    if not settings.username:
        if ask is None:
            raise InputError("BULKMAIL_USERNAME is not set. Set BULKMAIL_USERNAME and BULKMAIL_PASSWORD in the "
                             "environment, use a profile (bulkmail profile add), or run bulkmail in a terminal to be "
                             "asked.")
        settings.username, settings.sources["username"] = ask("Username", False), "prompt"
    if env.get("BULKMAIL_PASSWORD"):
        settings.password, source = env["BULKMAIL_PASSWORD"], "BULKMAIL_PASSWORD"
    elif (stored := keyring_get(settings.base_url, settings.username)) is not None:
        settings.password, source = stored, "keyring"
    elif profile is not None and profile.password_command:
        settings.password, source = run_password_command(profile.password_command, profile.name), "password_command"
    elif ask is not None:
        settings.password, source = ask("Password", True), "prompt"
    else:
        raise InputError("BULKMAIL_PASSWORD is not set. Set BULKMAIL_USERNAME and BULKMAIL_PASSWORD in the "
                         "environment, use a profile with a stored password or a password_command, or run bulkmail "
                         "in a terminal to be asked.")
    settings.sources["password"] = source
    return settings


def describe(settings: ConnectionSettings) -> list[str]:
    """Lines for -v: the profile and where each setting came from; never the password itself."""
    lines = [f"profile: {settings.profile or '(none)'}"]
    for item in fields(ConnectionSettings):
        if item.name in settings.sources:
            value = "(hidden)" if item.name == "password" else getattr(settings, item.name)
            lines.append(f"{item.name}: {value} (from {settings.sources[item.name]})")
    return lines
