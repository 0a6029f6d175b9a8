"""Small helpers for the sentences bulkmail prints."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 mailbox', '2 mailboxes', '1 page', '0 rows'."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {many or (word + 'es' if word.endswith(('s', 'x', 'sh', 'ch')) else word + 's')}"


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control and format characters (a backspace, an
    ESC that starts a colour, a right-to-left override) as Python escapes (\\x08), so that a
    cell cannot move the cursor, recolour the screen or reorder what is shown."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
