"""Helpers shared by the test files: reading reports, writing small inputs."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import zipfile
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


def wave(folder: Path, sandbox, adds: int, removes: int, name: str = "wave.csv") -> tuple[Path, set[str]]:
    """A file of new addresses to add and existing ones to remove; returns it and the expected end state."""
    existing = [f"leaver{n}@acme.com" for n in range(removes)] + ["stays@acme.com"]
    for address in existing:
        sandbox.store.add(address)
    lines = ["action,email_address"] + [f"add,hire{n}@acme.{'co.uk' if n % 3 else 'com'}" for n in range(adds)]
    body = lines[1:] + [f"remove,{a}" for a in existing[:removes]]
    random.Random(adds).shuffle(body)
    lines = lines[:1] + body
    expected = {line.split(",")[1] for line in lines[1:] if line.startswith("add")} | {"stays@acme.com"}
    return write_csv(folder / name, lines), expected


def start(sandbox, folder: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, BULKMAIL_BASE_URL=sandbox.url, BULKMAIL_USERNAME=sandbox.settings.username,
               BULKMAIL_PASSWORD=sandbox.settings.password)
    return subprocess.Popen([sys.executable, "-m", "bulkmail", *args], cwd=folder, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def report_path(out: str, folder: Path) -> Path:
    """The report a run names: its own, or for --resume of a finished run, that run's."""
    return folder / out.rstrip("\n").rpartition("Report: ")[2]


def write_ods(path: Path, rows: list[list[str]], more: str = "") -> Path:
    """A minimal OpenDocument spreadsheet, as LibreOffice saves one; ``more``: rows as XML, after."""
    cells = "".join("<table:table-row>" + "".join(
        f'<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>' for v in row)
        + "</table:table-row>" for row in rows) + more
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               f'<office:body><office:spreadsheet><table:table table:name="Leavers">{cells}</table:table>'
               '</office:spreadsheet></office:body></office:document-content>')
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                '</manifest:manifest>')
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        archive.writestr("content.xml", content)
        archive.writestr("META-INF/manifest.xml", manifest)
    return path
