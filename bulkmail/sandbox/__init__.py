"""A local emulator of the Email Security mailbox API (see shared/API.md), for tests, rehearsals and the demo."""

from .app import Account, Fault, SandboxApp, Settings
from .server import Sandbox
from .store import Store

__all__ = ["Account", "Fault", "Sandbox", "SandboxApp", "Settings", "Store"]
