"""Verification: the re-read that turns rows the service accepted into added/removed."""

from __future__ import annotations

from ..api.client import Client
from ..records import SENT, Row
from .live import Live, read_live, recheck


def verify(client: Client, rows: list[Row], concurrency: int | None = None, check: bool = True) -> None:
    """Turn SENT rows into added/removed where re-reading shows the change, else failed.
    A row the re-read does not show is searched for once more before it is called failed (a
    walk can miss a mailbox while others change the list). With ``check`` off (--no-verify),
    trust the service's 2xx."""
    sent = [r for r in rows if r.status == SENT]
    if not check:
        for row in sent:
            row.done(row.detail or "accepted by the service; not verified (--no-verify)")
        return
    live = read_live(client, (r.email_address for r in sent), concurrency, survey=False) if sent else Live()
    # An unsure walk vouches for no absence: search each address it did not see. A sure one
    # still gets a search for each add about to fail, before it is called failed.
    doubtful = sent if not live.complete else [r for r in sent if not r.visible_in(live.mailboxes)]
    if doubtful:
        live.complete = False
        recheck(client, live, (r.email_address for r in doubtful), concurrency)
    for row in sent:
        if row.visible_in(live.mailboxes):
            row.done(row.detail, live.mailboxes.get(row.key))
            row.detail = name_not_kept(row) or row.detail
        else:
            row.fail(f"the service accepted it, but it is {'not there' if row.action == 'add' else 'still there'} "
                     "when re-read")


def name_not_kept(row: Row) -> str:
    """A detail when the service did not store the name the file gave (it may ignore the field)."""
    if row.action != "add" or not row.realname or not row.mailbox:
        return ""
    stored = str(row.mailbox.get("realname") or "").strip()
    if stored == row.realname.strip():  # a name read whole may keep a tab or spaces at its edges
        return ""
    return f"added, but the service did not keep the name {row.realname!r} (it shows {stored!r})"
