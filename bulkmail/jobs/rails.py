"""Safety rails: what stops a run before anything is sent, because a wrong column, sheet or
truncated roster must not empty a tenant.

Import and apply: ``--max-remove N``, and a plan removing over MASS_SHARE of the account (and
more than MASS_MIN mailboxes) needs ``--allow-mass-remove``. Sync: ``--max-remove N|N%`` of its
scope, by default SHARE of the scope (and more than AT_LEAST)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..api.walk import count
from ..errors import InputError, Refused

if TYPE_CHECKING:
    from ..api.client import Client
    from .planning import Plan

MASS_SHARE, MASS_MIN = 0.2, 20
SHARE, AT_LEAST = 0.10, 20


def check_rails(client: Client, plan: Plan, max_remove: int | None, allow_mass_remove: bool) -> None:
    """Refuse (before anything is sent) a plan that removes more than the user allowed."""
    removals = len(plan.to_remove)
    if max_remove is not None and removals > max_remove:
        raise Refused(f"The plan removes {removals} mailboxes, more than --max-remove {max_remove}. Nothing was sent. "
                      "Check the file, or raise --max-remove.")
    if removals > MASS_MIN and not allow_mass_remove:
        # The plan's walk counted the account; else the service says, or a walk counts it.
        total = plan.account_size if plan.account_size is not None else count(client)
        if total is None:
            raise Refused(f"The plan removes {removals} mailboxes, and the service does not tell how many the account "
                          "has, so bulkmail cannot rule out a mass removal. Nothing was sent. If that is really "
                          "intended, add --allow-mass-remove.")
        if removals > MASS_SHARE * total:
            raise Refused(f"The plan removes {removals} of the account's {total} mailboxes ({removals / max(total, 1):.0%}). "
                          "Nothing was sent. If that is really intended, add --allow-mass-remove.")


def limit(max_remove: str | None, scope_size: int) -> tuple[int, str]:
    """How many removals the rail allows, and how to say it."""
    if max_remove is None:
        return max(AT_LEAST, int(SHARE * scope_size)), (f"10% of the {scope_size} mailboxes in the scope (and more "
                                                       f"than {AT_LEAST})")
    text = max_remove.strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1]) / 100
            if 0 <= share <= 1:
                return int(share * scope_size), f"--max-remove {text} of the {scope_size} mailboxes in the scope"
        elif int(text) >= 0:
            return int(text), f"--max-remove {text}"
    except ValueError:
        pass
    raise InputError(f"--max-remove takes a number of mailboxes (0 or more) or a share of the scope from 0% to 100%, "
                     f"e.g. 50 or 10%; got {max_remove!r}.")
