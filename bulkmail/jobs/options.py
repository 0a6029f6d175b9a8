"""Options and hooks: how a front-end tells the pipeline what to do, and lends it what it
needs to ask or tell (the same names as the command line's options)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from ..progress import Watch

if TYPE_CHECKING:
    from ..audit import Run
    from .planning import Plan


@dataclass(frozen=True)
class ReadOptions:
    """How to read an input file (import and validate): --sheet, --map, --action, --domain."""

    sheet: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    action: str | None = None  # for rows without one (files with no action column)
    domains: tuple[str, ...] = ()  # allow-list; other rows are invalid
    only: tuple[str, ...] = ()  # a results report read back: keep only the rows with these statuses
    hidden_rows: bool = False  # read the rows a workbook hides (left out by default)


@dataclass(frozen=True)
class ImportOptions:
    """How to run an import; each field is the command-line option of the same name."""

    dry_run: bool = False
    batch_size: int = 100
    verify: bool = True  # --no-verify turns it off: trust the service's 2xx
    max_remove: int | None = None
    allow_mass_remove: bool = False
    strict: bool = False  # already_present / not_found count as problems
    resume: bool = False  # finish the interrupted run of this file
    fresh: bool = False  # start over although a run of this file is unfinished
    plan_out: Path | None = None  # with dry_run: write the plan for `bulkmail apply` here
    undoes: str | None = None  # the run id this run undoes (bulkmail undo RUN_ID): its Summary says so


@dataclass(frozen=True)
class Hooks:
    """What a front-end lends a run: ``watch`` sees its progress, ``confirm(plan)`` is asked
    before anything is sent (a no stops it), ``audit`` logs each change once. Stopping it is
    the client's ``cancel`` flag (Ctrl-C, SIGTERM, --max-duration, a Cancel button)."""

    watch: Watch | None = None
    confirm: Callable[[Plan], bool] | None = None
    audit: Run | None = None
