"""The page end to end in a real headless Chromium (the system's, driven by Playwright): the
every-error sample through the grid (its bad cells fixed), the plan, a run cancelled and
resumed, the downloads. Each step leaves a screenshot in reports/ui-shots/.

Without /usr/bin/chromium these tests skip, unless BULKMAIL_BROWSER_TESTS=required (CI), which
makes them fail instead."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from helpers import SAMPLES, read_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parent.parent / "reports" / "ui-shots"


def _browser_or_skip():
    required = os.environ.get("BULKMAIL_BROWSER_TESTS") == "required"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("BULKMAIL_BROWSER_TESTS=required but Playwright is missing: pip install -e '.[test]'")
        pytest.skip("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        if required:
            pytest.fail(f"BULKMAIL_BROWSER_TESTS=required but {CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; CI installs it)")
    return sync_playwright


@pytest.fixture
def served(sandbox, monkeypatch, tmp_path):
    """The page served by uvicorn in a thread on a free loopback port; its Gate."""
    import uvicorn

    from bulkmail.ui.server import create_app
    from bulkmail.ui.security import Gate
    from bulkmail.ui.server import bind

    for name, value in (("BULKMAIL_BASE_URL", sandbox.url), ("BULKMAIL_USERNAME", sandbox.settings.username),
                        ("BULKMAIL_PASSWORD", sandbox.settings.password),
                        ("BULKMAIL_AUDIT_LOG", str(tmp_path / "audit.jsonl"))):
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    sock = bind("127.0.0.1", 0)
    gate = Gate(port=sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(gate), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield gate
    server.should_exit = True
    thread.join(30)
    sock.close()


@pytest.fixture
def page():
    playwright = _browser_or_skip()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1180, "height": 760}, accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        yield tab
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def fix(page, row: int, column: str, value: str) -> None:
    """Type into a cell and leave it: the server checks the row again."""
    cell = page.locator(f"#r-{row} input[data-column='{column}']")
    cell.fill(value)
    cell.press("Tab")


def test_the_every_error_sample_is_fixed_in_the_grid_planned_applied_cancelled_resumed_and_downloaded(
        served, page, sandbox, tmp_path):
    sandbox.store.add("kaito.eriksen0@acme.com")
    sandbox.store.add("david.larsen1@acme.co.uk")
    sandbox.store.add("someone@acme.com")

    page.goto(served.url())  # 1. account
    assert "token" not in page.url
    shot(page, "1-account")
    page.get_by_role("button", name="Log in and check").click()
    page.locator("#logged-in").wait_for()

    page.get_by_role("link", name="Import").first.click()  # 2. file
    page.get_by_label("Drop a CSV, XLSX, XLS or ODS file here, or choose one").set_input_files(
        str(SAMPLES / "every-error.xlsx"))
    shot(page, "2-file")
    page.get_by_role("button", name="Open").click()

    assert page.get_by_label("email_address").input_value() == "email_address"  # 3. columns
    shot(page, "3-columns")
    page.get_by_role("button", name="Use these columns").click()

    page.get_by_role("link", name="Problems only").click()  # 4. rows
    assert page.locator("#problem-count").inner_text() == "7"
    assert page.get_by_label("Row 6, email_address").get_attribute("aria-invalid") == "true"
    shot(page, "4-rows")
    fix(page, 6, "email_address", "typo.fixed@acme.com")
    page.locator("#r-6.ok").wait_for()
    fix(page, 7, "action", "remove")
    fix(page, 9, "executive", "yes")
    for row in (11, 12, 14):
        page.get_by_role("button", name=f"Delete row {row}").click()
        page.locator(f"#r-{row}").wait_for(state="detached")
    page.locator("#r-10.ok").wait_for()  # its twin is gone
    page.wait_for_function("document.getElementById('problem-count').textContent === '0'")
    shot(page, "4-rows-fixed")
    with page.expect_download() as corrected:
        page.locator("#corrected-xlsx").click()
    corrected.value.save_as(tmp_path / "corrected.xlsx")
    assert len(read_report(tmp_path / "corrected.xlsx", "Mailboxes")) == 10

    page.get_by_role("button", name="Plan against").click()  # 5. plan
    page.locator("#apply-form").wait_for()
    counts = page.locator("#counts").inner_text()
    assert "would_add\t6" in counts and "would_remove\t2" in counts and "already_present\t1" in counts
    shot(page, "5-plan")

    sandbox.configure(latency=0.4)  # 6. apply, cancelled while sending
    page.get_by_label("Add 6 and remove 2 mailboxes in account").check()
    page.get_by_role("button", name="Apply").click()
    page.locator("#stages", has_text="Adding").wait_for()
    shot(page, "6-running")
    page.get_by_role("button", name="Cancel").click()
    page.locator("#resumable").wait_for()
    assert "Cancelled from the page" in page.locator("#stopped").inner_text()
    shot(page, "6-cancelled")
    sandbox.configure(latency=0)
    page.get_by_role("button", name="Resume").click()  # resumed from the page

    page.locator("#downloads").wait_for()  # 7. results
    page.locator("#resumable").wait_for(state="detached")
    counts = page.locator("#counts").inner_text()
    assert "added\t5" in counts and "removed\t2" in counts and "failed\t1" in counts
    shot(page, "7-results")
    with page.expect_download() as report:
        page.locator("#report").click()
    report.value.save_as(tmp_path / "report.xlsx")
    statuses = {r["email_address"]: r["status"] for r in read_report(tmp_path / "report.xlsx")}
    assert statuses["typo.fixed@acme.com"] == "added" and statuses["guest@partner.org"] == "failed"
    with page.expect_download() as undo:
        page.locator("#undo-file").click()
    undo.value.save_as(tmp_path / "undo.csv")
    assert len(read_report(tmp_path / "undo.csv")) == 7
    assert sandbox.store.addresses() >= {"typo.fixed@acme.com", "new.starter@acme.com", "exec.maybe@acme.com"}
