"""A team has one spelling: look-alikes become that spelling or are refused, never a second team."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidFact
from domain.teams import InvalidTeamError, team_slug

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?", re.ASCII)


@pytest.mark.parametrize(
    "spelling",
    [
        "noord",
        "NOORD",  # upper case
        "Noord",
        "ＮＯＯＲＤ",  # fullwidth capitals
        "ｎｏｏｒｄ",  # fullwidth small letters
        "noord ",  # trailing space
        " noord",
        "noord\u00a0",  # no-break space
        "\u2115oord",  # double-struck capital N
    ],
)
def test_a_spelling_of_a_team_is_that_team(spelling: str) -> None:
    assert team_slug(spelling) == "noord"


@pytest.mark.parametrize(
    "look_alike",
    [
        "no\u200dord",  # zero-width joiner
        "no\u200bord",  # zero-width space
        "noord\ufeff",  # zero-width no-break space (byte order mark)
        "n\u043eord",  # Cyrillic small o
        "\u041d\u041e\u041e\u0420\u0414",  # Cyrillic capitals
        "noo\u0301rd",  # a combining accent
        "noord\u0000",  # NUL
        "noord\n",  # a control character inside is not trimmed away as space
        "noord-",  # a hyphen at the end
        "no ord",
        "no_ord",
        "",
        "*",  # the municipality's own scope
        "=cmd|' /C calc'!A0",  # a spreadsheet formula
        "+1",
        "-noord",
        "@SUM(1)",
        "a" * 41,
    ],
)
def test_a_look_alike_or_a_formula_is_refused_naming_the_field(look_alike: str) -> None:
    with pytest.raises(InvalidTeamError) as refused:
        team_slug(look_alike, "to_team")
    assert refused.value.field == "to_team"
    assert isinstance(refused.value, InvalidFact)  # 422 at every edge


@given(st.text(max_size=50))
def test_whatever_comes_in_a_team_is_a_slug_or_refused_and_its_slug_is_itself(name: str) -> None:
    try:
        slug = team_slug(name)
    except InvalidTeamError:
        return
    assert SLUG.fullmatch(slug)
    assert team_slug(slug) == slug
