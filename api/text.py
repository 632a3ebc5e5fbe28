"""What free text may hold: visible characters only, and never a BSN, however it is spelled.

Control characters (NUL, ESC, CR/LF, C1), format characters (U+202E right-to-left override,
zero-width spaces, the byte order mark), line and paragraph separators, private-use code points
and surrogates break CSV, logs and PostgreSQL text, or make a stored value read differently from
what it is. A BSN is refused wherever a client could put one: the service records a pseudonym of
the municipality's own client number, never the citizen service number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from services.journeys import looks_like_bsn

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})
# Digits grouped by single spaces, dots or hyphens (111 222 333, 1112.22.333); a run of nine is
# checked. Eight-digit runs are not: every date (2024-11-05) is one, and a note is free text.
_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[ .\-]?\d)+(?!\d)")


def invisible(value: str) -> str | None:
    """The first refused character in `value`, or None."""
    if value.isprintable():  # the common case, at C speed: no refused character is printable
        return None
    return next((c for c in value if unicodedata.category(c) in REFUSED_CATEGORIES), None)


def holds_bsn(value: str) -> bool:
    """Somewhere in free text is a run of nine digits that passes the elfproef."""
    return any(
        len(digits := re.sub(r"\D", "", run.group())) == 9 and looks_like_bsn(digits)
        for run in _DIGIT_RUN.finditer(value)
    )


def _checked(value: str, bsn_in: Callable[[str], bool], bsn_message: str) -> str:
    if (char := invisible(value)) is not None:
        msg = f"must not hold control, format or separator characters (found U+{ord(char):04X})"
        raise ValueError(msg)
    if bsn_in(value):
        raise ValueError(bsn_message)
    return value


def plain(value: str) -> str:
    """A one-line value (a reference, a name, an id): visible characters, and not a BSN."""
    return _checked(
        value, looks_like_bsn, "looks like a BSN; send the municipality's own client number, never a BSN"
    )


def note(value: str) -> str:
    """Free text: visible characters, and no BSN anywhere in it."""
    return _checked(value, holds_bsn, "holds what looks like a BSN; leave it out")
