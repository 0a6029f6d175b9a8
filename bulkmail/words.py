"""Small helpers for the sentences bulkmail prints."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 mailbox', '2 mailboxes', '1 page', '0 rows'."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {many or (word + 'es' if word.endswith(('s', 'x', 'sh', 'ch')) else word + 's')}"
