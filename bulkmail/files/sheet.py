"""What was read from an input file: its rows as text, which column holds which field, and
what the user must be told about how it was read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .cells import MARK, unmark
from .paths import STDIO


@dataclass
class Sheet:
    """What was read: every input column as text, indexed by the row number Excel shows."""

    path: Path
    name: str | None
    frame: pd.DataFrame
    fields: dict[str, str]  # canonical field -> the input's own header
    notes: list[str] = field(default_factory=list)  # what was detected, for -v
    from_report: bool = False  # a results report read back: its `row` column gives the row numbers
    # What the user is told before anything is sent (terminal and the report's Summary): which
    # sheet or column was chosen among several, hidden rows, formulas without values, merges.
    notices: list[str] = field(default_factory=list)
    # (row, header) -> why that cell reads empty (a formula without a saved value, a merged cell)
    blank_cells: dict[tuple[int, str], str] = field(default_factory=dict)
    positions: list[str] = field(default_factory=list)  # the header of each column, from A on

    @property
    def where(self) -> str:
        if str(self.path) == STDIO:
            return "standard input"
        return f"sheet '{self.name}' of {self.path.name}" if self.name else str(self.path.name)


def whole_cells(values: pd.Series, position: int, verbatim: set[tuple[int, int]] | None) -> pd.Series:
    """The cells of one column to take whole, as the text they stand for, indexed by row."""
    if verbatim is None:
        marked = values[values.str[:1] == MARK]
        return marked.map(unmark).dropna() if len(marked) else marked
    rows = [r for r, c in verbatim if c == position and r in values.index]
    return values.loc[rows] if rows else values.iloc[:0]
