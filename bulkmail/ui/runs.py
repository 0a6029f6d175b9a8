"""The steps that talk to the service: plan (a dry run), apply, the run's progress and Cancel,
results and downloads, and the pages beside the flow: Export, History (undo, resume)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import BulkmailError, InputError, Refused
from ..files.paths import REPORTS, default_output, timestamp, unused_path
from ..files.report import problems, write_report
from ..jobs.change import load, run_change
from ..jobs.facts import input_facts, run_outcome
from ..jobs.journal import Journal, file_hash
from ..jobs.options import Hooks, ImportOptions
from ..records import ADDED, ALREADY_PRESENT, FAILED, NOT_ATTEMPTED, REMOVED, STATUSES, WOULD_ADD, WOULD_REMOVE
from .app import Ui, open_workspace, render, to
from .jobs import Audited, Job, connect
from .security import posted
from .workspace import ui_dir

COMMANDS = {"import": "import", "resume": "import", "sync": "sync", "undo": "undo"}
SHOW = 200  # rows to look at listed on a page; the report has them all


def _ui(request: Request) -> Ui:
    return request.app.state.ui


def _account(ui: Ui):
    if ui.account is None:
        raise InputError("Log in first: choose the account on the first page.")
    return ui.account


def tally(result) -> list[tuple[str, int]]:
    counts = result.counts
    return [(str(s), counts[s]) for s in STATUSES if counts[s]]


def _change(ws, client, working: Path, options: ImportOptions, hooks: Hooks, report: Path, facts: dict):
    """One run of the change pipeline for this kind of file (as its command would run it)."""
    if ws.kind == "undo":
        from ..jobs.revert import find_run, undo_run
        ws.target = find_run(ws.target.run_id)  # its rows afresh: a dry run left its own statuses on them
        return undo_run(client, ws.target, options, hooks, report=report)
    if ws.kind == "sync":
        from ..files.reading import read_table
        from ..jobs.sync import sync
        table = read_table(working, None, None, hidden_rows=True)  # a roster's hidden rows count
        return sync(client, table, ws.sync, options, hooks, report=report, source=working, facts=facts)
    table, rows = load(working, ws.reading())
    return run_change(client, table, rows, options, hooks, report=report, source=working, facts=facts)


def start_run(ui: Ui, ws, dry_run: bool, options: ImportOptions, confirmed: dict | None = None) -> str:
    """A plan or a real run of a workspace in a thread; the page of its progress. ``confirmed``
    (a real run): the plan the user confirmed — the rows' file as it was planned, and its changes."""
    account = _account(ui)
    kind = "plan" if dry_run else "apply"
    what = f"{'Plan' if dry_run else 'Run'} of {ws.name}" + (f" ({ws.kind})" if ws.kind != "import" else "")
    job = Job(kind, what, key=ws.id)

    def work(job: Job):
        with ws.lock:
            working, count = ws.working_file(), len(ws.rows)
        source = input_facts(working, count)  # the working copy is hashed once per run
        if confirmed and source["sha256"] != confirmed["sha256"]:
            raise Refused("The rows changed since the plan you confirmed (a cell edited, a row deleted). Nothing was "
                          "sent. Make the plan again: it shows what the rows now ask.")
        confirm = _as_confirmed(confirmed)
        client = connect(account.settings, job.cancel)
        try:
            report = default_output(Path(ws.name), "plan" if dry_run else "results")
            facts = {"input": source, "dry_run": dry_run, "resume": options.resume}
            if ws.kind == "undo":
                facts["undoes"] = ws.target.run_id
            audit = Audited(COMMANDS[ws.kind], client, **facts)
            job.run_id = audit.run.run_id
            hooks = Hooks(watch=job.watch, confirm=None if dry_run else confirm, audit=None if dry_run else audit.run)
            try:
                result = _change(ws, client, working, options, hooks, report, source)
            except Exception as err:  # the run's end is logged whatever stopped it
                audit.end(exit_status=int(getattr(err, "exit_status", 1)), error=str(err))
                raise
            audit.end(**run_outcome(result))
            if dry_run:
                ws.plan = {"result": result, "report": result.report, "plan": _plan_file(client, result, working),
                           "when": timestamp(), "sha256": source["sha256"],
                           "changes": {(r.key, r.action) for r in result.rows
                                       if r.status in (WOULD_ADD, WOULD_REMOVE)}}
            else:
                ws.outcome = {"result": result, "run_id": audit.run.run_id, **_more_files(result),
                              "working": working}
            return result
        finally:
            client.close()

    job.next_url = f"/w/{ws.id}/{'plan' if dry_run else 'results'}"
    return ui.jobs.start(job, work)


def _as_confirmed(confirmed: dict | None):
    """The real run's question: planned again, a change the user did not confirm is refused."""

    def confirm(plan) -> bool:
        new = sorted(f"{r.action} {r.email_address}" for r in plan.to_add + plan.to_remove
                     if confirmed and (r.key, r.action) not in confirmed["changes"])
        if new:
            raise Refused(f"The service changed since the plan you confirmed: the run would now also "
                          f"{', '.join(new[:3])}{' …' if len(new) > 3 else ''}. Nothing was sent. Make the plan "
                          "again.")
        return True

    return confirm


def _plan_file(client, result, working: Path) -> Path | None:
    """The plan for `bulkmail apply` (as --plan-out writes it), beside the dry run's report."""
    if result.stopped is not None or result.report is None:
        return None
    from ..jobs.planfile import build_plan, write_plan

    source = {"path": str(working.resolve()), "sha256": file_hash(working)}
    return write_plan(unused_path(result.report.with_suffix(".json")),
                      build_plan(client, result.rows, result.counts, source))


def _more_files(result) -> dict:
    """The report in the other format, and the rows that failed or were not sent as a file to
    import again (a report is an import file)."""
    files: dict = {}
    if result.report is None:
        return files
    other = ".csv" if result.report.suffix == ".xlsx" else ".xlsx"
    try:
        files["other"] = write_report(unused_path(result.report.with_suffix(other)), result.sheet, result.rows,
                                      result.summary)
        again = [r for r in result.rows if r.status in (FAILED, NOT_ATTEMPTED)]
        if again:
            numbers = {r.row for r in again}
            sheet = result.sheet.rows(lambda number, _: number in numbers)
            files["again"] = write_report(unused_path(result.report.with_name(f"{result.report.stem}-failed.csv")),
                                          sheet, again, result.summary)
    except OSError as exc:  # the report itself is written; these are extras
        result.warnings.append(f"Could not write the extra downloads ({exc.strerror or exc}).")
    return files


def to_look_at(ws, result) -> list:
    """The rows a person should look at; on a roster, already_present is the normal case (as in the CLI)."""
    return [r for r in problems(result.rows) if not (ws.kind == "sync" and r.status == ALREADY_PRESENT)]


def journal_state(path: Path, account_id: str) -> tuple[str, str] | None:
    """('busy', why) when another process runs this file now; ('unfinished', started) when an
    interrupted run waits for a resume; None otherwise."""
    try:
        with Journal(path, account_id) as journal:
            found = journal.unfinished()
    except InputError as err:
        return "busy", str(err)
    return ("unfinished", found[0]) if found else None


# -- routes -------------------------------------------------------------------------------


async def plan(request: Request) -> Response:
    ui = _ui(request)
    form = await posted(request)
    ws = ui.workspace(request.path_params["ws"])
    account = _account(ui)
    if not ws.ready:
        raise InputError("Choose the columns first: which one holds the addresses, and the action.")
    if ws.kind == "sync":
        from ..jobs.rails import limit
        from ..jobs.sync import SyncOptions

        mode = str(form.get("mode") or "")
        ws.sync = SyncOptions(scope=tuple(str(form.get("scope") or "").replace(",", " ").split()),
                              keep=tuple(line.strip() for line in str(form.get("keep") or "").splitlines()
                                         if line.strip()),
                              add_only=mode == "add-only", remove_only=mode == "remove-only",
                              max_remove=str(form.get("max_remove") or "").strip() or None)
        limit(ws.sync.max_remove, 0)  # a --max-remove that cannot be used is said now
    options = ImportOptions(dry_run=True, max_remove=account.settings.max_remove)
    return to(f"/jobs/{start_run(ui, ws, True, options)}")


async def plan_page(request: Request) -> Response:
    ui = _ui(request)
    ws = ui.workspace(request.path_params["ws"])
    if ws.plan is None:
        return to(f"/w/{ws.id}/rows")
    result = ws.plan["result"]
    look = to_look_at(ws, result)
    state = journal_state(ws.working_file(), ui.account.account_id) if ui.account else None
    changes = (result.counts[WOULD_ADD], result.counts[WOULD_REMOVE])
    return render(request, "plan.html", ws=ws, result=result, tally=tally(result), look=look[:SHOW],
                  more=max(0, len(look) - SHOW), report=ui.offer(ws.plan["report"]),
                  plan_file=ui.offer(ws.plan["plan"]), changes=changes, journal=state,
                  going=ui.jobs.running_for(ws.id))


async def apply(request: Request) -> Response:
    ui = _ui(request)
    form = await posted(request)
    ws = ui.workspace(request.path_params["ws"])
    account = _account(ui)
    mode = str(form.get("mode") or "")
    if not form.get("confirm") and mode != "resume":
        raise InputError("Tick the box that confirms the account and the counts; nothing was sent.")
    result = ws.plan["result"] if ws.plan else None
    if mode != "resume" and (result is None or result.stopped is not None):
        raise InputError("Make the plan first (a dry run against the service); nothing was sent.")
    if result is not None and result.refused is not None and not form.get("acknowledge") and mode != "resume":
        raise InputError(f"The safety rail refused this plan: {result.refused} Tick the box that acknowledges it to "
                         "go on anyway; nothing was sent.")
    acknowledged = bool(form.get("acknowledge"))
    if ws.kind == "sync" and acknowledged:
        ws.sync = dataclasses.replace(ws.sync, allow_mass_remove=True)
    options = ImportOptions(max_remove=None if acknowledged else account.settings.max_remove,
                            allow_mass_remove=acknowledged, resume=mode == "resume", fresh=mode == "fresh")
    confirmed = ({"sha256": ws.plan["sha256"], "changes": ws.plan["changes"]}
                 if result is not None and mode != "resume" else None)
    return to(f"/jobs/{start_run(ui, ws, False, options, confirmed)}")


async def results(request: Request) -> Response:
    ui = _ui(request)
    ws = ui.workspace(request.path_params["ws"])
    if ws.outcome is None:
        return to(f"/w/{ws.id}/rows")
    result, outcome = ws.outcome["result"], ws.outcome
    look = to_look_at(ws, result)
    state = journal_state(outcome["working"], ui.account.account_id) if ui.account else None
    command = f'bulkmail import "{outcome["working"]}" --resume' + (
        f" --action {ws.action}" if ws.action and "action" not in ws.fields else "")
    if ws.kind == "sync":
        command = f'bulkmail sync "{outcome["working"]}" --resume'
    elif ws.kind == "undo":
        command = f"bulkmail undo {ws.target.run_id} --resume"
    return render(request, "results.html", ws=ws, result=result, tally=tally(result), look=look[:SHOW],
                  more=max(0, len(look) - SHOW), report=ui.offer(result.report), other=ui.offer(outcome.get("other")),
                  undo=ui.offer(result.undo), again=ui.offer(outcome.get("again")), journal=state, command=command,
                  run_id=outcome["run_id"], changed=bool(result.counts[ADDED] or result.counts[REMOVED]),
                  going=ui.jobs.running_for(ws.id))


async def job_page(request: Request) -> Response:
    job = _job(request)
    if not job.running and job.next_url and job.error is None:
        return to(job.next_url)
    return render(request, "job.html", job=job, job_id=request.path_params["job"],
                  links=[(label, _ui(request).offer(path)) for label, path in job.links])


async def job_progress(request: Request) -> Response:
    job = _job(request)
    return JSONResponse({**job.state(), "next": job.next_url if job.error is None else None})


async def job_cancel(request: Request) -> Response:
    from ..errors import Interrupted

    await posted(request)
    job = _job(request)
    job.cancel.set(Interrupted("Cancelled from the page"))
    return to(f"/jobs/{request.path_params['job']}")


def _job(request: Request) -> Job:
    job = _ui(request).jobs.get(request.path_params["job"])
    if job is None:
        raise HTTPException(404, "No such run here (the page was restarted?). History lists every run.")
    return job


# -- export -------------------------------------------------------------------------------


async def export_page(request: Request) -> Response:
    return render(request, "export.html")


async def export(request: Request) -> Response:
    from ..jobs.export import ExportOptions, export_mailboxes

    ui = _ui(request)
    form = await posted(request)
    account = _account(ui)
    suffix = ".xlsx" if form.get("format") == "xlsx" else ".csv"
    search = str(form.get("search") or "").strip() or None
    path = unused_path(REPORTS / f"mailboxes-{timestamp()}{suffix}")
    job = Job("export", f"Export of {'mailboxes matching ' + repr(search) if search else 'every mailbox'}")

    def work(job: Job):
        client = connect(account.settings, job.cancel)
        try:
            audit = Audited("export", client, output=str(path))
            try:
                result = export_mailboxes(client, path, ExportOptions(search=search), job.watch)
            except BulkmailError as err:
                audit.end(exit_status=int(err.exit_status), error=str(err))
                raise
            status = 1 if result.uncertain else 0
            audit.end(exit_status=status, mailboxes=result.rows, pages=result.pages)
            job.lines = [f"Exported {result.rows} mailboxes ({result.pages} pages) to {result.path}."]
            if result.uncertain:
                job.lines.append("Others kept changing the list during the export; bulkmail could not be sure it read "
                                 f"every mailbox {'; '.join(result.uncertain)}. Export again when it is quieter.")
            job.links = [(result.path.name, result.path)]
            return result
        finally:
            client.close()

    return to(f"/jobs/{ui.jobs.start(job, work)}")


def _undo_plan(ui: Ui, run_id: str) -> str:
    from ..jobs.revert import find_run

    target = find_run(run_id)
    ws = open_workspace(ui, f"undo-{target.run_id}", "undo", ui_dir(), target.undo, target.undo.name)
    ws.target = target
    return start_run(ui, ws, True, ImportOptions(dry_run=True, max_remove=ui.account.settings.max_remove))


async def undo_preview(request: Request) -> Response:
    """The Results page's button: the undo of the run just made, as a plan to look at."""
    await posted(request)
    ui = _ui(request)
    ws = ui.workspace(request.path_params["ws"])
    _account(ui)
    if ws.outcome is None:
        raise InputError("This file has no finished run to undo yet.")
    return to(f"/jobs/{_undo_plan(ui, ws.outcome['run_id'])}")


def routes() -> list[Route]:
    return [Route("/w/{ws}/plan", plan, methods=["POST"]), Route("/w/{ws}/plan", plan_page),
            Route("/w/{ws}/apply", apply, methods=["POST"]), Route("/w/{ws}/results", results),
            Route("/w/{ws}/undo", undo_preview, methods=["POST"]),
            Route("/jobs/{job}", job_page), Route("/jobs/{job}/progress", job_progress),
            Route("/jobs/{job}/cancel", job_cancel, methods=["POST"]),
            Route("/export", export_page), Route("/export", export, methods=["POST"])]
