"""How fast bulkmail is as a user meets it: the `bulkmail` command, from start to exit, side by
side with the HTTP floor, against a lean server of its own in another process.

    python benchmarks/bench.py                       # the full bench (2–3 minutes on 2 cores)
    python benchmarks/bench.py --quick               # small sizes, one pair: a smoke check (< 1 min)
    python benchmarks/bench.py --checkout ../other   # time another checkout of bulkmail
    python benchmarks/bench.py --only export --only validate

bulkmail is driven only as a user drives it: `python -m bulkmail ...` with PYTHONPATH set to the
checkout under test (default: the one this file lives in), so two versions can be compared with
the same bench. Each case runs PAIRS pairs, bulkmail then its baseline, alternating, and prints
the medians; the ratio is the ratio of the medians, with the range of the pairs' own ratios
beside it (the machine is shared and noisy). Nothing is asserted about time.

The server (benchmarks/server.py) grants pages of up to 1000 rows and answers after LATENCY
seconds of sleep; it counts the requests it serves and its own CPU, which the bench prints
beside the client's to show that the server is not what is measured. The baselines
(benchmarks/floor.py) are processes too, logging in inside their clock: the HTTP floor at the
same page size, batch size and requests in flight, and for the 1k import a naive client
sending one request per row. User folders, the audit log and the keyring point into a
temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from server import PASSWORD, USERNAME, seeded  # noqa: E402  (the bench's own server, not bulkmail)

FULL = {"export": 200_000, "account": 20_000, "import": 50_000, "naive": 1_000, "validate": 1_000_000}
QUICK = {"export": 10_000, "account": 2_000, "import": 2_000, "naive": 200, "validate": 50_000}
EXPORT_CONCURRENCY, IMPORT_CONCURRENCY, BATCH_SIZE = 8, 4, 200
CASES = ("startup", "export", "import", "no-verify", "naive", "validate")


@dataclass
class Run:
    """One process, timed from its start to its exit."""

    seconds: float
    cpu: float  # user + system seconds of the process
    rss_mb: float  # its peak resident memory
    requests: dict = field(default_factory=dict)  # counted at the server
    server_cpu: float = 0.0  # the server's CPU seconds meanwhile

    @property
    def count(self) -> int:
        return sum(self.requests.values())


@dataclass
class Case:
    name: str
    target: str
    baseline: str = ""
    ours: list[Run] = field(default_factory=list)
    theirs: list[Run] = field(default_factory=list)


class Server:
    """benchmarks/server.py in a process of its own, with a given number of seeded mailboxes."""

    def __init__(self, python: str, mailboxes: int, latency: float):
        self.process = subprocess.Popen([python, str(HERE / "server.py"), "--port", "0", "--mailboxes", str(mailboxes),
                                         "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if "listening on " not in line:
            self.process.kill()
            raise SystemExit(f"benchmarks/server.py did not start (it printed {line!r})")
        self.url = line.split("listening on ")[1].strip()

    def control(self, call: str) -> dict:
        method = "POST" if call == "reset" else "GET"
        with urllib.request.urlopen(urllib.request.Request(f"{self.url}/_bench/{call}", method=method)) as answer:
            return json.load(answer)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


def run(argv: list[str], env: dict, cwd: Path, server: Server | None = None, reset: bool = False) -> Run:
    """Run one process to its end; its time, CPU, peak RSS and (with a server) the requests it made."""
    if server and reset:
        server.control("reset")
    before = server.control("stats") if server else None
    log = cwd / "last-stderr.txt"
    started = time.perf_counter()
    with open(log, "wb") as errors:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not the bench's
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}; nothing is reported for a failed run:\n{tail}")
    result = Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
    if server:
        after = server.control("stats")
        result.requests = {k: v - before["requests"].get(k, 0) for k, v in after["requests"].items()
                           if v - before["requests"].get(k, 0)}
        result.server_cpu = after["cpu"] - before["cpu"]
    return result


def pairs(case: Case, pairs_: int, ours, theirs, env: dict, folder: Path, server: Server | None = None,
          reset: bool = False) -> Case:
    """PAIRS times: bulkmail, then the baseline. ``ours``/``theirs`` give the argv of run i."""
    for i in range(pairs_):
        for side, argv, runs in (("bulkmail", ours(i), case.ours), (case.baseline, theirs(i), case.theirs)):
            if argv is None:
                continue
            result = run(argv, env, folder, server, reset)
            runs.append(result)
            requests = f", {result.count} requests, server CPU {result.server_cpu:.2f} s" if server else ""
            print(f"  {case.name} · {side} {i + 1}: {result.seconds:.2f} s, CPU {result.cpu:.2f} s, "
                  f"peak RSS {result.rss_mb:.0f} MB{requests}", flush=True)
    return case


def import_file(path: Path, rows: int, account: int) -> Path:
    """70% adds of new addresses, 30% removes of seeded mailboxes, shuffled; the columns of a
    typical onboarding/offboarding sheet."""
    rng = random.Random(rows)
    removes = rng.sample(range(account), int(rows * 0.3))
    lines = [["add", f"new.hire{n}@{('acme.com', 'acme.co.uk')[n % 2]}", "yes" if n % 10 == 0 else "",
              f"New Hire {n}"] for n in range(rows - len(removes))]
    lines += [["remove", seeded(n)[0], "", ""] for n in removes]
    rng.shuffle(lines)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["action", "email_address", "executive", "realname"])
        writer.writerows(lines)
    return path


def validate_file(path: Path, rows: int) -> Path:
    """A large offline-only sheet: unique addresses, mixed actions and executive spellings."""
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("action,email_address,executive,realname\n")
        for n in range(rows):
            handle.write(f"{'add' if rng.random() < 0.7 else 'remove'},user{n}@acme.{rng.choice(['com', 'co.uk'])},"
                         f"{rng.choice(['yes', 'no', ''])},User {n}\n")
    return path


def bench(options, env: dict, folder: Path) -> list[Case]:
    size = QUICK if options.quick else FULL
    n = options.pairs or (1 if options.quick else 3)
    py, floor = options.python, [options.python, str(HERE / "floor.py")]
    bulkmail = [py, "-m", "bulkmail"]
    chosen = set(options.only or CASES)
    cases = []

    def report(name: str):
        return lambda i: ["--report", f"{name}-{i}.csv"]

    if "startup" in chosen:
        print("start-up", flush=True)
        cases.append(pairs(Case("start-up (`bulkmail --version`)", "< 0.2 s", "python + requests"), n,
                           lambda i: bulkmail + ["--version"], lambda i: floor + ["startup"], env, folder))
    if "export" in chosen:
        print(f"export {size['export']:,}", flush=True)
        server = Server(py, size["export"], options.latency)
        try:
            out = lambda i: f"export-{i}.csv"  # noqa: E731
            cases.append(pairs(
                Case(f"export {size['export']:,}, concurrency {EXPORT_CONCURRENCY}", "≤ 1.10x", "floor"), n,
                lambda i: bulkmail + ["export", "-q", "-o", out(i), "--concurrency", str(EXPORT_CONCURRENCY)],
                lambda i: floor + ["export", server.url, f"floor-{out(i)}", "--concurrency", str(EXPORT_CONCURRENCY)],
                dict(env, BULKMAIL_BASE_URL=server.url), folder, server))
        finally:
            server.close()
    imports = [("import", size["import"], "≤ 2.0x, ≤ 120 MB", "floor (walk + send + re-read walk)", ["--verify"], []),
               ("no-verify", size["import"], "≤ 1.25x", "floor (walk + send)", [], ["--no-verify"]),
               ("naive", size["naive"], "≥ 20x faster", "one request per row", None, [])]
    for key, rows, target, baseline, floor_flags, flags in imports:
        if key not in chosen:
            continue
        print(" ".join([f"import {rows:,}", *flags]), flush=True)
        path = import_file(folder / f"import-{rows}.csv", rows, size["account"])
        server = Server(py, size["account"], options.latency)
        common = ["--yes", "-q", "--allow-mass-remove", "--batch-size", str(BATCH_SIZE), "--concurrency",
                  str(IMPORT_CONCURRENCY), *flags]
        if floor_flags is None:
            theirs = lambda i: floor + ["naive", server.url, path.name]  # noqa: E731
        else:
            theirs = lambda i: floor + ["import", server.url, path.name, "--batch-size", str(BATCH_SIZE),  # noqa: E731
                                        "--concurrency", str(IMPORT_CONCURRENCY), *floor_flags]
        name = f"import {rows:,} (70% add), account {size['account']:,}" + (f" {' '.join(flags)}" if flags else "")
        try:
            cases.append(pairs(Case(name, target, baseline), n,
                               lambda i: bulkmail + ["import", path.name, *common, *report(f"{key}-report")(i)],
                               theirs, dict(env, BULKMAIL_BASE_URL=server.url), folder, server, reset=True))
        finally:
            server.close()
    if "validate" in chosen:
        print(f"validate {size['validate']:,}", flush=True)
        path = validate_file(folder / "validate.csv", size["validate"])
        cases.append(pairs(Case(f"validate {size['validate']:,} rows, offline", "≤ 6 s, ≤ 350 MB"), n,
                           lambda i: bulkmail + ["validate", path.name, "-q", *report("validate-report")(i)],
                           lambda i: None, env, folder))
    return cases


def median(runs: list[Run], attribute: str) -> float:
    return statistics.median(getattr(r, attribute) for r in runs)


def ratio(case: Case) -> tuple[str, str]:
    """The ratio of the medians and the range of the pairs' own ratios."""
    if not case.theirs:
        return "—", "—"
    faster = case.baseline == "one request per row"
    each = [(t.seconds / o.seconds) if faster else (o.seconds / t.seconds) for o, t in zip(case.ours, case.theirs)]
    ours, theirs = median(case.ours, "seconds"), median(case.theirs, "seconds")
    value = f"{theirs / ours:.1f}x faster" if faster else f"{ours / theirs:.2f}x"
    spread = f"{min(each):.1f}–{max(each):.1f}" if faster else f"{min(each):.2f}–{max(each):.2f}"
    return value, spread


def requests_text(runs: list[Run]) -> str:
    """The requests of a side by call (the same in every run, or said otherwise)."""
    totals = sorted({r.count for r in runs})
    short = {"POST /auth": "auth", "GET /email/mailbox/v2": "GET", "POST /email/mailbox": "POST",
             "DELETE /email/mailbox": "DELETE"}  # in this order, then anything else
    order = list(short)
    calls = " · ".join(f"{short.get(k, k)} {v}" for k, v in sorted(
        runs[-1].requests.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])))
    total = f"{totals[0]}" if len(totals) == 1 else f"{totals[0]}–{totals[-1]} (varied)"
    return f"{total} ({calls})"


def tables(cases: list[Case]) -> str:
    lines = ["| case | bulkmail s | baseline | baseline s | ratio | pairs' ratios | target | "
             "peak RSS MB (bulkmail / baseline) |", "|---|---|---|---|---|---|---|---|"]
    for case in cases:
        value, spread = ratio(case)
        theirs = f"{median(case.theirs, 'seconds'):.2f}" if case.theirs else "—"
        rss = f"{max(r.rss_mb for r in case.ours):.0f}"
        rss += f" / {max(r.rss_mb for r in case.theirs):.0f}" if case.theirs else ""
        lines.append(f"| {case.name} | {median(case.ours, 'seconds'):.2f} | {case.baseline or '—'} | {theirs} | "
                     f"{value} | {spread} | {case.target} | {rss} |")
    if not any(r.requests for case in cases for r in case.ours):
        return "\n".join(lines)  # offline cases only
    lines += ["", "| case | side | requests at the server | client CPU s | client CPU ms/request | "
              "server CPU ms/request | server / client CPU |", "|---|---|---|---|---|---|---|"]
    for case in cases:
        for side, runs in (("bulkmail", case.ours), (case.baseline, case.theirs)):
            if not runs or not any(r.requests for r in runs):
                continue
            client = statistics.median(r.cpu / r.count * 1000 for r in runs)
            server = statistics.median(r.server_cpu / r.count * 1000 for r in runs)
            share = median(runs, "server_cpu") / median(runs, "cpu")
            lines.append(f"| {case.name} | {side} | {requests_text(runs)} | {median(runs, 'cpu'):.2f} | "
                         f"{client:.2f} | {server:.2f} | {share:.0%} |")
    return "\n".join(lines)


def describe(checkout: Path) -> str:
    """The checkout and its commit (and whether it has changes not committed)."""
    try:
        commit = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %cs"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--", "bulkmail"],
                               capture_output=True, text=True).stdout.strip()
        return f"{checkout} at {commit}{' with changes to bulkmail/' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return str(checkout)


def environment(checkout: Path, folder: Path) -> dict:
    """The user's environment without any bulkmail setting, its folders in ``folder``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BULKMAIL_")}
    env.update(PYTHONPATH=str(checkout), BULKMAIL_USERNAME=USERNAME, BULKMAIL_PASSWORD=PASSWORD,
               BULKMAIL_AUDIT_LOG=str(folder / "audit.jsonl"),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")  # never the user's keyring
    for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[name] = str(folder / name.lower())
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, default=HERE.parent, help="the bulkmail checkout to time")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run everything with")
    parser.add_argument("--quick", action="store_true", help="small sizes, one pair: a smoke check")
    parser.add_argument("--pairs", type=int, help="pairs per case (default 3, 1 with --quick)")
    parser.add_argument("--latency", type=float, default=0.010, help="seconds the server adds to every answer")
    parser.add_argument("--only", action="append", choices=CASES, help="run only these cases (repeatable)")
    options = parser.parse_args()
    options.checkout = options.checkout.resolve()
    if not (options.checkout / "bulkmail" / "__main__.py").exists():
        parser.error(f"{options.checkout} is not a bulkmail checkout (no bulkmail/__main__.py)")
    load_start, started = os.getloadavg(), time.perf_counter()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_start)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bulkmail-bench-") as temporary:
        folder = Path(temporary)
        env = environment(options.checkout, folder)
        located = subprocess.run([options.python, "-c", "import bulkmail; print(bulkmail.__file__)"], text=True,
                                 capture_output=True, env=env, cwd=folder)
        if not located.stdout.strip().startswith(str(options.checkout)):  # or another copy would be timed
            parser.error(f"{options.python} does not import bulkmail from {options.checkout}: "
                         f"{located.stdout.strip() or located.stderr.strip()[-300:]}")
        cases = bench(options, env, folder)
    load_end = os.getloadavg()
    n = options.pairs or (1 if options.quick else 3)
    print(f"\n{describe(options.checkout)}\n{platform.node()} · {os.cpu_count()} cores · Python "
          f"{platform.python_version()} · {date.today()} · latency {options.latency * 1000:.0f} ms · pages up to "
          f"1000 · batches of {BATCH_SIZE} · export concurrency {EXPORT_CONCURRENCY}, import {IMPORT_CONCURRENCY} · "
          f"medians of {n} pair{'s' if n > 1 else ''} · {time.perf_counter() - started:.0f} s in all\n"
          f"load average (1, 5, 15 min): start {' '.join(f'{x:.2f}' for x in load_start)}, "
          f"end {' '.join(f'{x:.2f}' for x in load_end)}\n")
    print(tables(cases))


if __name__ == "__main__":
    main()
