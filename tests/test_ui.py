"""bulkmail ui: the page's routes through Starlette's TestClient, against the sandbox over a real
socket. The security rules (each status code), every step of the flow, bad uploads."""

from __future__ import annotations

import html
import io
import re
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from helpers import SAMPLES, read_report, write_csv
from starlette.routing import Route
from starlette.testclient import TestClient

from bulkmail.ui.server import create_app
from bulkmail.ui.security import COOKIE, Gate

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


class Page:
    """A browser's view of the page: the cookie, the CSRF token, the page's own Origin."""

    def __init__(self, client: TestClient, gate: Gate):
        self.client, self.gate, self.csrf = client, gate, ""

    def enter(self) -> None:
        assert self.client.get(f"/?token={self.gate.token}", follow_redirects=False).status_code == 303
        self.csrf = re.search(r'name="csrf" content="([^"]+)"', self.client.get("/").text).group(1)

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict | None = None, files=None, **kw):
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, files=files,
                                headers={"Origin": BASE}, **kw)

    def login(self) -> None:
        answer = self.post("/account", {"profile": ""})
        assert 'id="logged-in"' in answer.text, text(answer)

    def upload(self, path: Path, kind: str = "import") -> str:
        answer = self.post("/upload", {"kind": kind}, files={"file": (path.name, path.read_bytes())})
        assert answer.status_code == 200, text(answer)
        return str(answer.url).split("/")[4]

    def wait(self, answer, seconds: float = 20):
        """Follow a run's page until it ends; the page it ends on."""
        url = str(answer.url)
        if "/jobs/" not in url:  # the run ended before its page was asked for: this is the page it ended on
            assert any("/jobs/" in str(step.url) for step in answer.history), text(answer)
            return answer
        job = url.rsplit("/", 1)[1]
        deadline = time.monotonic() + seconds
        while self.get(f"/jobs/{job}/progress").json()["running"]:
            assert time.monotonic() < deadline, "the run did not end"
            time.sleep(0.05)
        return self.get(url)

    def plan(self, ws: str, **data):
        return self.wait(self.post(f"/w/{ws}/plan", data))

    def apply(self, ws: str, **data):
        return self.wait(self.post(f"/w/{ws}/apply", {"confirm": "1", **data}))


def text(answer) -> str:
    """A page's words, without the markup."""
    words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", answer.text)))
    return re.sub(r" ([.,;:)])(?=\s|$)", r"\1", words)


@pytest.fixture
def gate() -> Gate:
    return Gate(port=PORT)


@pytest.fixture
def page(sandbox, gate, monkeypatch, tmp_path):
    """The page, not entered yet, its account the sandbox's (through the environment)."""
    monkeypatch.setenv("BULKMAIL_BASE_URL", sandbox.url)
    monkeypatch.setenv("BULKMAIL_USERNAME", sandbox.settings.username)
    monkeypatch.setenv("BULKMAIL_PASSWORD", sandbox.settings.password)
    monkeypatch.setenv("BULKMAIL_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.chdir(tmp_path)
    with TestClient(create_app(gate), base_url=BASE) as client:
        yield Page(client, gate)


@pytest.fixture
def entered(page) -> Page:
    page.enter()
    page.login()
    return page


def every_error(sandbox) -> None:
    """The live state samples/every-error.xlsx expects."""
    sandbox.store.add("kaito.eriksen0@acme.com")
    sandbox.store.add("david.larsen1@acme.co.uk")


# -- security ---------------------------------------------------------------------------------


def test_a_request_without_the_cookie_gets_401_and_says_to_open_the_printed_link(page):
    answer = page.get("/")
    assert answer.status_code == 401
    assert "This page needs the link with the token that 'bulkmail ui' printed in its terminal." in text(answer)
    assert page.get("/history").status_code == 401 and page.get("/static/app.js").status_code == 401


def test_the_token_is_exchanged_once_for_an_httponly_samesite_strict_cookie_and_leaves_the_address(page, gate):
    answer = page.get(f"/import?token={gate.token}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/import"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie and gate.token not in cookie
    assert page.get("/import").status_code == 200
    page.client.cookies.clear()  # another browser
    used = page.client.get(f"/?token={gate.token}")
    assert used.status_code == 403
    assert "Its token is wrong or was used already (each link opens the page once)." in text(used)


def test_a_wrong_token_gets_403_and_no_cookie(page, gate):
    answer = page.get("/?token=guessed", follow_redirects=False)
    assert answer.status_code == 403 and "set-cookie" not in answer.headers
    assert page.get(f"/?token={gate.token}", follow_redirects=False).status_code == 303  # still good once


def test_a_foreign_host_header_is_refused_with_403_even_with_the_token_or_the_cookie(page, gate):
    rebound = page.get(f"/?token={gate.token}", headers={"Host": f"evil.example:{PORT}"}, follow_redirects=False)
    assert rebound.status_code == 403 and "This page answers only at the address bulkmail ui printed." in text(rebound)
    page.enter()
    for host in (f"evil.example:{PORT}", "127.0.0.1:9", "127.0.0.1"):
        assert page.get("/", headers={"Host": host}).status_code == 403
    assert page.get("/", headers={"Host": f"localhost:{PORT}"}).status_code == 200
    assert Gate(host="::1", port=PORT).allowed_hosts >= {f"[::1]:{PORT}", f"127.0.0.1:{PORT}"}


def test_a_change_without_the_pages_origin_is_refused_with_403(entered):
    for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": f"http://localhost:{PORT}"}, {"Origin": "null"}):
        answer = entered.client.post("/account", data={"csrf": entered.csrf, "profile": ""}, headers=headers)
        assert answer.status_code == 403 and "A change must come from the page itself (its Origin)." in text(answer)


def test_every_route_that_changes_something_refuses_a_post_without_the_csrf_token(entered, page):
    posts = [r.path for r in page.client.app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    assert len(posts) >= 12
    for path in posts:
        url = re.sub(r"\{\w+\}", "1", path)
        for data, headers in (({}, {}), ({"csrf": "forged"}, {}), ({}, {"X-CSRF-Token": "forged"})):
            answer = entered.client.post(url, data=data, headers={"Origin": BASE, **headers})
            assert answer.status_code == 403, (path, answer.status_code)
            assert "security token is missing or old" in text(answer)
    assert entered.post("/account", {"profile": ""}, ).status_code == 200  # the real token works


def test_an_upload_over_the_limit_is_refused_with_413_before_it_is_read(page, gate, tmp_path):
    gate.max_body = 50_000
    page.enter()
    big = tmp_path / "big.csv"
    big.write_text("email_address,action\n" + "someone@acme.com,add\n" * 4000)
    answer = page.post("/upload", files={"file": (big.name, big.read_bytes())})
    assert answer.status_code == 413
    assert ("The upload is larger than 48 KB, more than any mailbox list needs. Split the file, or use the command "
            "line (bulkmail import), which has no such limit.") in text(answer)

    def chunks():  # no Content-Length: the limit counts what arrives
        yield b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
        for _ in range(100):
            yield b"a" * 1000
    streamed = page.client.post("/upload", content=chunks(), headers={
        "Origin": BASE, "X-CSRF-Token": page.csrf, "Content-Type": "multipart/form-data; boundary=x"})
    assert streamed.status_code == 413
    assert not list(Path(tmp_path).rglob("upload/big.csv"))


def test_responses_forbid_framing_inline_script_caching_and_referrers(entered):
    headers = entered.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "same-origin"


def test_no_password_or_token_reaches_a_page(page, sandbox, gate, monkeypatch, tmp_path):
    monkeypatch.delenv("BULKMAIL_PASSWORD")
    page.enter()
    asked = page.get("/")
    assert 'type="password"' in asked.text
    page.post("/account", {"profile": "", "password": sandbox.settings.password})
    ws = page.upload(SAMPLES / "every-error.xlsx")
    seen = [page.get(p).text for p in ("/", "/import", "/export", "/history", f"/w/{ws}/columns", f"/w/{ws}/rows")]
    seen.append(page.plan(ws).text)
    secrets = [sandbox.settings.password, gate.token, page.client.cookies[COOKIE]]
    assert not [s for s in secrets for html in seen if s in html]
    assert sandbox.settings.password not in (tmp_path / "audit.jsonl").read_text()


# -- 1. account ------------------------------------------------------------------------------


def test_the_account_step_logs_in_and_shows_the_service_and_the_account_id(entered, sandbox):
    shown = text(entered.get("/"))
    assert f"Logged in to {sandbox.url} as {sandbox.settings.username}; account {sandbox.accounts[0].account_id}." \
        in shown


def test_a_refused_password_typed_on_the_page_is_said_plainly(page, monkeypatch):
    monkeypatch.delenv("BULKMAIL_PASSWORD")
    page.enter()
    answer = page.post("/account", {"profile": "", "password": "wrong"})
    assert answer.status_code == 400 and "Check BULKMAIL_USERNAME and the password you typed." in text(answer)
    missing = page.post("/account", {"profile": ""})
    assert missing.status_code == 400 and "Enter the password: no other source has it" in text(missing)


def test_a_profile_is_offered_and_its_password_command_logs_in(page, sandbox, monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.acme]\nbase_url = "{sandbox.url}"\nusername = "{sandbox.settings.username}"\n'
                      f'password_command = "printf {sandbox.settings.password}"\n')
    monkeypatch.setenv("BULKMAIL_CONFIG", str(config))
    monkeypatch.delenv("BULKMAIL_PASSWORD")
    monkeypatch.delenv("BULKMAIL_USERNAME")
    page.enter()
    assert '<option value="acme">acme</option>' in page.get("/").text
    assert 'type="password"' not in page.get("/?profile=acme").text  # the command has it
    assert "(profile acme)" in text(page.post("/account", {"profile": "acme"}))


# -- 2. file ---------------------------------------------------------------------------------


def test_bad_uploads_are_refused_with_the_readers_own_words_and_400_and_not_kept(entered, tmp_path, user_folders):
    cases = {"notes.pdf": (b"%PDF-1.4", "Cannot read notes.pdf: use a .csv, .xlsx, .xls, .xlsb or .ods file"),
             "fake.xlsx": (b"not a zip", "fake.xlsx is not a valid .xlsx file (it is not a zip archive)."),
             "empty.csv": (b"", "empty.csv is empty: it has no header row.")}
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (60 * 1024 * 1024))
    cases["bomb.xlsx"] = (bomb.getvalue(), "Refusing bomb.xlsx: it would unpack to 60 MiB")
    for name, (data, said) in cases.items():
        answer = entered.post("/upload", files={"file": (name, data)})
        assert answer.status_code == 400 and said in text(answer), (name, text(answer))
    assert not list(user_folders.rglob("upload/*"))
    nothing = entered.post("/upload", {"pasted": " "})
    assert "Choose a file (or drop one on the box), or paste a list of addresses." in text(nothing)


def test_a_workbook_with_several_sheets_offers_them_and_reads_the_one_chosen(entered, tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Leavers"
    book.active.append(["email", "action"])
    book.active.append(["a@acme.com", "remove"])
    joiners = book.create_sheet("Joiners")
    joiners.append(["email", "action"])
    for n in range(3):
        joiners.append([f"j{n}@acme.com", "add"])
    book.save(tmp_path / "two.xlsx")
    ws = entered.upload(tmp_path / "two.xlsx")
    columns = entered.get(f"/w/{ws}/columns").text
    assert "<option selected>Leavers</option><option>Joiners</option>" in columns
    assert "Sheet 'Joiners' has an email column too and was not read" in text(entered.get(f"/w/{ws}/columns"))
    entered.post(f"/w/{ws}/sheet", {"sheet": "Joiners"})
    assert "0 of 3 rows have a problem" in text(entered.get(f"/w/{ws}/rows"))


def test_a_pasted_list_of_addresses_becomes_rows_with_the_action_chosen(entered):
    answer = entered.post("/upload", {"pasted": "a@acme.com\nb@acme.com, not-an-address", "action": "remove"})
    ws = str(answer.url).split("/")[4]
    rows = text(entered.get(f"/w/{ws}/rows"))
    assert "1 of 3 rows have a problem" in rows and "invalid email address 'not-an-address'" in rows
    assert 'value="remove"' in entered.get(f"/w/{ws}/rows").text


# -- 3. columns ------------------------------------------------------------------------------


def test_columns_are_prefilled_from_aliases_changeable_and_a_saved_mapping_is_offered_next_time(entered, tmp_path):
    write_csv(tmp_path / "hr.csv", ["Mail Addr,Display Name,What", "a@acme.com,Ann,add"])
    ws = entered.upload(tmp_path / "hr.csv")
    page = entered.get(f"/w/{ws}/columns").text
    assert '<option selected>Display Name</option>' in page  # realname, by its alias
    assert '<select id="map-email_address" name="email_address">\n      <option value="">(not used)</option>\n      ' \
           '<option>Mail Addr</option>' in page  # no alias: the user picks it
    entered.post(f"/w/{ws}/columns", {"email_address": "Mail Addr", "action": "What", "realname": "Display Name",
                                     "save": "1"})
    assert "0 of 1 rows have a problem" in text(entered.get(f"/w/{ws}/rows"))
    write_csv(tmp_path / "hr2.csv", ["mail addr,display name,what", "b@acme.com,Bob,remove"])
    again = entered.upload(tmp_path / "hr2.csv")
    assert "Using the columns you saved for a file with these headers." in text(entered.get(f"/w/{again}/columns"))
    assert "0 of 1 rows have a problem" in text(entered.get(f"/w/{again}/rows"))


def test_a_file_without_an_action_column_needs_the_action_chosen(entered, tmp_path):
    write_csv(tmp_path / "leavers.csv", ["email", "a@acme.com"])
    ws = entered.upload(tmp_path / "leavers.csv")
    assert str(entered.get(f"/w/{ws}/rows").url).endswith("/columns")  # nothing to check rows against yet
    entered.post(f"/w/{ws}/columns", {"email_address": "email", "default_action": "remove"})
    assert "0 of 1 rows have a problem" in text(entered.get(f"/w/{ws}/rows"))


# -- 4. rows ---------------------------------------------------------------------------------


def test_rows_show_each_rows_validation_with_the_bad_cell_highlighted(entered):
    ws = entered.upload(SAMPLES / "every-error.xlsx")
    grid = entered.get(f"/w/{ws}/rows").text
    assert "7 of 13 rows have a problem" in text(entered.get(f"/w/{ws}/rows?problems=1"))
    assert ('<input class="cell bad" data-column="email_address" value="not-an-address" aria-label="Row 6, '
            'email_address" aria-invalid="true"') in grid
    assert '<input class="cell bad" data-column="executive" value="maybe"' in grid
    only = entered.get(f"/w/{ws}/rows?problems=1").text
    assert 'id="r-6"' in only and 'id="r-2"' not in only


def test_an_edited_cell_is_validated_again_on_the_server_and_so_are_the_rows_it_affects(entered):
    ws = entered.upload(SAMPLES / "every-error.xlsx")
    fixed = entered.post(f"/w/{ws}/cell", {"row": "6", "column": "email_address", "value": "typo.fixed@acme.com"})
    assert fixed.json() == {"rows": {"6": {"status": "ok", "detail": "", "bad": None}}, "deleted": [],
                            "problems": 6, "total": 13}
    twin = entered.post(f"/w/{ws}/cell", {"row": "6", "column": "email_address", "value": "new.starter@acme.com"})
    assert twin.json()["rows"]["6"] == {"status": "invalid", "bad": "email_address", "detail":
                                        "row 2 adds the same address with realname 'New Starter', this row with "
                                        "realname 'Typo'; keep one of the two rows"}
    gone = entered.post(f"/w/{ws}/cell", {"row": "2", "delete": "1"})
    assert gone.json()["deleted"] == ["2"] and gone.json()["rows"]["6"]["status"] == "ok"  # the first add now
    assert gone.json()["rows"]["12"]["detail"].startswith("row 6 adds the same address with realname 'Typo'")
    missing = entered.post(f"/w/{ws}/cell", {"row": "2", "column": "email_address", "value": "x@acme.com"})
    assert missing.status_code == 400 and "There is no row 2 in sheet 'Mailboxes' of every-error.xlsx" in text(missing)


def test_the_corrected_sheet_downloads_with_the_edits_and_without_the_deleted_rows(entered, tmp_path):
    ws = entered.upload(SAMPLES / "every-error.xlsx")
    entered.post(f"/w/{ws}/cell", {"row": "6", "column": "email_address", "value": "=1+2"})
    entered.post(f"/w/{ws}/cell", {"row": "7", "delete": "1"})
    for suffix in ("csv", "xlsx"):
        answer = entered.get(f"/w/{ws}/corrected.{suffix}")
        assert answer.status_code == 200
        assert answer.headers["content-disposition"].endswith(f'filename="every-error-corrected.{suffix}"')
        (tmp_path / f"c.{suffix}").write_bytes(answer.content)
        rows = read_report(tmp_path / f"c.{suffix}", "Mailboxes")
        assert len(rows) == 12 and rows[4]["email_address"] in ("=1+2", "'=1+2")
        assert "someone@acme.com" not in {r["email_address"] for r in rows}
    assert openpyxl.load_workbook(tmp_path / "c.xlsx")["Mailboxes"]["B6"].data_type == "s"  # text, not a formula


# -- 5. plan ---------------------------------------------------------------------------------


def test_the_plan_counts_each_status_lists_the_rows_to_look_at_and_offers_the_plan_file(entered, sandbox, bulkmail):
    every_error(sandbox)
    sandbox.store.add("nobody.heer@acme.com")  # two letters swapped: a typo
    ws = entered.upload(SAMPLES / "every-error.xlsx")
    planned = entered.plan(ws)
    said = text(planned)
    assert "already_present 1 not_found 1 would_add 3 would_remove 1 duplicate 1 invalid 6" in said
    assert "nobody.here@acme.com not_found no such mailbox; nothing sent; did you mean nobody.heer@acme.com?" in said
    assert "kaito.eriksen0@acme.com already_present the mailbox exists already" in said
    assert "The account has no mailbox in partner.org yet" in said
    assert "Add 3 and remove 1 mailboxes in account" in said and len(sandbox.store.addresses()) == 3
    plan_link = re.search(r'href="([^"]+)" id="plan-file"', planned.text).group(1)
    Path("approved.json").write_bytes(entered.get(plan_link).content)
    applied = bulkmail("apply", "approved.json", "--yes")
    assert applied.code == 1 and "Results: added 2, removed 1, failed 1" in applied.out  # partner.org is refused


def test_a_mass_removal_must_be_acknowledged_before_it_is_applied(entered, sandbox, tmp_path):
    for n in range(30):
        sandbox.store.add(f"leaver{n}@acme.com")
    write_csv(tmp_path / "leavers.csv", ["action,email"] + [f"remove,leaver{n}@acme.com" for n in range(25)])
    ws = entered.upload(tmp_path / "leavers.csv")
    planned = text(entered.plan(ws))
    assert "Safety rail: The plan removes 25 of the account's 30 mailboxes (83%)." in planned
    refused = entered.post(f"/w/{ws}/apply", {"confirm": "1"})
    assert refused.status_code == 400 and "Tick the box that acknowledges it to go on anyway" in text(refused)
    assert len(sandbox.store.addresses()) == 30
    done = entered.apply(ws, acknowledge="1")
    assert "removed 25" in text(done) and len(sandbox.store.addresses()) == 5


# -- 6. apply, 7. results ----------------------------------------------------------------------


def test_apply_needs_the_confirmation_of_the_account_and_the_counts(entered, sandbox):
    every_error(sandbox)
    ws = entered.upload(SAMPLES / "every-error.xlsx")
    entered.plan(ws)
    answer = entered.post(f"/w/{ws}/apply")
    assert answer.status_code == 400 and "Tick the box that confirms the account and the counts; nothing was sent." \
        in text(answer)
    assert len(sandbox.store.addresses()) == 2


def test_apply_sends_only_the_plan_confirmed_never_rows_edited_since(entered, sandbox, tmp_path):
    planned, other = sandbox.store.add("planned.leaver@acme.com"), sandbox.store.add("someone.else@acme.com")
    write_csv(tmp_path / "leavers.csv", ["email_address,action", "planned.leaver@acme.com,remove"])
    ws = entered.upload(tmp_path / "leavers.csv")
    entered.plan(ws)
    # the same counts, another mailbox: an edit made after the plan was shown
    entered.post(f"/w/{ws}/cell", {"row": "2", "column": "email_address", "value": "someone.else@acme.com"})
    answer = entered.apply(ws)
    assert "The rows changed since the plan you confirmed (a cell edited, a row deleted). Nothing was sent. Make the " \
           "plan again: it shows what the rows now ask." in text(answer)
    assert {planned["email_address"], other["email_address"]} <= sandbox.store.addresses()


def test_the_working_copy_carries_the_action_chosen_for_rows_without_one(entered, sandbox, tmp_path):
    write_csv(tmp_path / "joiners.csv", ["Email", "joiner1@acme.com", "joiner2@acme.com"])
    ws = entered.upload(tmp_path / "joiners.csv")
    entered.post(f"/w/{ws}/columns", {"email_address": "Email", "action": "", "default_action": "add"})
    workspace = entered.client.app.state.ui.workspace(ws)
    lines = workspace.working_file().read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].endswith(",action") and all(line.endswith(",add") for line in lines[1:])


def test_a_run_from_the_page_is_reported_logged_and_offers_report_undo_and_failed_rows(entered, sandbox, bulkmail,
                                                                                      tmp_path):
    every_error(sandbox)
    ws = entered.upload(SAMPLES / "every-error.xlsx")
    entered.plan(ws)
    results = entered.apply(ws)
    said = text(results)
    assert "added 2 removed 1" in said and "guest@partner.org failed 400 Bad Request" in said
    links = dict(re.findall(r'href="(/download/[^"]+)" id="([\w-]+)"', results.text)[i][::-1] for i in range(4))
    assert set(links) == {"report", "report-other", "undo-file", "again"}
    files = {}
    for name, link in links.items():
        files[name] = tmp_path / link.rsplit("/", 1)[1]
        files[name].write_bytes(entered.get(link).content)
    assert files["report"].suffix == ".xlsx" and files["report-other"].suffix == ".csv"
    assert {r["status"] for r in read_report(files["report"])} >= {"added", "removed", "failed", "invalid"}
    assert [(r["row"], r["status"]) for r in read_report(files["report-other"])] == [
        (r["row"], r["status"]) for r in read_report(files["report"])]
    again = read_report(files["again"])
    assert [(r["row"], r["email_address"]) for r in again] == [("13", "guest@partner.org")]
    undo = read_report(files["undo-file"])
    assert sorted((r["action"], r["email_address"]) for r in undo) == [
        ("add", "david.larsen1@acme.co.uk"), ("remove", "formula.name@acme.com"), ("remove", "new.starter@acme.com")]
    run_id = re.search(r"Run <code>(\w+)</code>", results.text).group(1)
    logged = bulkmail("log", "--run", run_id)
    assert logged.out.count(f"run {run_id}") == 3  # one line per change


def test_the_undo_preview_plans_the_undo_of_the_run_just_made(entered, sandbox):
    every_error(sandbox)
    ws = entered.upload(SAMPLES / "every-error.xlsx")
    entered.plan(ws)
    entered.apply(ws)
    preview = entered.wait(entered.post(f"/w/{ws}/undo"))
    said = text(preview)
    assert "— the undo of run" in said and "would_add 1 would_remove 2" in said
    assert len(sandbox.store.addresses()) == 3  # a preview changes nothing


def slow(sandbox) -> None:
    sandbox.configure(latency=0.15)


def test_cancel_stops_a_run_cleanly_and_the_page_and_the_command_line_resume_it(entered, sandbox, tmp_path,
                                                                                bulkmail):
    write_csv(tmp_path / "wave.csv", ["action,email"] + [f"add,hire{n}@acme.com" for n in range(600)])
    ws = entered.upload(tmp_path / "wave.csv")
    entered.plan(ws)  # 6 batches, 4 at a time: the last ones are not sent
    slow(sandbox)
    started = entered.post(f"/w/{ws}/apply", {"confirm": "1"})
    job = str(started.url).rsplit("/", 1)[1]
    while "Adding" not in {s["stage"] for s in entered.get(f"/jobs/{job}/progress").json()["stages"]}:
        time.sleep(0.02)  # cancelled once something was sent: a run cancelled before that leaves nothing to resume
    entered.post(f"/jobs/{job}/cancel")
    stopped = entered.wait(started)
    said = text(stopped)
    assert "Cancelled from the page" in said and "not_attempted" in said
    assert "This run did not finish. Resume it here, or from the command line:" in said
    command = re.search(r'<code id="cli-resume">bulkmail import &#34;(.+?)&#34; --resume</code>', stopped.text).group(1)
    sandbox.configure(latency=0)
    resumed = bulkmail("import", command, "--resume", "--yes")
    assert resumed.code == 0 and len(sandbox.store.addresses()) == 600
    assert "This run did not finish" not in text(entered.get(f"/w/{ws}/results"))


def test_a_run_cut_short_on_the_command_line_is_resumed_from_history(entered, sandbox, tmp_path, bulkmail):
    write_csv(tmp_path / "wave.csv", ["action,email"] + [f"add,hire{n}@acme.com" for n in range(30)])
    slow(sandbox)
    cut = bulkmail("import", "wave.csv", "--yes", "--batch-size", "1", "--concurrency", "1", "--max-duration", "1s")
    assert cut.code == 4 and 0 < len(sandbox.store.addresses()) < 30
    sandbox.configure(latency=0)
    history = entered.get("/history")
    run_id = re.search(r'action="/history/(\w+)/resume"', history.text).group(1)
    finished = entered.wait(entered.post(f"/history/{run_id}/resume"))
    assert "added 30" in text(finished) and len(sandbox.store.addresses()) == 30


def test_a_second_tab_on_the_same_file_is_told_a_run_is_going(entered, sandbox, tmp_path):
    write_csv(tmp_path / "wave.csv", ["action,email"] + [f"add,hire{n}@acme.com" for n in range(20)])
    ws = entered.upload(tmp_path / "wave.csv")
    entered.plan(ws)
    slow(sandbox)
    started = entered.post(f"/w/{ws}/apply", {"confirm": "1"})
    second = entered.upload(tmp_path / "wave.csv")  # the same file in another tab
    assert second == ws
    assert "A run of this file is going (Run of wave.csv), maybe in another tab" in text(
        entered.get(f"/w/{ws}/columns"))
    going = f'<a href="/jobs/{str(started.url).rsplit("/", 1)[1]}">running here</a>'
    deadline = time.monotonic() + 10
    while going not in (history := entered.get("/history").text):  # once the run's start is in the log
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "/resume" not in history  # not offered for a run going on here
    refused = entered.post(f"/w/{ws}/plan")
    assert refused.status_code == 400 and "A run of this file is going already (Run of wave.csv" in text(refused)
    edit = entered.post(f"/w/{ws}/cell", {"row": "2", "column": "email", "value": "x@acme.com"})
    assert edit.status_code == 400 and ("A run of this file is going (Run of wave.csv); wait for it to finish before "
                                        "changing the file.") in text(edit)
    sandbox.configure(latency=0)
    entered.wait(started)


# -- export, sync, history ---------------------------------------------------------------------


def test_export_writes_every_mailbox_with_progress_and_offers_the_file(entered, sandbox, tmp_path):
    sandbox.store.seed(120, ["acme.com"])
    done = entered.wait(entered.post("/export", {"format": "xlsx", "search": ""}))
    said = text(done)
    assert "Exported 120 mailboxes" in said
    link = re.search(r'href="(/download/[^"]+)" class="download"', done.text).group(1)
    (tmp_path / "e.xlsx").write_bytes(entered.get(link).content)
    assert len(read_report(tmp_path / "e.xlsx", "Mailboxes")) == 120


def test_sync_plans_and_applies_a_roster_within_its_scope_keeping_protected_mailboxes(entered, sandbox, tmp_path):
    for address in ("stays@acme.com", "leaver@acme.com", "svc-backup@acme.com", "other@partner.org"):
        sandbox.store.add(address)
    write_csv(tmp_path / "roster.csv", ["email", "stays@acme.com", "new@acme.com"])
    ws = entered.upload(tmp_path / "roster.csv", kind="sync")
    entered.post(f"/w/{ws}/columns", {"email_address": "email"})
    planned = text(entered.plan(ws, scope="acme.com", keep="svc-*@acme.com"))
    assert "already_present 1 would_add 1 would_remove 1 kept 1" in planned, planned
    assert "Rows to look at" not in planned  # on a roster, already_present is the normal case
    done = text(entered.apply(ws))
    assert "added 1" in done and "removed 1" in done
    assert sandbox.store.addresses() == {"stays@acme.com", "new@acme.com", "svc-backup@acme.com", "other@partner.org"}


def test_history_lists_the_runs_searches_by_address_and_undoes_a_run(entered, sandbox, bulkmail, tmp_path):
    write_csv(tmp_path / "w.csv", ["action,email", "add,hire@acme.com"])
    assert bulkmail("import", "w.csv", "--yes").code == 0
    history = entered.get("/history")
    run_id = re.search(r'action="/history/(\w+)/undo"', history.text).group(1)
    assert "import" in text(history) and "added 1" in text(history)
    found = text(entered.get("/history?email=HIRE@acme.com"))
    assert "added hire@acme.com" in found and run_id in found
    preview = entered.wait(entered.post(f"/history/{run_id}/undo"))
    assert "would_remove 1" in text(preview)
    ws = re.search(r'action="/w/([\w-]+)/apply"', preview.text).group(1)
    assert "removed 1" in text(entered.apply(ws)) and "hire@acme.com" not in sandbox.store.addresses()
