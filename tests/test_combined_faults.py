"""The combined-fault harness: a crash test against an oracle of the expected state.

Each case seeds a sandbox, runs a real `bulkmail` process (import, sync, apply or export)
with faults combined at random as real services combine them (tokens that live 1-3 s or are
revoked, one session per user, a token-bucket rate limit with or without Retry-After, lost
answers, 5xx, latency and stalls, empty pages, concurrency 1/2/4/8, another writer changing
the list), kills it at a random moment in some cases (SIGKILL, SIGTERM or Ctrl-C) and
resumes, and checks against the oracle: the exact end state, every row once with a true
status, each change once in the audit log, no secret in any file, and an exit within a hard
limit. A timeout is a hang, reported with the process's thread dump.

CI runs the fixed seeds below. `BULKMAIL_SOAK=500 pytest tests/test_combined_faults.py`
runs that many random seeds; a failure names its seed, and `BULKMAIL_SEED=1234 pytest
tests/test_combined_faults.py` replays it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bulkmail.sandbox import Sandbox, Settings
from helpers import read_report

HARD_LIMIT = 90  # seconds a bulkmail process may take before it counts as hung
CI_SEEDS = list(range(1, 25))
WORKERS = int(os.environ.get("BULKMAIL_SOAK_WORKERS", "4"))


def seeds() -> list[int]:
    if os.environ.get("BULKMAIL_SEED"):
        return [int(os.environ["BULKMAIL_SEED"])]
    if os.environ.get("BULKMAIL_SOAK"):
        rng = random.SystemRandom()
        return [rng.randrange(10**6) for _ in range(int(os.environ["BULKMAIL_SOAK"]))]
    return CI_SEEDS


class Hang(AssertionError):
    pass


@dataclass
class Case:
    """One combined-fault case: its dice, its sandbox, its folder, and what its runs printed."""

    seed: int
    folder: Path
    rng: random.Random = field(init=False)
    sandbox: Sandbox = field(init=False)
    outputs: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.rng = random.Random(self.seed)

    def faults(self) -> dict:
        rng = self.rng
        return dict(token_lifetime=rng.uniform(1, 3), revoke_rate=rng.choice([0, 0, 0.02]),
                    single_session=rng.random() < 0.3, bucket_rate=rng.choice([0, 40, 80]),
                    bucket_burst=rng.randint(3, 10), bucket_retry_after=rng.random() < 0.5,
                    lost_rate=rng.choice([0, 0.05, 0.1]), error_rate=rng.choice([0, 0.05, 0.1]),
                    latency=rng.choice([0, 0.002, 0.01]), stall_rate=rng.choice([0, 0, 0.01]),
                    stall_seconds=rng.uniform(0.1, 0.8), empty_page_rate=rng.choice([0, 0, 0.05]),
                    page_size_max=rng.choice([7, 20, 100]), duplicate_add=rng.choice(["conflict", "ignore"]),
                    missing_remove=rng.choice(["not_found", "ignore"]),
                    post_answer=rng.choice(["success", "list", "created", "empty"]),
                    delete_answer=rng.choice(["body", "empty"]), seed=self.seed)

    def env(self) -> dict:
        home = self.folder / "home"
        settings = self.sandbox.settings
        return dict(os.environ, BULKMAIL_BASE_URL=self.sandbox.url, BULKMAIL_USERNAME=settings.username,
                    BULKMAIL_PASSWORD=settings.password, BULKMAIL_AUDIT_LOG=str(home / "audit.jsonl"),
                    XDG_STATE_HOME=str(home / "state"), XDG_CONFIG_HOME=str(home / "config"),
                    BULKMAIL_THREAD_DUMP="1", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")

    def run(self, *args: str, kill: str | None = None) -> int:
        """Run bulkmail to its end (or kill it after a random moment); its exit status."""
        process = subprocess.Popen([sys.executable, "-m", "bulkmail", *args, "-q"], cwd=self.folder, env=self.env(),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kill:
            try:
                process.wait(timeout=self.rng.uniform(0.3, 3.0))
            except subprocess.TimeoutExpired:
                process.send_signal({"kill": signal.SIGKILL, "term": signal.SIGTERM, "int": signal.SIGINT}[kill])
        try:
            out, err = process.communicate(timeout=HARD_LIMIT)  # a timeout is a hang
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack on stderr
            time.sleep(1)
            process.kill()
            out, err = process.communicate()
            raise Hang(f"seed {self.seed}: bulkmail {' '.join(args)} did not finish in {HARD_LIMIT}s\n{err}")
        self.outputs += [out, err]
        assert "Traceback" not in err and "Internal error" not in err, f"seed {self.seed}: {err}"
        return process.returncode

    def until_done(self, first: list[str], resume: list[str]) -> tuple[int, list[int]]:
        """The first run (maybe killed), then --resume until one ends well; every exit status."""
        kill = self.rng.choice([None, None, "kill", "term", "int"])
        codes = [self.run(*first, kill=kill)]
        if kill == "term":
            assert codes[-1] in (0, 1, 4, 143, -signal.SIGTERM), f"seed {self.seed}: SIGTERM gave {codes[-1]}"
        while codes[-1] != 0 and len(codes) < 6:
            if len(codes) >= 3:  # the service calms down: a resume must then finish
                self.sandbox.configure(error_rate=0, lost_rate=0, revoke_rate=0, empty_page_rate=0, stall_rate=0)
            codes.append(self.run(*resume))
        assert codes[-1] == 0, f"seed {self.seed}: exit statuses {codes}\n{self.outputs[-1]}"
        return codes[-1], codes

    def changes_logged(self) -> list[tuple[str, str]]:
        log = self.folder / "home" / "audit.jsonl"
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return sorted((r["email_address"].lower(), r["action"]) for r in records if r.get("type") == "change")

    def assert_no_secret(self) -> None:
        secrets = [self.sandbox.settings.password, *self.sandbox.store.issued]
        files = [p for p in self.folder.rglob("*") if p.is_file()]
        texts = [p.read_bytes().decode("utf-8", "replace") for p in files] + self.outputs
        leaked = [s for s in secrets for text in texts if s in text]
        assert not leaked, f"seed {self.seed}: a secret was written"


def wave(case: Case, adds: int, removes: int, missing: int, present: int) -> tuple[Path, dict[str, str]]:
    """An input file and each row's true final status."""
    store = case.sandbox.store
    existing = sorted(store.addresses())
    case.rng.shuffle(existing)
    rows = [("add", f"hire{n}-{case.seed}@acme.{'com' if n % 2 else 'co.uk'}", "added") for n in range(adds)]
    rows += [("remove", a, "removed") for a in existing[:removes]]
    rows += [("remove", f"gone{n}@acme.com", "not_found") for n in range(missing)]
    rows += [("add", a, "already_present") for a in existing[removes:removes + present]]
    case.rng.shuffle(rows)
    path = case.folder / "wave.csv"
    path.write_text("action,email_address\n" + "".join(f"{a},{e}\n" for a, e, _ in rows))
    case.sandbox.app.spared = {e.lower() for _, e, _ in rows}  # the other writer leaves the file's rows alone
    return path, {e.lower(): s for _, e, s in rows}


def check_import(case: Case, report: Path, truth: dict[str, str], before: set[str]) -> None:
    lines = read_report(report)
    assert sorted(int(line["row"]) for line in lines) == list(range(2, len(truth) + 2)), f"seed {case.seed}"
    statuses = {line["email_address"].lower(): line["status"] for line in lines}
    assert statuses == truth, f"seed {case.seed}: " + str({k: (v, truth[k]) for k, v in statuses.items()
                                                            if truth[k] != v})
    now = case.sandbox.store.addresses()
    for address, status in truth.items():
        assert (address in now) == (status in ("added", "already_present")), f"seed {case.seed}: {address}"
    others = {a for a in now ^ before if a not in truth}
    assert all(a.startswith("other-writer-") or a in before for a in others), f"seed {case.seed}: {others}"
    expected_log = sorted((a, "add" if s == "added" else "remove") for a, s in truth.items()
                          if s in ("added", "removed"))
    assert case.changes_logged() == expected_log, f"seed {case.seed}: audit log"
    case.assert_no_secret()


def import_case(case: Case) -> None:
    store = case.sandbox.store
    store.seed(case.rng.randint(60, 160), case.sandbox.settings.domains, random.Random(case.seed))
    path, truth = wave(case, case.rng.randint(10, 60), case.rng.randint(5, 30), case.rng.randint(0, 5),
                       case.rng.randint(0, 5))
    before = store.addresses()
    case.sandbox.configure(**case.faults(), churn_rate=case.rng.choice([0, 0.3]))
    knobs = ["--batch-size", str(case.rng.choice([1, 5, 25, 100])), "--concurrency", str(case.rng.choice([1, 2, 4, 8])),
             "--yes", "--allow-mass-remove", "--report", "wave-results.csv", "--force"]
    case.until_done(["import", "wave.csv", *knobs], ["import", "wave.csv", "--resume", *knobs])
    check_import(case, case.folder / "wave-results.csv", truth, before)


def apply_case(case: Case) -> None:
    store = case.sandbox.store
    store.seed(case.rng.randint(60, 160), case.sandbox.settings.domains, random.Random(case.seed))
    path, truth = wave(case, case.rng.randint(10, 60), case.rng.randint(5, 30), 0, 0)
    before = store.addresses()
    assert case.run("import", "wave.csv", "--dry-run", "--plan-out", "plan.json", "--allow-mass-remove") == 0
    case.sandbox.configure(**case.faults(), churn_rate=case.rng.choice([0, 0.3]))
    knobs = ["--batch-size", str(case.rng.choice([1, 5, 25])), "--concurrency", str(case.rng.choice([1, 2, 4, 8])),
             "--yes", "--allow-mass-remove", "--report", "plan-results.csv", "--force"]
    case.until_done(["apply", "plan.json", *knobs], ["apply", "plan.json", "--resume", *knobs])
    plan_rows = {json_row["email_address"].lower() for json_row in json.loads((case.folder / "plan.json").read_text())
                 ["changes"]}
    check_import(case, case.folder / "plan-results.csv", {a: s for a, s in truth.items() if a in plan_rows}, before)


def sync_case(case: Case) -> None:
    store = case.sandbox.store
    store.seed(case.rng.randint(40, 120), case.sandbox.settings.domains, random.Random(case.seed))
    scoped = sorted(a for a in store.addresses() if a.endswith("@acme.com"))
    case.rng.shuffle(scoped)
    leaving = scoped[:case.rng.randint(1, max(1, len(scoped) // 3))]
    roster = scoped[len(leaving):] + [f"hire{n}-{case.seed}@acme.com" for n in range(case.rng.randint(5, 40))]
    (case.folder / "roster.csv").write_text("email_address\n" + "".join(f"{a}\n" for a in roster))
    case.sandbox.app.spared = set(scoped) | set(roster)  # the other writer churns outside the roster's business
    before = store.addresses()
    case.sandbox.configure(**case.faults(), churn_rate=case.rng.choice([0, 0.3]))
    knobs = ["--scope", "acme.com", "--keep", "other-writer-*", "--allow-mass-remove", "--yes", "--batch-size",
             str(case.rng.choice([1, 5, 25])), "--concurrency", str(case.rng.choice([1, 2, 4, 8])),
             "--report", "sync-results.csv", "--force"]
    case.until_done(["sync", "roster.csv", *knobs], ["sync", "roster.csv", "--resume", *knobs])
    now = case.sandbox.store.addresses()
    in_scope = {a for a in now if a.endswith("@acme.com") and not a.startswith("other-writer-")}
    assert in_scope == set(roster), f"seed {case.seed}: {in_scope ^ set(roster)}"
    lines = read_report(case.folder / "sync-results.csv")
    truth = {a: ("already_present" if a in before else "added") for a in roster}
    truth.update({a: "removed" for a in leaving})
    statuses = {line["email_address"].lower(): line["status"] for line in lines if line["status"] != "kept"}
    assert statuses == truth, f"seed {case.seed}: " + str({k: (v, truth.get(k)) for k, v in statuses.items()
                                                            if truth.get(k) != v})
    expected_log = sorted((a, "add" if s == "added" else "remove") for a, s in truth.items()
                          if s in ("added", "removed"))
    assert case.changes_logged() == expected_log, f"seed {case.seed}: audit log"
    case.assert_no_secret()


def export_case(case: Case) -> None:
    store = case.sandbox.store
    store.seed(case.rng.randint(100, 600), case.sandbox.settings.domains, random.Random(case.seed))
    before = {m["id"] for m in store.mailboxes.values()}
    case.sandbox.configure(**case.faults(), churn_rate=case.rng.choice([0.2, 0.5, 1.0]))
    kill = case.rng.choice([None, None, None, "term"])
    code = case.run("export", "-o", "all.csv", "--concurrency", str(case.rng.choice([1, 2, 4, 8])), kill=kill)
    finished = case.outputs[-2].startswith("Exported ")  # the signal came once the file was written
    if code in (143, -signal.SIGTERM) and not finished:
        assert not (case.folder / "all.csv").exists(), f"seed {case.seed}: a stopped export left a file"
        return
    if code in (143, -signal.SIGTERM):  # finished: judge the file as the run told it
        code = 1 if "could not be sure" in case.outputs[-1] else 0
    assert code in (0, 1), f"seed {case.seed}: exit {code}\n{case.outputs[-1]}"
    if code == 1:
        assert "Error: bulkmail could not be sure it read every mailbox: " in case.outputs[-1], \
            f"seed {case.seed}: {case.outputs[-1]}"
    ids = [int(line["id"]) for line in read_report(case.folder / "all.csv")]
    assert len(ids) == len(set(ids)), f"seed {case.seed}: a mailbox twice"
    throughout = before & set(store.mailboxes)
    missed = throughout - set(ids)
    assert code == 1 or not missed, f"seed {case.seed}: missed {len(missed)} mailboxes that existed throughout"
    case.assert_no_secret()


CASES = {"import": import_case, "apply": apply_case, "sync": sync_case, "export": export_case}


def run_case(seed: int, folder: Path) -> tuple[str, str | None]:
    """(command, failure or None) of one case."""
    folder.mkdir(parents=True, exist_ok=True)
    case = Case(seed, folder)
    command = random.Random(seed * 7919).choice(sorted(CASES))
    with Sandbox(Settings()) as case.sandbox:
        try:
            CASES[command](case)
        except AssertionError as failure:
            return command, (f"{command} case, seed {seed} (replay: BULKMAIL_SEED={seed} pytest "
                             f"tests/test_combined_faults.py): {failure}")
    return command, None


def test_combined_faults_leave_the_service_as_asked_and_every_row_true(tmp_path):
    """Every case of seeds(), WORKERS at a time (a case mostly waits on the network and its
    backoffs, so they share two cores well); one summary line, then every failing seed."""
    started = time.monotonic()
    chosen = seeds()
    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(lambda seed: run_case(seed, tmp_path / str(seed)), chosen))
    failures = [failure for _, failure in outcomes if failure]
    tally = Counter(command for command, _ in outcomes)
    print(f"\ncombined faults: {len(chosen)} cases ({', '.join(f'{c} {n}' for c, n in sorted(tally.items()))}), "
          f"{len(failures)} failed, {sum('did not finish' in f for f in failures)} hung, "
          f"{time.monotonic() - started:.0f}s")
    assert not failures, "\n\n".join(failures)
