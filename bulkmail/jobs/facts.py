"""The facts a run is told by: what its input is (path, SHA-256, rows: the file is hashed once
per run), who ran it where for the report's Summary, and what the audit log's end record says."""

from __future__ import annotations

import os
from pathlib import Path


def run_outcome(result) -> dict:
    """What the audit log's end record says of an import, apply, sync or undo; the SHA-256 of
    its undo file lets `bulkmail undo RUN_ID` refuse a file another run wrote over it."""
    from .journal import file_hash

    undo = getattr(result, "undo", None)
    return {"exit_status": int(result.exit_status), "counts": {str(k): v for k, v in result.counts.items()},
            "report": str(result.report.resolve()) if result.report else None,
            "error": str(result.stopped) if result.stopped else None,
            "undo": str(undo.resolve()) if undo else None,  # beside the report, or where a full disk sent it
            "undo_sha256": file_hash(undo) if undo and undo.is_file() else None}

def input_facts(source: str | os.PathLike, rows: int) -> dict:
    """The input as the report, the journal, the audit log and --json name it: absolute path,
    SHA-256 (the file is read for it once per run), data rows."""
    from .journal import file_hash

    path = None if str(source) == "-" else Path(source)
    return {"path": str(path.resolve()) if path else "-",
            "sha256": file_hash(path) if path and path.is_file() else None, "rows": rows}

def audit_facts(facts: dict) -> list[tuple[str, object]]:
    """Who ran it, where, with which version, on which exact input: for the report's Summary."""
    from .. import __version__
    from ..audit import operator

    user, host = operator()
    return [("operator", user), ("host", host), ("tool version", __version__),
            ("input sha256", facts["sha256"] or "(standard input)")]
