"""Plan files: a dry run's changes, written for someone to approve, then applied exactly.

A plan names the service, the account, the input (path and SHA-256), every planned change
with the live facts it rests on (for a remove: the ids, the flag and the name; for an add:
that the address was absent), the counts, and a digest of all that. `apply` refuses a plan
that was edited (digest), is for another account, has an unknown format version, or no
longer matches the service (stale) — before anything is sent."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path


from ..addresses import address_key
from ..api.client import Client
from ..errors import InputError
from .live import read_live
from ..files.sheet import Sheet
from ..records import PLANNED, WOULD_ADD, WOULD_REMOVE, Row

FORMAT, VERSION = "bulkmail-plan", 1
SHOW_STALE = 5  # stale changes listed in the refusal


def digest(content: dict) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    # A lone surrogate from the service ("Ren\ud83dee") has no UTF-8: hashed and written as its JSON
    # escape, which reads back as the same text.
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "backslashreplace")).hexdigest()


def build_plan(client: Client, rows: list[Row], counts: dict, source: dict) -> dict:
    """The plan of a dry run's rows (would_add / would_remove), with the live facts of each."""
    from .. import __version__

    changes = []
    for row in rows:
        if row.status == WOULD_ADD:
            changes.append({"row": row.row, "action": "add", "email_address": row.email_address,
                            "executive": row.executive, "realname": row.realname, "live": {"absent": True}})
        elif row.status == WOULD_REMOVE:
            mailbox = row.mailbox or {}
            changes.append({"row": row.row, "action": "remove", "email_address": row.email_address,
                            "live": {k: mailbox.get(k) for k in ("id", "email_address_id", "executive", "realname")}})
    content = {"format": FORMAT, "version": VERSION, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "tool_version": __version__, "service": client.base_url, "account": client.account_id,
               "profile": client.profile, "input": source, "changes": changes,
               "counts": {str(k): v for k, v in counts.items()}}
    return {**content, "digest": digest(content)}


def write_plan(path: str | os.PathLike, plan: dict) -> Path:
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(plan, indent=2, ensure_ascii=False) + "\n", encoding="utf-8",
                         errors="backslashreplace")
    os.replace(temporary, path)
    return path


def load_plan(path: str | os.PathLike) -> dict:
    """A plan as written; an edited, foreign-format or unknown-version file is refused."""
    path = Path(path)
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"File not found: {path}. Check the path.") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path.name} is not a bulkmail plan ({exc}). Make one with: bulkmail import FILE --dry-run "
                         "--plan-out PLAN.json") from None
    if not isinstance(plan, dict) or plan.get("format") != FORMAT:
        raise InputError(f"{path.name} is not a bulkmail plan. Make one with: bulkmail import FILE --dry-run "
                         "--plan-out PLAN.json")
    if plan.get("version") != VERSION:
        raise InputError(f"{path.name} has plan format version {plan.get('version')!r}; this bulkmail reads version "
                         f"{VERSION}. Make a new plan with this version.")
    content = {k: v for k, v in plan.items() if k != "digest"}
    if plan.get("digest") != digest(content):
        raise InputError(f"{path.name} was changed after it was written (its digest does not match), so it is not "
                         "the plan that was approved. Nothing was sent. Make a new plan.")
    return plan


def check_target(facts: dict, client: Client, name: str, made: str = "was made for",
                 remedy: str = ", or make a new plan") -> None:
    """Refuse a plan (or a run to undo: ``facts`` with "account" and "service") of another
    account, or of the same account id on another service (staging and production share ids)."""
    if facts["account"] != client.account_id:
        raise InputError(f"{name} {made} account {facts['account']} ({facts['service']}); this login is for "
                         f"account {client.account_id} ({client.base_url}). Nothing was sent. Use that account's "
                         f"profile{remedy}.")
    if str(facts["service"]).rstrip("/").lower() != client.base_url.lower():  # a host's case is no other service
        raise InputError(f"{name} {made} the service at {facts['service']} (account {facts['account']}); this "
                         f"login is for the service at {client.base_url} (the same account id). Nothing was sent. "
                         f"Use --base-url {facts['service']} (or that service's profile){remedy}.")


def stale_changes(plan: dict, client: Client, concurrency: int | None = None) -> list[str]:
    """The planned changes the service no longer matches, each said in a line."""
    live = read_live(client, [c["email_address"] for c in plan["changes"]], concurrency, survey=False).mailboxes
    stale = []
    for change in plan["changes"]:
        now = live.get(address_key(change["email_address"]))
        where = describe(change)
        if change["action"] == "add" and now:
            stale.append(f"{where}: the mailbox exists now (id {now.get('id')})")
        elif change["action"] == "remove" and not now:
            stale.append(f"{where}: the mailbox is gone")
        elif change["action"] == "remove" and (now.get("id"), now.get("email_address_id")) != (
                change["live"].get("id"), change["live"].get("email_address_id")):
            stale.append(f"{where}: the mailbox has another id now ({now.get('id')}, was {change['live'].get('id')})")
    return stale


def describe(change: dict) -> str:
    """A change as the user knows it: its row of the input, or, for a live mailbox that a sync
    removes (it has no roster row, only an internal number), its address."""
    if change["row"] is None or int(change["row"]) < 1:
        return f"{change['action']} {change['email_address']}, a live mailbox not on the roster"
    return f"row {change['row']} {change['action']} {change['email_address']}"


def applied_before(plan: dict, path: Path, account: str) -> dict | None:
    """The last apply of this plan that changed something: from the audit log (run_id, time,
    report), else from the plan's journal (time and report only)."""
    from ..audit import AuditLog, runs
    from .journal import Journal, file_hash

    sha256 = file_hash(path)
    found = [run for run in runs(AuditLog().records()).values()
             if run.get("command") == "apply" and run.get("event") == "end" and run.get("account") == account
             and (run.get("plan_digest") == plan["digest"] or (run.get("input") or {}).get("sha256") == sha256)
             and any((run.get("counts") or {}).get(s) for s in ("added", "removed"))]
    if found:
        return max(found, key=lambda run: run.get("time", ""))
    with Journal(path, account) as journal:
        done = journal.finished()
        if done and journal.any_sent():
            return {"run_id": None, "time": done[0], "report": done[1]}
    return None


def refuse_stale(stale: list[str], path: Path, plan: dict, account: str) -> None:
    """Refuse a plan the service no longer matches: "already applied" when an earlier apply of
    this plan is why, else "stale plan" with the first few changes."""
    if not stale:
        return
    applied = applied_before(plan, path, account)
    if applied is not None:
        by = f" by run {applied['run_id']}" if applied.get("run_id") else ""
        raise InputError(f"{path.name} was already applied{by} on {applied.get('time')} (report: "
                         f"{applied.get('report')}). Nothing was sent. For further changes, make a new plan.")
    listed = "; ".join(stale[:SHOW_STALE]) + (f"; and {len(stale) - SHOW_STALE} more" if len(stale) > SHOW_STALE
                                               else "")
    raise InputError(f"stale plan: {len(stale)} of the changes in {path.name} no longer match the service; make a new "
                     f"plan. Nothing was sent. ({listed})")


def plan_rows(plan: dict, path: str | os.PathLike) -> tuple[Sheet, list[Row]]:
    """The plan's changes as the import pipeline's sheet and rows (row numbers of the input)."""
    changes = plan["changes"]
    columns = ["action", "email_address", "executive", "realname"]
    cells = [(c["action"], c["email_address"], "" if c.get("executive") is None else str(c["executive"]),
              c.get("realname") or "") for c in changes]
    sheet = Sheet(Path(path), None, columns, [c["row"] for c in changes], cells, dict(zip(columns, columns)))
    rows = [Row(c["row"], c["action"], c["email_address"], executive=c.get("executive"),
                realname=c.get("realname") or "", status=PLANNED, cells=own) for c, own in zip(changes, cells)]
    return sheet, rows
