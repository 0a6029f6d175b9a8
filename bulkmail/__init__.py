"""bulkmail: export, add and remove the mailboxes of an Email Security console in bulk.

Library use::

    from bulkmail import Client, export_mailboxes
    with Client(url, username, password) as client:
        export_mailboxes(client, "mailboxes.xlsx")
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> the module that defines it. Imported on first use (PEP 562), so that the
# command line's --help and --version do not pay for requests and pandas.
_EXPORTS = {
    "Client": "api.client", "check_response": "api.http",
    "BulkmailError": "errors", "ExitStatus": "errors",
    "ExportOptions": "jobs.export", "export_mailboxes": "jobs.export",
    "ImportOptions": "jobs.options", "ImportResult": "jobs.change", "ReadOptions": "jobs.options",
    "check_file": "jobs.change", "import_file": "jobs.change", "run_change": "jobs.change",
    "Hooks": "jobs.options",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bulkmail' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
