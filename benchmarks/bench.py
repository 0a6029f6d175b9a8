"""Benchmarks: bulkmail against naive scripts and the HTTP floor, on a sandbox with latency.

    python benchmarks/bench.py            # export 20k/200k, import 1k/50k, validate 1M
    python benchmarks/bench.py --quick    # smaller sizes, for a smoke run
    python benchmarks/bench.py --full     # also a 1M-mailbox export (peak RSS)
    python benchmarks/bench.py --only import

Each contender gets a fresh sandbox (a separate `bulkmail sandbox` process, so the server does
not share this process's interpreter) with the same injected latency. Ratios are printed,
never asserted: machines are noisy. Peak RSS is that of a real `bulkmail` process.

Baselines:
- naive: what a script written from the vendor article does: sequential pages at the default
  page size; one request per row, with a search before each remove.
- floor: the fewest requests the server allows (largest granted page, batches of 100), the
  same concurrency, payloads built in advance, no validation, no report. For an import it
  reads the list once (a remove needs the mailbox's ids) and then sends; the "send-only"
  row compares with the sending alone, as the first wave's table did.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import requests

from bulkmail import Client, ExportOptions, ImportOptions, export_mailboxes, import_file

USER, PASSWORD = "admin@acme.com", "sandbox-demo"
CONCURRENCY = 4


@contextmanager
def sandbox(mailboxes: int, latency: float):
    """A `bulkmail sandbox` process on a free port; yields its URL."""
    process = subprocess.Popen([sys.executable, "-m", "bulkmail", "sandbox", "--port", "0", "--mailboxes",
                                str(mailboxes), "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        yield line.split("listening on ")[1].split()[0]
    finally:
        process.terminate()
        process.wait()


def session(url: str) -> tuple[requests.Session, dict]:
    s = requests.Session()
    s.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))
    body = s.post(url + "/auth", files={"username": (None, USER), "password": (None, PASSWORD)}).json()
    return s, {"Authorization": f"Bearer {body['access_token']}", "X-Uss-Account-Id": body["accounts_id"],
               "Content-Type": "application/json"}


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def peak_rss_mb(args: list[str], env: dict, cwd: str) -> tuple[float, int]:
    """Seconds and peak RSS (MB) of one `bulkmail` process."""
    started = time.perf_counter()
    # --force: the cases reuse output names; journals go to the run's temporary folder, not home.
    process = subprocess.Popen([sys.executable, "-m", "bulkmail", *args, "--force"],
                               env=dict(env, XDG_STATE_HOME=str(Path(cwd) / "state")), cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"bulkmail {' '.join(args)} failed with status {status}")
    return time.perf_counter() - started, usage.ru_maxrss // 1024


# -- export ----------------------------------------------------------------------------------


def naive_export(url: str, path: Path) -> None:
    s, headers = session(url)
    with open(path, "w", newline="") as handle:
        writer = None
        page = 1
        while True:
            body = s.get(url + "/email/mailbox/v2", params={"page": page}, headers=headers).json()
            for item in body["data"]:
                writer = writer or csv.DictWriter(handle, fieldnames=list(item))
                writer.writerow(item)
            if page >= body["meta"]["total_pages"]:
                return
            page += 1


def floor_export(url: str) -> None:
    s, headers = session(url)
    get = lambda n: s.get(url + "/email/mailbox/v2", params={"page": n, "page_size": 100}, headers=headers).json()
    pages = get(1)["meta"]["total_pages"]
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for _ in pool.map(get, range(2, pages + 1)):
            pass


def bench_export(size: int, latency: float, naive: bool, folder: Path, env: dict) -> list[tuple]:
    results = []
    with sandbox(size, latency) as url:
        client = Client(url, USER, PASSWORD, concurrency=CONCURRENCY)
        ours = timed(lambda: export_mailboxes(client, folder / "export.csv", ExportOptions(concurrency=CONCURRENCY)))
        floor = timed(lambda: floor_export(url))
        cli_seconds, rss = peak_rss_mb(["export", "-q", "-o", "cli-export.csv"], dict(env, BULKMAIL_BASE_URL=url),
                                       str(folder))
        results.append((f"export {size:,}", ours, "floor", floor, "<= 1.5x", rss))
        if naive:
            slow = timed(lambda: naive_export(url, folder / "naive.csv"))
            results.append((f"export {size:,}", ours, "naive", slow, ">= 10x faster", None))
    return results


# -- import ----------------------------------------------------------------------------------


def import_file_for(size: int, existing: list[dict], folder: Path) -> tuple[Path, list[dict], list[dict]]:
    """70% adds of new addresses, 30% removes of existing mailboxes, shuffled."""
    removes = existing[: int(size * 0.3)]
    adds = [{"email_address": f"new{n}@acme.com", "executive": 0} for n in range(size - len(removes))]
    lines = [("add", a["email_address"]) for a in adds] + [("remove", m["email_address"]) for m in removes]
    random.Random(size).shuffle(lines)
    path = folder / f"import-{size}.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["action", "email_address"])
        writer.writerows(lines)
    return path, adds, removes


def listing(url: str) -> list[dict]:
    s, headers = session(url)
    get = lambda n: s.get(url + "/email/mailbox/v2", params={"page": n, "page_size": 100}, headers=headers).json()
    first = get(1)
    items = list(first["data"])
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for body in pool.map(get, range(2, first["meta"]["total_pages"] + 1)):
            items.extend(body["data"])
    return items


def naive_import(url: str, path: Path) -> None:
    s, headers = session(url)
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            address = row["email_address"]
            if row["action"] == "add":
                s.post(url + "/email/mailbox", headers=headers, json=[{
                    "id": "USSportal.email.model.Mailbox-1", "email_address_id": 0, "executive": 0,
                    "email_address": address}])
            else:
                found = s.get(url + "/email/mailbox/v2", params={"search": address}, headers=headers).json()["data"]
                for m in found:
                    if m["email_address"].lower() == address.lower():
                        s.delete(url + "/email/mailbox", headers=headers, json=[{
                            "id": m["id"], "email_address_id": m["email_address_id"], "email_address": address}])


def floor_import(url: str, adds: list[dict], removes: list[dict]) -> float:
    """Payloads built before the clock starts; returns the seconds of sending only."""
    s, headers = session(url)
    posts = [[{"id": f"USSportal.email.model.Mailbox-{n}", "email_address_id": 0, "executive": 0,
               "email_address": a["email_address"]} for n, a in enumerate(adds[i:i + 100], 1)]
             for i in range(0, len(adds), 100)]
    deletes = [[{k: m[k] for k in ("id", "email_address_id", "email_address")} for m in removes[i:i + 100]]
               for i in range(0, len(removes), 100)]
    send = lambda item: s.request(item[0], url + "/email/mailbox", headers=headers, json=item[1]).raise_for_status()
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(send, [("POST", p) for p in posts]))
        list(pool.map(send, [("DELETE", d) for d in deletes]))
    return time.perf_counter() - started


def bench_import(size: int, latency: float, naive: bool, folder: Path, env: dict) -> list[tuple]:
    tenant = max(1000, int(size * 0.6))
    results = []
    with sandbox(tenant, latency) as url:
        path, adds, removes = import_file_for(size, listing(url), folder)
        client = Client(url, USER, PASSWORD, concurrency=CONCURRENCY)
        result = None

        def run():
            nonlocal result
            result = import_file(client, path, ImportOptions(allow_mass_remove=True),
                                 report=folder / "report.csv")

        ours = timed(run)
        assert result.exit_status == 0, result.counts
    if size >= 10_000:  # which stage dominates: the same import without the verifying re-read
        with sandbox(tenant, latency) as url:
            client = Client(url, USER, PASSWORD, concurrency=CONCURRENCY)
            options = ImportOptions(allow_mass_remove=True, verify=False)
            unverified = timed(lambda: import_file(client, path, options, report=folder / "report-nv.csv"))
    with sandbox(tenant, latency) as url:
        # The floor reads the list once (a remove needs the mailbox's ids) and then sends.
        started = time.perf_counter()
        live = listing(url)
        walk = time.perf_counter() - started
        floor = walk + floor_import(url, adds, [m for m in live if m["email_address"] in
                                                {r["email_address"] for r in removes}])
    with sandbox(tenant, latency) as url:
        _, rss = peak_rss_mb(["import", path.name, "--yes", "-q", "--allow-mass-remove", "--report", "cli.csv"],
                             dict(env, BULKMAIL_BASE_URL=url), str(folder))
    results.append((f"import {size:,}", ours, "floor", floor, "<= 2x", rss))
    if size >= 10_000:
        results.append((f"import {size:,} --no-verify", unverified, "floor", floor, "<= 1.5x", None))
        results.append((f"import {size:,}", ours, "floor", floor - walk, "(send-only floor)", None))
    if naive:
        with sandbox(tenant, latency) as url:
            slow = timed(lambda: naive_import(url, path))
        results.append((f"import {size:,}", ours, "naive", slow, ">= 10x faster", None))
    return results


# -- validate ---------------------------------------------------------------------------------


def bench_validate(size: int, folder: Path, env: dict) -> list[tuple]:
    path = folder / f"validate-{size}.csv"
    rng = random.Random(1)
    with open(path, "w") as handle:
        handle.write("action,email_address,executive,realname\n")
        for n in range(size):
            handle.write(f"{'add' if rng.random() < 0.7 else 'remove'},user{n}@acme.{rng.choice(['com', 'co.uk'])},"
                         f"{rng.choice(['yes', 'no', ''])},User {n}\n")
    seconds, rss = peak_rss_mb(["validate", path.name, "--report", "validate-report.csv"], env, str(folder))
    return [(f"validate {size:,} rows", seconds, "target", 20.0, "< 20 s, < 800 MB", rss)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--full", action="store_true", help="also export 1M mailboxes")
    parser.add_argument("--latency", type=float, default=0.010, help="seconds the sandbox adds to every answer")
    parser.add_argument("--only", action="append", choices=["export", "import", "validate"],
                        help="run only these cases (repeatable)")
    options = parser.parse_args()
    scale = 0.05 if options.quick else 1
    env = dict(os.environ, BULKMAIL_USERNAME=USER, BULKMAIL_PASSWORD=PASSWORD)
    cases = [("export", lambda f: bench_export(int(20_000 * scale), options.latency, True, f, env)),
             ("export", lambda f: bench_export(int(200_000 * scale), options.latency, False, f, env)),
             ("import", lambda f: bench_import(int(1_000 * max(scale, 0.2)), options.latency, True, f, env)),
             ("import", lambda f: bench_import(int(50_000 * scale), options.latency, False, f, env)),
             ("validate", lambda f: bench_validate(int(1_000_000 * scale), f, env))]
    if options.full:
        cases.append(("export", lambda f: bench_export(1_000_000, options.latency, False, f, env)))
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        os.environ["XDG_STATE_HOME"] = str(Path(temporary) / "state")  # journals and the audit log stay out of home
        env["XDG_STATE_HOME"] = os.environ["XDG_STATE_HOME"]
        for kind, case in cases:
            if not options.only or kind in options.only:
                rows += case(Path(temporary))
    print(f"\n{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {date.today()} · "
          f"sandbox latency {options.latency * 1000:.0f} ms · concurrency {CONCURRENCY}\n")
    print("| case | bulkmail s | baseline | baseline s | ratio | target | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for case, ours, name, theirs, target, rss in rows:
        if name == "naive":
            ratio = f"{theirs / ours:.1f}x faster"
        elif name == "floor":
            ratio = f"{ours / theirs:.2f}x the floor"
        else:
            ratio = "—"
        print(f"| {case} | {ours:.2f} | {name} | {theirs:.2f} | {ratio} | {target} | {rss or ''} |")


if __name__ == "__main__":
    main()
