"""Teams are named by a slug: one spelling per team, so a look-alike can never make a second team.

A name is normalised first (Unicode NFKC, then case folding, then surrounding spaces trimmed), so
`NOORD`, fullwidth `ＮＯＯＲＤ` and `noord ` are all `noord`. What is left must be a slug: 1 to 40 of
the ASCII letters a-z, digits and inner hyphens, starting and ending with a letter or digit. That
refuses every invisible or foreign look-alike NFKC keeps (zero-width joiners, Cyrillic `о`,
combining accents), the municipality's own scope `*`, and anything a spreadsheet would run as a
formula (`=`, `+`, `-`, `@` first). Which slugs are teams is the municipality's registry's call.
"""

from __future__ import annotations

import re
import unicodedata

from domain.errors import InvalidFact

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?", re.ASCII)


class InvalidTeamError(InvalidFact):
    title = "Invalid team"


class UnknownTeamError(InvalidFact):
    title = "Unknown team"


def team_slug(name: str, field: str = "team") -> str:
    """The team's slug for a name in any spelling of it; InvalidTeamError if it has none."""
    slug = unicodedata.normalize("NFKC", name).casefold().strip(" ")
    if not SLUG.fullmatch(slug):
        raise InvalidTeamError(
            "a team is 1 to 40 of a-z, 0-9 and inner hyphens (e.g. noord, team-west)", field
        )
    return slug


def unknown_team(slug: str, field: str = "team") -> UnknownTeamError:
    return UnknownTeamError(f"the municipality has no team {slug}; an administrator registers teams", field)
