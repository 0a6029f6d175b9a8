"""The key of an address: what makes two spellings one mailbox. Every comparison of addresses
(repeats in a file, the plan against live, diff, sync, --domain) goes through here, so that
`user@exämple.com` and `USER@XN--EXMPLE-CUA.COM` are one address everywhere, and so are
`jürgen@` typed with a ü and with a u and a combining diaeresis (macOS writes the second, NFD).
Reports keep what the user typed; only the comparisons use the key."""

from __future__ import annotations

import functools
import unicodedata

import idna

from .files.cells import SURROGATE


@functools.lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str:
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        # Not a valid name (validation says so elsewhere): compare it as written, lower-cased.
        return domain.lower()


def domain_key(domain: str) -> str:
    """A domain in its lower-cased ASCII (IDNA) form: exämple.com -> xn--exmple-cua.com."""
    return domain.lower() if domain.isascii() else _ascii_domain(domain)


def address_key(address: str) -> str:
    """The lower-cased local part in Unicode's composed form (NFC) and the IDNA-ASCII domain:
    the one key of an address."""
    if address.isascii():  # the usual case, a million times a run: no split, no new string if already lower
        return address if address.islower() else address.lower()
    local, at, domain = unicodedata.normalize("NFC", address).rpartition("@")
    return f"{local.lower()}{at}{domain_key(domain)}" if at else address.lower()


def search_texts(key: str) -> set[str]:
    """What to ask the server's substring search for to find this address in any spelling: the
    service may hold an international domain as Unicode or as xn--, so for one of those ask for
    the local part (and '@'); and it may hold a local part composed (NFC) or decomposed (NFD),
    so ask for both. The exact match is made on the keys afterwards."""
    local, _, domain = key.rpartition("@")
    text = f"{local}@" if "xn--" in domain else key
    return {text, unicodedata.normalize("NFD", text)}


def same_name(name: str) -> str:
    """A display name as compared (repeats in a file, the file against live, diff): its edges'
    spaces off, composed (NFC) like an address's key, so that a Mac's NFD name is the same name;
    a lone surrogate as U+FFFD, as every file bulkmail writes holds it."""
    name = name.strip()
    return name if name.isascii() else SURROGATE.sub("\ufffd", unicodedata.normalize("NFC", name))
