"""Import every sample and corpus file into a fresh sandbox and keep the reports, so that two
versions of bulkmail can be compared report by report (a refactoring must not change them).

    python benchmarks/report_snapshot.py OUT_DIR      # then: diff -r BEFORE_DIR AFTER_DIR

Each file is imported twice, as a dry run and for real, into a sandbox holding the state its
expectations are written for (the demo's 250 mailboxes, or the corpus' EXISTING)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from corpus import CORPUS, EXISTING  # noqa: E402

from bulkmail.cli.main import run  # noqa: E402
from bulkmail.sandbox import Sandbox  # noqa: E402

SAMPLES = HERE.parent / "samples"
RUNS = [("every-error", SAMPLES / "every-error.xlsx", []), ("onboarding-wave", SAMPLES / "onboarding-wave.xlsx", []),
        ("offboarding", SAMPLES / "offboarding.csv", ["--action", "remove"])]


def snapshot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bulkmail-snapshot-"))
    os.environ["XDG_STATE_HOME"] = str(work / "state")
    corpus = [(name.replace(" ", "-").replace("#", ""), writer(work), options, False)
              for name, (writer, options, _) in CORPUS.items()]
    for name, path, options, demo in [(n, p, o, True) for n, p, o in RUNS] + corpus:
        for mode in ("dry-run", "import"):
            with Sandbox(seed_mailboxes=250 if demo else 0) as server:
                for address in ([] if demo else EXISTING):
                    server.store.add(address)
                os.environ.update(BULKMAIL_BASE_URL=server.url, BULKMAIL_USERNAME=server.settings.username,
                                  BULKMAIL_PASSWORD=server.settings.password)
                suffix = ".xlsx" if mode == "import" and demo else ".csv"  # the XLSX writer is compared too
                report = out / f"{name}-{mode}{suffix}"
                extra = ["--dry-run"] if mode == "dry-run" else ["--yes", "--fresh"]
                code = run(["import", str(path), "-q", "--report", str(report), "--force", *options, *extra])
                (out / f"{name}-{mode}.exit").write_text(f"{code}\n")
                if suffix == ".xlsx":  # as text, without the run's times
                    (out / f"{name}-{mode}.xlsx.txt").write_text(xlsx_text(report))
                    report.unlink()


def xlsx_text(path: Path) -> str:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    lines = []
    for name in book.sheet_names:
        for row in book.get_sheet_by_name(name).to_python():
            if row and row[0] not in ("started", "finished", "service"):  # times and the port differ per run
                lines.append(f"{name}\t" + "\t".join(str(v) for v in row))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    snapshot(Path(sys.argv[1] if len(sys.argv) > 1 else "report-snapshot"))
