"""Connection settings from flags, the environment and a prompt. The password never comes from a
command-line option (it would show in shell history and process lists) and never goes out."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from .client import DEFAULT_BASE_URL
from .errors import InputError


@dataclass
class Settings:
    base_url: str = DEFAULT_BASE_URL
    username: str = ""
    password: str = field(default="", repr=False)
    account_id: str | None = None


def load_settings(base_url: str | None = None, ask: Callable[[str, bool], str] | None = None) -> Settings:
    """Settings from BULKMAIL_* variables; ``ask(label, secret)`` fills what is missing, when the
    run is interactive. Without it, a missing value is an error that says what to set."""
    env = os.environ
    settings = Settings(
        base_url=base_url or env.get("BULKMAIL_BASE_URL") or DEFAULT_BASE_URL,
        username=env.get("BULKMAIL_USERNAME", "").strip(),
        password=env.get("BULKMAIL_PASSWORD", ""),
        account_id=env.get("BULKMAIL_ACCOUNT_ID", "").strip() or None,
    )
    for name, secret in (("username", False), ("password", True)):
        if not getattr(settings, name):
            if ask is None:
                raise InputError(f"BULKMAIL_{name.upper()} is not set. Set BULKMAIL_USERNAME and "
                                 "BULKMAIL_PASSWORD in the environment, or run bulkmail in a terminal to be asked.")
            setattr(settings, name, ask(name.capitalize(), secret))
    return settings
