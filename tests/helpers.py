"""Helpers shared by the test files: reading reports, writing small inputs."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
POSTS, DELETES = ("POST", "/email/mailbox"), ("DELETE", "/email/mailbox")


def read_report(path, sheet: str = "Results") -> list[dict]:
    """A CSV or XLSX report as dicts of text, one per line."""
    path = Path(path)
    if path.suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    rows = list(openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True))
    return [{k: "" if v is None else str(v) for k, v in zip(rows[0], r)} for r in rows[1:]]


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def status_colours(path, sheet: str = "Results") -> dict[str, str]:
    """The XLSX report's colour for each status value: its conditional formatting rules."""
    rules = openpyxl.load_workbook(path)[sheet].conditional_formatting
    return {rule.formula[0].strip('"'): rule.dxf.fill.bgColor.rgb[-6:] for cf in rules for rule in cf.rules}
