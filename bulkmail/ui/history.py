"""History: the runs of the audit log (the page's and the command line's), a search by
address, and from there the undo or the resume of a run."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..audit import AuditLog, find_changes, recent_runs
from ..audit import runs as audit_runs
from ..errors import InputError
from ..jobs.journal import waits_for_resume
from ..jobs.options import ImportOptions
from .app import open_workspace, render, to
from .runs import _account, _ui, _undo_plan, start_run
from .security import posted
from .workspace import ui_dir


async def history(request: Request) -> Response:
    ui = _ui(request)
    log = AuditLog()
    email = request.query_params.get("email", "").strip()
    changes = find_changes(log, email, limit=100) if email else []
    listed = []
    here = {job.run_id: job for job in ui.jobs.all.values() if job.running and job.run_id}
    for run in recent_runs(log, None, 50):
        report = Path(str(run.get("report") or ""))
        source = (run.get("input") or {}).get("path")
        resumable = (run.get("command") in ("import", "sync", "undo", "apply") and not run.get("dry_run")
                     and (run.get("event") != "end" or run.get("exit_status") in (4, 130, 143))
                     and bool(source) and bool(ui.account)  # and its journal still waits (no one finished it)
                     and waits_for_resume(source, ui.account.account_id))
        listed.append({**run, "report_link": ui.offer(report) if run.get("report") and report.is_file() else None,
                       "undoable": run.get("event") == "end" and any((run.get("counts") or {}).get(s)
                                                                        for s in ("added", "removed")),
                       "resumable": resumable and run["run_id"] not in here,
                       "going": here.get(run["run_id"])})
    return render(request, "history.html", runs=listed, email=email, changes=changes, log=log.path)


async def undo_run_page(request: Request) -> Response:
    """Preview the undo of a run (a dry run of its undo file), then apply it through the plan step."""
    await posted(request)
    ui = _ui(request)
    _account(ui)
    return to(f"/jobs/{_undo_plan(ui, request.path_params['run'])}")


async def resume_run(request: Request) -> Response:
    """Finish an interrupted run (of the page or the command line) of an import file."""
    await posted(request)
    ui = _ui(request)
    account = _account(ui)
    run = audit_runs(AuditLog().records()).get(request.path_params["run"])
    if run is None:
        raise InputError("No such run in the audit log.")
    path = Path(str((run.get("input") or {}).get("path") or ""))
    if run.get("command") != "import" or not path.is_file():
        raise InputError(f"Resume run {run.get('run_id')} from the command line: bulkmail {run.get('command')} … "
                         "--resume (the page resumes imports whose file is still there).")
    if run.get("account") != account.account_id or run.get("service") != account.service:
        raise InputError(f"Run {run.get('run_id')} ran on account {run.get('account')} at {run.get('service')}; log in "
                         "to that account first. Nothing was sent.")
    ws = open_workspace(ui, f"resume-{run.get('run_id')}", "resume", ui_dir(), path, path.name)
    return to(f"/jobs/{start_run(ui, ws, False, ImportOptions(resume=True))}")




def routes() -> list[Route]:
    return [Route("/history", history), Route("/history/{run}/undo", undo_run_page, methods=["POST"]),
            Route("/history/{run}/resume", resume_run, methods=["POST"])]
