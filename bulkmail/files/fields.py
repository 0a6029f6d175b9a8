"""The mailbox vocabulary of input files: which headers name which field (case, spaces and
brackets ignored), shared by reading (to find the header row) and validation."""

from __future__ import annotations

import re

from ..errors import InputError

# Canonical field -> header aliases, compared after normalise_header(); earlier aliases win.
ALIASES = {
    "action": ["action", "operation", "op", "addremove", "change"],
    "email_address": ["emailaddress", "email", "mail", "emailaddr", "mailaddress", "smtpaddress",
                      "primarysmtpaddress", "windowsemailaddress", "userprincipalname", "upn"],
    "executive": ["executive", "exec", "isexecutive", "vip"],
    "realname": ["realname", "name", "displayname", "fullname"],
}


# The columns a results report starts with: a report read back as input is known by them, and
# they are regenerated rather than carried along as the input's own.
REPORT_COLUMNS = ["row", "action", "email_address", "status", "detail"]
REPORT_MORE_COLUMNS = ["mailbox_id", "email_address_id", "batch", "http_status", "attempts"]


def normalise_header(name: str) -> str:
    """'Email Address [Required]' -> 'emailaddress'; 'E-mail' -> 'email'."""
    name = re.sub(r"\[.*?\]|\(.*?\)", "", str(name))
    return re.sub(r"[^0-9a-z]", "", name.lower())


def resolve_fields(headers: list[str], mapping: dict[str, str], where: str) -> dict[str, str]:
    """Map canonical fields to the input's headers, by --map first, then by alias."""
    by_norm: dict[str, str] = {}
    for header in headers:
        by_norm.setdefault(normalise_header(header), header)
    fields: dict[str, str] = {}
    for name, header in mapping.items():
        if name not in ALIASES:
            raise InputError(f"--map {name}=… names no field; use one of: {', '.join(ALIASES)}.")
        if normalise_header(header) not in by_norm:
            raise InputError(f"--map {name}=\"{header}\": no such column in {where} (headers: {', '.join(headers)}).")
        fields[name] = by_norm[normalise_header(header)]
    for name, aliases in ALIASES.items():
        if name not in fields:
            found = next((by_norm[a] for a in aliases if a in by_norm), None)
            if found is not None:
                fields[name] = found
    if "email_address" not in fields:
        raise InputError(f"Column for email address not found in {where} (headers: {', '.join(headers)}). "
                         "Rename it to email_address or pass --map email_address=\"<header>\".")
    return fields
