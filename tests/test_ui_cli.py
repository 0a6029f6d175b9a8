"""`bulkmail ui` and `bulkmail demo --ui` as a user runs them: a real process, its printed link,
Ctrl-C while a run is going."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from helpers import write_csv

LINK = re.compile(r"^http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)$")


def start(folder: Path, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, str, list[str]]:
    """A `bulkmail ...` process, the link it printed, and the lines it printed before."""
    process = subprocess.Popen([sys.executable, "-m", "bulkmail", *args], cwd=folder, text=True,
                               env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline, before = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        line = process.stdout.readline().strip()
        if LINK.match(line):
            return process, line, before
        assert line or process.poll() is None, process.stderr.read()
        before.append(line)
    raise AssertionError("no link printed")


class Browser(requests.Session):
    """What a browser sends: the cookie, the page's Origin, the CSRF token of the page."""

    def __init__(self, link: str):
        super().__init__()
        self.base = link.split("/?")[0]
        assert self.get(link).status_code == 200
        self.csrf = re.search(r'name="csrf" content="([^"]+)"', self.get(self.base + "/").text).group(1)

    def send_form(self, path: str, data: dict | None = None, files=None) -> requests.Response:
        return self.post(self.base + path, data={"csrf": self.csrf, **(data or {})}, files=files,
                         headers={"Origin": self.base})


def sandbox_env(sandbox) -> dict:
    return {"BULKMAIL_BASE_URL": sandbox.url, "BULKMAIL_USERNAME": sandbox.settings.username,
            "BULKMAIL_PASSWORD": sandbox.settings.password}


def stop(process: subprocess.Popen) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def test_bulkmail_ui_prints_its_link_on_stdout_and_answers_only_through_it(sandbox, tmp_path):
    process, link, _ = start(tmp_path, "ui", "--no-browser", env=sandbox_env(sandbox))
    try:
        port = LINK.match(link).group(1)
        assert requests.get(f"http://127.0.0.1:{port}/").status_code == 401
        assert requests.get(f"http://127.0.0.1:{port}/?token=wrong").status_code == 403
        assert requests.get(link, headers={"Host": f"rebound.example:{port}"}).status_code == 403
        browser = Browser(link)
        assert "Log in and check" in browser.get(browser.base + "/").text
        assert requests.get(link).status_code == 403  # the link works once
    finally:
        code, out, err = stop(process)
    assert code == 130 and "Traceback" not in err


def test_bulkmail_ui_refuses_to_listen_on_every_address(bulkmail):
    refused = bulkmail("ui", "--no-browser", "--host", "0.0.0.0")
    assert refused.code == 2
    assert refused.err == "Error: --host 0.0.0.0 would listen on every address; give the one address to listen on.\n"


def test_ctrl_c_cancels_the_run_in_progress_writes_its_report_and_leaves_it_resumable(sandbox, tmp_path, bulkmail,
                                                                                     user_folders):
    write_csv(tmp_path / "wave.csv", ["action,email"] + [f"add,hire{n}@acme.com" for n in range(600)])
    process, link, _ = start(tmp_path, "ui", "--no-browser", env=sandbox_env(sandbox))
    try:
        browser = Browser(link)
        browser.send_form("/account", {"profile": ""})
        opened = browser.send_form("/upload", {"kind": "import"},
                                   files={"file": ("wave.csv", (tmp_path / "wave.csv").read_bytes())})
        ws = opened.url.split("/")[4]
        planned = browser.send_form(f"/w/{ws}/plan")
        job = planned.url.rsplit("/", 1)[1]
        while browser.get(f"{browser.base}/jobs/{job}/progress").json()["running"]:
            time.sleep(0.05)
        sandbox.configure(latency=0.3)
        started = browser.send_form(f"/w/{ws}/apply", {"confirm": "1"})
        job = started.url.rsplit("/", 1)[1]
        while "Adding" not in {s["stage"] for s in browser.get(f"{browser.base}/jobs/{job}/progress").json()["stages"]}:
            time.sleep(0.02)
    finally:
        code, out, err = stop(process)
    assert code == 130 and "Traceback" not in err
    assert out.endswith("Cancelled Run of wave.csv: its report is written. Resume it from History on the page, or "
                        "with the command line's --resume.\n")
    reports = list((tmp_path / "reports").glob("wave-*-results.csv"))
    assert len(reports) == 1
    working = next((user_folders / "xdg_state_home" / "bulkmail" / "ui").glob("*/wave.csv"))
    sandbox.configure(latency=0)
    resumed = bulkmail("import", working, "--resume", "--yes")
    assert resumed.code == 0 and len(sandbox.store.addresses()) == 600


def test_demo_ui_starts_a_sandbox_and_the_page_logged_in_to_it(tmp_path):
    process, link, before = start(tmp_path, "demo", "--ui", env={"BROWSER": "true"})  # the browser: a no-op command
    try:
        browser = Browser(link)
        home = browser.get(browser.base + "/").text
        assert 'id="logged-in"' in home and "admin@acme.com" in home
    finally:
        code, out, err = stop(process)
    assert before[0].startswith("Started a sandbox at http://127.0.0.1:") and "every-error.xlsx" in before[0]
    assert code == 130
