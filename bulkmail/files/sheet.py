"""What was read from an input file: its rows as text, which column holds which field, and
what the user must be told about how it was read.

Plain lists, not a DataFrame: reading a CSV should cost neither pandas' import (a quarter of a
second, more than the rest of a small import) nor a second copy of every row."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Callable

from .paths import STDIO


@dataclass
class Sheet:
    """What was read: every input column as text, each data row under the row number Excel shows."""

    path: Path
    name: str | None
    columns: list[str]  # the table's headers, in order
    numbers: list[int]  # each data row's number (Excel's; a report read back: its `row` column)
    cells: list[tuple[str, ...]]  # each data row's cells, in the order of ``columns``
    fields: dict[str, str]  # canonical field -> the input's own header
    notes: list[str] = field(default_factory=list)  # what was detected, for -v
    from_report: bool = False  # a results report read back: its `row` column gives the row numbers
    # What the user is told before anything is sent (terminal and the report's Summary): which
    # sheet or column was chosen among several, hidden rows, formulas without values, merges.
    notices: list[str] = field(default_factory=list)
    # (row, header) -> why that cell reads empty (a formula without a saved value, a merged cell)
    blank_cells: dict[tuple[int, str], str] = field(default_factory=dict)
    positions: list[str] = field(default_factory=list)  # the header of each column, from A on
    nul_columns: set[str] = field(default_factory=set)  # the columns holding a NUL character, seen as read

    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def where(self) -> str:
        if str(self.path) == STDIO:
            return "standard input"
        return f"sheet '{self.name}' of {self.path.name}" if self.name else str(self.path.name)

    def column(self, header: str) -> list[str]:
        """One column's cells, top to bottom."""
        return list(map(itemgetter(self.columns.index(header)), self.cells))

    def edit(self, number: int, header: str, value: str) -> None:
        """Put ``value`` in row ``number``'s cell of column ``header`` (the facts kept of the
        cells, such as which columns hold a NUL, stay true)."""
        at, position = self.numbers.index(number), self.columns.index(header)
        cells = self.cells[at]
        self.cells[at] = (*cells[:position], value, *cells[position + 1:])
        if "\x00" in value:
            self.nul_columns.add(header)

    def rows(self, keep: Callable[[int, tuple[str, ...]], bool]) -> Sheet:
        """A copy holding only the rows ``keep(number, cells)`` says yes to."""
        kept = [(n, c) for n, c in zip(self.numbers, self.cells) if keep(n, c)]
        return dataclasses.replace(self, numbers=[n for n, _ in kept], cells=[c for _, c in kept])

    def with_column(self, header: str, value: str) -> Sheet:
        """A copy with one more column, holding ``value`` in every row."""
        return dataclasses.replace(self, columns=[*self.columns, header],
                                   cells=[(*cells, value) for cells in self.cells])
