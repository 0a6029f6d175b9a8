"""What a text cell is to bulkmail's readers and writers: the blanks a reader strips from its
edges, and the mark (a leading apostrophe in CSV, Excel's quote prefix in XLSX) that keeps a
cell inert in Excel and brings it back exactly as written."""

from __future__ import annotations

import codecs
import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Every Unicode space (NBSP included: str.isspace knows it) plus zero-width ones Excel users paste.
BLANKS = "".join(chr(c) for c in range(0x3000 + 1) if chr(c).isspace()) + "\u200b\u200c\u200d\u2060\ufeff"
MARK = "'"
_STARTS = frozenset(FORMULA_START) | frozenset(BLANKS)
_ENDS = frozenset(BLANKS)
_MAYBE = _STARTS | {MARK}
# The first and last characters that may call for the mark: a writer's quick look.
MAYBE_MARKED, ENDS_MARKED = _MAYBE, _ENDS


def needs_mark(text: str) -> bool:
    """Whether a text is written marked: it would start a formula in Excel (``= + - @``, tab, CR),
    or a blank at one of its edges would be stripped by a reader. Leading apostrophes are looked
    through, so a text that itself starts with the mark is marked too: taking off exactly one
    apostrophe then gives back every text (the rule is a bijection). Text of blanks only stays
    unmarked: it reads as an empty cell (the service shows a missing name as " ")."""
    if not (text[:1] in _MAYBE or text[-1:] in _ENDS):  # the usual cell: one look at each end
        return False
    return (text.lstrip(MARK)[:1] in _STARTS or text[-1:] in _ENDS) and bool(text.strip(BLANKS))


def unmark(cell: str) -> str | None:
    """The text a marked CSV cell stands for, or None when the cell is not marked (and is then
    read like any other, blanks at its edges stripped)."""
    if cell[:1] == MARK and needs_mark(cell[1:]):
        return cell[1:]
    return None


def _replacement(error: UnicodeError) -> tuple[bytes, int]:
    if isinstance(error, UnicodeEncodeError):  # bytes: the UTF-8 encoder takes no str but ASCII from a handler
        return "\ufffd".encode(error.encoding, "replace") * (error.end - error.start), error.end
    raise error


# The codec error handler of every file bulkmail writes: text that UTF-8 cannot encode (a lone
# surrogate such as "Ren\ud83dee", which the service can send in JSON) is written as U+FFFD,
# the replacement character, instead of crashing the export, the report or the undo file.
UNENCODABLE = "bulkmail.replace"
SURROGATE = re.compile("[\ud800-\udfff]")  # what it replaces
codecs.register_error(UNENCODABLE, _replacement)
