"""The page's application: its state (the account, the files being worked on, the runs) and
the first steps of the flow — account, file, columns, rows. The runs (plan, apply, results,
export, sync, history) are in runs.py; server.py puts them together."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..cancel import Cancel
from ..config import Config, ConnectionSettings, config_path, fill_password, load_config, password_source, resolve
from ..errors import AuthError, BulkmailError, InputError
from ..records import PLANNED
from .jobs import Jobs, connect
from .security import Gate, posted, refusal
from .workspace import FIELDS, Workspace, pasted, save_mapping, save_upload

HERE = Path(__file__).resolve().parent
PAGE_ROWS = 200  # rows the grid shows at once


@dataclass
class Account:
    """The logged-in account: the settings (the password in memory only, never on a page)."""

    settings: ConnectionSettings
    account_id: str

    @property
    def service(self) -> str:
        return self.settings.base_url

    @property
    def profile(self) -> str | None:
        return self.settings.profile


@dataclass
class Ui:
    """Everything the server knows: one person's page, so one state."""

    gate: Gate
    jobs: Jobs = field(default_factory=Jobs)
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    account: Account | None = None
    profile: str | None = None  # bulkmail ui --profile NAME: the account step's first choice
    downloads: dict[str, Path] = field(default_factory=dict)
    stopped: list = field(default_factory=list)  # runs Ctrl-C cancelled, for the terminal

    def offer(self, path: Path | None) -> str | None:
        """A download link for a file the page made (only such files are ever served)."""
        if path is None:
            return None
        key = next((k for k, p in self.downloads.items() if p == path), None) or secrets.token_urlsafe(9)
        self.downloads[key] = Path(path)
        return f"/download/{key}/{Path(path).name}"

    def workspace(self, key: str) -> Workspace:
        found = self.workspaces.get(key)
        if found is None:
            raise HTTPException(404, "This file is no longer open here (the page was restarted?). Open it again.")
        return found


_templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                undefined=jinja2.StrictUndefined)


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    ui: Ui = request.app.state.ui
    page = _templates.get_template(name).render(request=request, csrf=request.state.csrf, account=ui.account,
                                                 **context)
    return HTMLResponse(page, status_code=status)


def to(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- account ------------------------------------------------------------------------------


def profiles() -> tuple[Config | None, str | None]:
    """The config file's profiles, or why it cannot be read."""
    try:
        return load_config(), None
    except InputError as err:
        return None, str(err)


def settings_of(choice: str) -> ConnectionSettings:
    """The settings of a profile, or of the environment alone for ''."""
    if choice:
        return resolve({}, choice)
    env = {k: v for k, v in os.environ.items() if k != "BULKMAIL_PROFILE"}
    return resolve({}, None, Config(config_path()), env)


async def home(request: Request) -> Response:
    ui: Ui = request.app.state.ui
    config, problem = profiles()
    chosen = request.query_params.get("profile")
    if chosen is None:
        chosen = (ui.account.profile if ui.account else ui.profile or (config.default_profile if config else None)) or ""
    needs, settings_problem = [], None
    try:
        settings = settings_of(chosen)
        profile = config.profiles.get(chosen) if config and chosen else None
        if not settings.username:
            needs.append("username")
        if password_source(settings, profile) == "prompt":
            needs.append("password")
    except InputError as err:
        settings, settings_problem = None, str(err)
    return render(request, "home.html", config=config, problem=problem, chosen=chosen, settings=settings,
                  needs=needs, settings_problem=settings_problem)


async def log_in(request: Request) -> Response:
    ui: Ui = request.app.state.ui
    form = await posted(request)
    choice = str(form.get("profile") or "")
    settings = settings_of(choice)

    def ask(label: str, secret: bool) -> str:
        value = str(form.get("password" if secret else "username") or "")
        if not value:
            raise InputError(f"Enter the {'password' if secret else 'user name'}: no other source has it "
                             "(BULKMAIL_PASSWORD, the keyring, the profile's password_command).")
        return value

    fill_password(settings, ask)
    client = connect(settings, Cancel())
    try:
        ui.account = Account(settings, client.account_id or "")
    finally:
        client.close()
    return to("/")


# -- the file -----------------------------------------------------------------------------


async def upload_page(request: Request) -> Response:
    kind = "sync" if request.url.path == "/sync" else "import"
    return render(request, "upload.html", kind=kind)


async def upload(request: Request) -> Response:
    ui: Ui = request.app.state.ui
    form = await posted(request)
    kind = "sync" if form.get("kind") == "sync" else "import"
    handed = form.get("file")
    if handed is not None and getattr(handed, "filename", ""):
        name, data = handed.filename, await handed.read()
    elif str(form.get("pasted") or "").strip():
        name, data = pasted(str(form["pasted"]), "add" if kind == "sync" else str(form.get("action") or ""))
    else:
        raise InputError("Choose a file (or drop one on the box), or paste a list of addresses.")
    key, folder, path = save_upload(name, data)
    found = ui.workspaces.get(key)
    if found is None or found.kind != kind:
        found = open_workspace(ui, key, kind, folder, path, Path(path).name)
    return to(f"/w/{found.id}/columns")


def open_workspace(ui: Ui, key: str, kind: str, folder: Path, path: Path, name: str) -> Workspace:
    """A workspace for a file, read and validated (with the account's --domain list)."""
    settings = ui.account.settings if ui.account else None
    ws = Workspace(key, kind, folder, path, name, profile=settings.profile if settings else None,
                   domains=tuple(settings.domains) if settings else ())
    try:
        ws.read()
    except InputError:
        if kind in ("import", "sync"):
            path.unlink(missing_ok=True)  # a refused upload is not kept
        raise
    ui.workspaces[key] = ws
    return ws


# -- columns ------------------------------------------------------------------------------


async def columns(request: Request) -> Response:
    ws = request.app.state.ui.workspace(request.path_params["ws"])
    return render(request, "columns.html", ws=ws, fields=FIELDS, going=going(request, ws))


async def choose_sheet(request: Request) -> Response:
    form = await posted(request)
    ws = request.app.state.ui.workspace(request.path_params["ws"])
    idle(request, ws)
    with ws.lock:
        ws.read(str(form.get("sheet") or "") or None)
    return to(f"/w/{ws.id}/columns")


async def map_columns(request: Request) -> Response:
    form = await posted(request)
    ws = request.app.state.ui.workspace(request.path_params["ws"])
    idle(request, ws)
    fields = {name: str(form.get(name) or "") for name in FIELDS}
    action = str(form.get("default_action") or "") or None
    with ws.lock:
        ws.map(fields, action)
        if form.get("save"):
            save_mapping(ws.profile, ws.headers, ws.fields, ws.action)
    return to(f"/w/{ws.id}/rows")


# -- rows ---------------------------------------------------------------------------------


async def rows(request: Request) -> Response:
    ws = request.app.state.ui.workspace(request.path_params["ws"])
    if not ws.ready:
        return to(f"/w/{ws.id}/columns")
    only_problems = request.query_params.get("problems") == "1"
    shown = ws.problems() if only_problems else ws.rows
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    pages = max(1, -(-len(shown) // PAGE_ROWS))
    page = min(page, pages)
    return render(request, "rows.html", ws=ws, shown=shown[(page - 1) * PAGE_ROWS:page * PAGE_ROWS],
                  only_problems=only_problems, page=page, pages=pages, problems=len(ws.problems()),
                  PLANNED=PLANNED, going=going(request, ws))


def row_states(ws: Workspace) -> dict[str, dict]:
    return {str(r.row): {"status": "ok" if r.status == PLANNED else str(r.status), "detail": r.detail,
                         "bad": next((h for h, _, bad in ws.cells(r) if bad), None)} for r in ws.rows}


async def edit_cell(request: Request) -> Response:
    form = await posted(request)
    ws = request.app.state.ui.workspace(request.path_params["ws"])
    idle(request, ws)
    with ws.lock:
        before = row_states(ws)
        try:
            number = int(str(form.get("row")))
        except ValueError:
            raise InputError("Which row? The request named none.") from None
        if form.get("delete"):
            ws.delete(number)
        else:
            ws.edit(number, str(form.get("column") or ""), str(form.get("value") or ""))
        after = row_states(ws)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    return JSONResponse({"rows": changed, "deleted": [k for k in before if k not in after],
                         "problems": len(ws.problems()), "total": len(ws.rows)})


async def corrected(request: Request) -> Response:
    ws = request.app.state.ui.workspace(request.path_params["ws"])
    suffix = "." + request.path_params["format"]
    if suffix not in (".csv", ".xlsx"):
        raise HTTPException(404, "Download the corrected sheet as .csv or .xlsx.")
    with ws.lock:
        path = ws.corrected(suffix)
    return FileResponse(path, filename=path.name)


async def download(request: Request) -> Response:
    path = request.app.state.ui.downloads.get(request.path_params["key"])
    if path is None or not path.is_file():
        raise HTTPException(404, "This file is not here any more.")
    return FileResponse(path, filename=path.name)


def idle(request: Request, ws: Workspace) -> None:
    """Refuse to change a file while a run reads it (its journal must keep matching it)."""
    run = going(request, ws)
    if run is not None:
        raise InputError(f"A run of this file is going ({run.what}); wait for it to finish before changing the file.")


def going(request: Request, ws: Workspace):
    """The run of this file going now (in this tab or another), if any."""
    return request.app.state.ui.jobs.running_for(ws.id)


# -- errors -------------------------------------------------------------------------------


async def bulkmail_error(request: Request, exc: BulkmailError) -> Response:
    """A problem a person can fix: said on the page (never a traceback), with a way back."""
    status = 400 if isinstance(exc, InputError) else 502
    if isinstance(exc, AuthError):
        status = 400  # the service refused the login: the page itself is fine
    return render(request, "problem.html", status=status, message=str(exc),
                  back=request.headers.get("referer") or "/")


async def http_error(request: Request, exc: HTTPException) -> Response:
    return refusal(exc.status_code, {403: "Refused", 404: "Not found", 413: "File too large"}.get(
        exc.status_code, "Error"), str(exc.detail))


async def internal_error(request: Request, exc: Exception) -> Response:
    return refusal(500, "Internal error", f"{type(exc).__name__}: {exc}. The page goes on; report this.")


def routes() -> list:
    """The first steps' routes: account, file, columns, rows, downloads."""
    return [
        Route("/", home), Route("/account", log_in, methods=["POST"]),
        Route("/import", upload_page), Route("/sync", upload_page), Route("/upload", upload, methods=["POST"]),
        Route("/w/{ws}/columns", columns), Route("/w/{ws}/sheet", choose_sheet, methods=["POST"]),
        Route("/w/{ws}/columns", map_columns, methods=["POST"]), Route("/w/{ws}/rows", rows),
        Route("/w/{ws}/cell", edit_cell, methods=["POST"]),
        Route("/w/{ws}/corrected.{format}", corrected), Route("/download/{key}/{name}", download),
    ]


ERRORS = {BulkmailError: bulkmail_error, HTTPException: http_error, Exception: internal_error}
