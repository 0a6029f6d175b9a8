"""An export across accounts (several profiles): one file with a first column `profile`, or
one file per profile when the name holds {profile}.

The policy: each account is read on its own; one that fails is reported and the others are
exported all the same. Into one file, an account is read to its end before anything is
written (a failure half-way leaves no half account in the file); files per profile stream."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import BulkmailError, ExitStatus, InputError
from ..files.writing import write_table
from ..progress import Watch
from .export import ExportOptions, ExportResult, collect_mailboxes, export_mailboxes

# How a front-end opens one account: a logged-in client for the account's profile (and
# whatever record of the run it keeps, e.g. the audit log, which may read the Account filled
# in when the block ends).
Opener = Callable[["Account"], AbstractContextManager]


@dataclass
class Account:
    """One account's part of the export."""

    profile: str
    account: str | None = None
    mailboxes: int = 0
    pages: int = 0
    output: str | None = None
    error: BulkmailError | None = None


@dataclass
class AccountsExport:
    accounts: list[Account] = field(default_factory=list)
    output: Path | None = None  # the one file, when there is one and it was written
    mailboxes: int = 0  # rows written into that file

    @property
    def failures(self) -> list[Account]:
        return [a for a in self.accounts if a.error is not None]

    @property
    def exit_status(self) -> ExitStatus:
        """0; 1 when an account failed; the failure's own status when every account failed."""
        failed = self.failures
        if not failed:
            return ExitStatus.OK
        return failed[0].error.exit_status if len(failed) == len(self.accounts) else ExitStatus.ROWS_FAILED


def profile_path(path: Path, profile: str | None) -> Path:
    """``path`` with {profile} filled in with the profile's name (which may not leave the folder)."""
    from ..config import profile_name_problem

    if "{profile}" not in str(path):
        return path
    if profile is None:
        raise InputError("-o holds {profile}, but no profile is in use (--profile, BULKMAIL_PROFILE or a default "
                         "profile). Name one, or take {profile} out of the file name.")
    if problem := profile_name_problem(profile):
        raise InputError(problem)
    return Path(str(path).replace("{profile}", profile))


def export_accounts(names: list[str], output: Path, options: ExportOptions, open_account: Opener,
                    watch: Watch | None = None, told: Callable[[Account, ExportResult], None] | None = None
                    ) -> AccountsExport:
    """Export each profile's account (``open_account(account)`` gives its client);
    ``told(account, result)`` hears of each account read."""
    each = "{profile}" in str(output)
    done = AccountsExport()
    columns: list[str] = []
    collected: list[dict] = []
    for name in names:
        account = Account(name, output=str(profile_path(output, name) if each else output))
        try:
            with open_account(account) as client:
                if each:
                    result = export_mailboxes(client, Path(account.output), options, watch)
                else:
                    found, rows, result = collect_mailboxes(client, name, options, watch)
                    columns += [c for c in found if c not in columns]
                    collected += rows
                account.account, account.mailboxes, account.pages = client.account_id, result.rows, result.pages
            if told is not None:
                told(account, result)
        except BulkmailError as err:
            account.error, account.output = err, None
        done.accounts.append(account)
    if not each and len(done.failures) < len(names):
        done.mailboxes = write_table(output, ["profile", *columns], collected)
        done.output = output
    return done
