"""The journeys application admits registered teams only, in any spelling of their slug, on every store."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from domain.teams import InvalidTeamError, UnknownTeamError
from infra.container import Container, build
from infra.settings import Settings
from services.commands import ChangeTeam, StartJourney
from tests.api.test_team_registry import SHADOWS
from tests.conftest import days_ago
from tests.services.test_journeys import by, head, start


def test_a_look_alike_of_a_team_is_that_team_or_refused_even_without_a_scope(container: Container) -> None:
    """Kafka and the demo write without a caller's scope: the registry alone keeps the teams."""
    held = set()
    for n, spelling in enumerate(SHADOWS):
        command = StartJourney(f"A-{n}", spelling, 2, days_ago(30))
        try:
            written = container.journeys.start(command, by(container))
        except InvalidTeamError:
            continue
        held.add(container.journeys.journey(written.journey_id).team)
    assert held == {"noord"}


def test_a_start_in_an_unregistered_team_is_refused_and_stores_nothing(container: Container) -> None:
    before = head(container)
    with pytest.raises(UnknownTeamError) as refused:
        container.journeys.start(StartJourney("A-1", "west", 2, days_ago(30)), by(container))
    assert refused.value.field == "team"
    assert head(container) == before


def test_a_start_repeated_in_another_spelling_is_the_same_start(container: Container) -> None:
    event_id = uuid4()
    first = start(container, "noord", event_id)
    again = container.journeys.start(
        StartJourney("A-1001", "NOORD", 2, days_ago(100)), by(container, event_id)
    )
    assert (again.journey_id, again.duplicate) == (first, True)


def test_a_team_change_names_a_registered_team_by_its_slug(container: Container) -> None:
    jid = start(container)
    before = head(container)
    with pytest.raises(UnknownTeamError) as refused:
        container.journeys.record(jid, ChangeTeam("west", days_ago(5)), by(container))
    assert refused.value.field == "to_team"
    with pytest.raises(InvalidTeamError):
        container.journeys.record(jid, ChangeTeam("zu\u200did", days_ago(5)), by(container))
    assert head(container) == before
    container.journeys.record(jid, ChangeTeam("ＺＵＩＤ", days_ago(5)), by(container))
    assert container.journeys.journey(jid).team == "zuid"


def test_a_team_registered_by_another_process_is_admitted_at_its_first_use(
    container: Container, make_settings: Callable[..., Settings]
) -> None:
    other = build(make_settings())
    try:
        other.teams.add("west", "Team West")
    finally:
        other.close()
    assert "west" not in container.teams.cached()
    jid = container.journeys.start(StartJourney("A-2", "west", 2, days_ago(30)), by(container)).journey_id
    assert container.journeys.journey(jid).team == "west"
