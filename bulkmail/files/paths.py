"""Where bulkmail reads and writes: defaults in one place, and the rule for every output file.

Files a user opens (exports, reports) go to ./reports by default; state kept between runs
(journals) lives in the user's own folders (platformdirs), so it is found from any folder."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

from ..errors import InputError, OutputExists

REPORTS = Path("reports")
STDIO = "-"  # a file name meaning standard input or output
WRITABLE = (".csv", ".xlsx")
READABLE = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")


def timestamp() -> str:
    """The stamp in default file names: sortable, no characters Windows refuses."""
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def now() -> str:
    """The time as reports and journals show it."""
    return f"{datetime.now():%Y-%m-%d %H:%M:%S}"


def state_dir() -> Path:
    """The user's state folder for bulkmail (XDG_STATE_HOME on Linux)."""
    import platformdirs

    return platformdirs.user_state_path("bulkmail", appauthor=False)


def journal_dir() -> Path:
    return state_dir() / "journals"


def unused_path(path: Path, companion: Callable[[Path], Path] | None = None) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext`` … when it is taken: a default name never
    overwrites an earlier report or export (two runs can start within the same second).
    ``companion(path)``: a file that goes with it (a report's undo file), which must be free too."""
    candidate, n = path, 1
    while candidate.exists() or (companion is not None and companion(candidate).exists()):
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def default_output(source: str | os.PathLike, kind: str = "results", folder: str | os.PathLike = REPORTS,
                   suffix: str | None = None) -> Path:
    """reports/<input-stem>-<timestamp>-<kind>.<xlsx for a spreadsheet input, else csv>: always a new name."""
    source = Path(source)
    if suffix is None:
        suffix = ".xlsx" if source.suffix.lower() in (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods") else ".csv"
    stem = "stdin" if str(source) == STDIO else source.stem
    return unused_path(Path(folder) / f"{stem}-{timestamp()}-{kind}{suffix}")


def output_format(path: str | os.PathLike, option: str = "", formats: tuple[str, ...] = WRITABLE) -> str:
    """'.csv' or '.xlsx' (or one of ``formats``), the format of a file to write; anything else
    is an InputError."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in formats:
        kinds = " or ".join(formats)
        raise InputError(f"Cannot write {path.name}: use a {kinds} file name{' for ' + option if option else ''}.")
    return suffix


def check_output(path: str | os.PathLike, option: str = "", *, inputs: Iterable[str | os.PathLike] = (),
                 force: bool = False, formats: tuple[str, ...] = WRITABLE) -> str:
    """Check, before anything is sent, that ``path`` may and can be written; return its format.

    An input file is never an output; an existing file is replaced only with ``force``; the
    folder must exist or be creatable, and take a new file (a read-only disk says so now, not
    after the changes were made). Raises OutputExists (an InputError) for an existing file,
    so that an interactive caller may ask instead.

    The checks look at the real target: ``nope/../in.csv`` is ``in.csv`` once the writer has
    created ``nope/``, so ``..`` and symbolic links are resolved first (os.path.realpath
    resolves the part that exists and normalises the rest)."""
    path = Path(path)
    named = f"{option} {path}" if option else str(path)
    suffix = output_format(path, option, formats)
    target = Path(os.path.realpath(path))
    for source in inputs:
        if str(source) != STDIO and _same_file(target, Path(source)):
            raise InputError(f"{named} is the input file; bulkmail never writes over its input. Choose another name.")
    if target.is_dir():
        raise InputError(f"{named} is a folder. Give a file name, e.g. {path / ('report' + suffix)}.")
    if target.exists() and not force:
        raise OutputExists(f"{named} exists already. Pass --force to replace it, or choose another name.", path)
    probe_folder(path.parent, named)
    return suffix


def probe_folder(folder: Path, named: str) -> None:
    """Create ``folder`` if needed and prove a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".bulkmail-probe-"):
            pass
    except OSError as exc:
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{blocking} is a file, not a folder" if blocking else f"{exc.strerror or exc} ({folder})"
        raise InputError(f"Cannot write {named}: {reason}. Choose a file in a folder you can write to.") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def fallback_folder() -> Path:
    """Where a report goes when its own path failed after changes were made."""
    for folder in (state_dir() / "reports", Path(tempfile.gettempdir())):
        try:
            probe_folder(folder, str(folder))
            return folder
        except InputError:
            continue
    return Path(tempfile.gettempdir())
