"""The team registry in the store: set up from settings, administered, adopted by an older store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.journey import Journey
from domain.teams import InvalidTeamError
from infra.container import Container, build
from infra.projection_runner import rebuild
from infra.settings import Settings
from infra.teams import InvalidTeamName, Team
from tests.conftest import days_ago
from tests.services.test_journeys import by


def stored_without_registry(container: Container, teams: list[str]) -> None:
    """Journeys started in these teams as a version without the registry did: nothing asked."""
    for n, team in enumerate(teams):
        journey = Journey.start(
            client_ref=f"p-{n}",
            municipality="Amersfoort",
            team=team,
            initial_rung=2,
            effective_date=days_ago(30),
            by=by(container),
        )
        container.journeys.save(journey)


def test_the_teams_in_the_settings_are_registered_at_every_start(
    make_settings: Callable[..., Settings],
) -> None:
    first = build(make_settings(teams="noord:Team Noord, ZUID"))
    try:
        assert first.teams.all() == [Team("noord", "Team Noord"), Team("zuid", "ZUID")]
    finally:
        first.close()
    again = build(make_settings(teams="noord:Noord"))  # renamed; a team is never dropped
    try:
        assert again.teams.all() == [Team("noord", "Noord"), Team("zuid", "ZUID")]
    finally:
        again.close()


@pytest.mark.parametrize("listed", ["noord,*", "noord:=HYPERLINK(1)", "no\u200dord", "noord:A,NOORD:B"])
def test_a_bad_team_in_the_settings_stops_the_start(
    make_settings: Callable[..., Settings], listed: str
) -> None:
    with pytest.raises(ValueError, match="TRAJECT_TEAMS"):
        build(make_settings(teams=listed))


def test_a_team_is_added_by_its_slug_and_renamed_without_a_second_one(container: Container) -> None:
    assert container.teams.add("West", "Team West") == Team("west", "Team West")
    assert container.teams.add("ＷＥＳＴ", "West") == Team("west", "West")
    assert [t for t in container.teams.all() if t.slug == "west"] == [Team("west", "West")]
    with pytest.raises(InvalidTeamError):
        container.teams.add("we\u200dst")
    with pytest.raises(InvalidTeamName):
        container.teams.add("oost", "=cmd|' /C calc'!A0")
    with pytest.raises(InvalidTeamName):
        container.teams.add("oost", "Oost\u0000")


def test_a_store_from_before_the_registry_adopts_its_slugs_and_reports_look_alikes(
    make_settings: Callable[..., Settings],
) -> None:
    """Journeys a version without the registry stored in any team: slugs are registered, the rest named."""
    container = build(make_settings(teams=""))
    try:
        stored_without_registry(container, ["noord", "west", "NOORD", "no\u200dord"])
        rebuild(container.journeys, container.mirror.view, workers=1)
        adoption = container.teams.adopt(container.mirror.view.teams())
        assert sorted(adoption.added) == ["noord", "west"]
        assert set(adoption.refused) == {"NOORD", "no\u200dord"}
        assert "look-alike of noord" in adoption.refused["NOORD"]
        assert [t.slug for t in container.teams.all()] == ["noord", "west"]
        assert container.teams.adopt(container.mirror.view.teams()).added == []  # once is enough
    finally:
        container.close()
