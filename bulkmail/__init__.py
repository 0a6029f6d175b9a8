"""bulkmail: export, add and remove the mailboxes of an Email Security console in bulk.

Library use::

    from bulkmail import Client, export_mailboxes
    with Client(url, username, password) as client:
        export_mailboxes(client, "mailboxes.xlsx")
"""

__version__ = "0.1.0"

from .client import Client, check_response  # noqa: E402
from .errors import BulkmailError, ExitStatus  # noqa: E402
from .export import ExportOptions, export_mailboxes  # noqa: E402
from .importer import ImportOptions, ImportResult, ReadOptions, check_file, import_file, run_import  # noqa: E402

__all__ = ["BulkmailError", "Client", "ExitStatus", "ExportOptions", "ImportOptions", "ImportResult", "ReadOptions",
           "check_file", "check_response", "export_mailboxes", "import_file", "run_import", "__version__"]
