"""The sandbox's state: mailboxes ordered by id, issued tokens, request counts. Thread-safe."""

from __future__ import annotations

import bisect
import itertools
import random
import secrets
import threading
import time
from collections import Counter

FIRST = ["Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaito",
         "Lena", "Mateo", "Nora", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Ursula", "Víctor",
         "Wen", "Xenia", "Yusuf", "Zoë"]
LAST = ["Adams", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ivanova", "Jensen",
        "Kowalski", "Larsen", "Müller", "Nakamura", "O'Brien", "Petrov", "Quispe", "Rossi", "Schmidt",
        "Tanaka", "Umar", "Vogel", "Weber", "Xu", "Young", "Zimmermann"]


class Store:
    """Mailboxes by id (ids only grow, so the sorted id list is kept by appending)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.mailboxes: dict[int, dict] = {}
        self._ids: list[int] = []
        self._by_address: dict[str, int] = {}
        self._next_id = itertools.count(12182348)
        self._next_address_id = itertools.count(12503482)
        self.tokens: dict[str, float] = {}
        self.owners: dict[str, str] = {}  # token -> the user it was issued to
        self.issued: list[str] = []  # every token ever issued (tests look for leaks)
        self.requests: Counter = Counter()  # (method, path) -> count, for tests and benchmarks

    def issue_token(self, lifetime: float, owner: str = "") -> str:
        token = secrets.token_hex(32)
        with self.lock:
            self.tokens[token] = time.monotonic() + lifetime
            self.owners[token] = owner
            self.issued.append(token)
        return token

    def revoke(self, token: str) -> None:
        with self.lock:
            self.tokens.pop(token, None)
            self.owners.pop(token, None)

    def revoke_tokens_of(self, owner: str) -> None:
        """End every session of this user (a service allowing one session per user)."""
        with self.lock:
            for token in [t for t, who in self.owners.items() if who == owner]:
                self.revoke(token)

    def token_valid(self, token: str) -> bool:
        with self.lock:
            expiry = self.tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def expire_tokens(self) -> None:
        """Make every issued token run out now (tests of re-login)."""
        with self.lock:
            self.tokens.clear()

    def find(self, address: str) -> dict | None:
        with self.lock:
            mailbox_id = self._by_address.get(address.lower())
            return dict(self.mailboxes[mailbox_id]) if mailbox_id is not None else None

    def add(self, address: str, executive: int = 0, realname: str = " ", is_ad_mailbox: int = 0) -> dict:
        with self.lock:
            mailbox = {
                "id": next(self._next_id),
                "email_address_id": next(self._next_address_id),
                "email_address": address,
                "executive": executive,
                "realname": realname,
                "is_ad_mailbox": is_ad_mailbox,
            }
            self.mailboxes[mailbox["id"]] = mailbox
            self._ids.append(mailbox["id"])
            self._by_address[address.lower()] = mailbox["id"]
            return dict(mailbox)

    def remove(self, mailbox_id: int) -> None:
        with self.lock:
            mailbox = self.mailboxes.pop(mailbox_id)
            del self._ids[bisect.bisect_left(self._ids, mailbox_id)]
            del self._by_address[mailbox["email_address"].lower()]

    def page(self, number: int, size: int, search: str | None) -> tuple[list[dict], int]:
        """One page (1-based) ordered by id, and the total matched."""
        with self.lock:
            if search:
                needle = search.lower()
                ids = [i for i in self._ids if needle in self.mailboxes[i]["email_address"].lower()
                       or needle in self.mailboxes[i]["realname"].lower()]
            else:
                ids = self._ids
            start = (number - 1) * size
            return [dict(self.mailboxes[i]) for i in ids[start:start + size]], len(ids)

    def addresses(self) -> set[str]:
        """Every address, lower-cased: what tests compare with the expected state."""
        with self.lock:
            return set(self._by_address)

    def seed(self, count: int, domains: tuple[str, ...], rng: random.Random | None = None) -> None:
        """Add ``count`` realistic mailboxes spread over ``domains``."""
        rng = rng or random.Random(7)
        with self.lock:
            for n in range(count):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                local = f"{first}.{last}".lower().replace("'", "")
                local = local.translate(str.maketrans("éëíóúü", "eeiouu"))
                address = f"{local}{n}@{domains[n % len(domains)]}"
                realname = f"{first} {last}" if rng.random() < 0.8 else " "
                self.add(address, executive=int(rng.random() < 0.05), realname=realname,
                         is_ad_mailbox=int(rng.random() < 0.6))
