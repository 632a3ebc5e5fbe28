"""Teams are a registry: tokens, writes (HTTP, batch, Kafka) and team paths name registered teams only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.auth import TokenCodec
from api.ingest import Ingest
from infra.container import Container, build
from infra.settings import Settings
from tests.api.test_ingest import messages
from tests.api.test_journeys_api import fact, start
from tests.conftest import days_ago, new_id
from tests.infra.kafka_support import envelope, fact_event, journey_of, start_event

Headers = Callable[..., dict[str, str]]
PROBLEM = "application/problem+json"

# Ways to write "noord" that an attacker used to make shadow teams beside it.
SHADOWS = [
    "NOORD",
    "Noord",
    "ＮＯＯＲＤ",  # fullwidth
    "noord ",
    "\u2115oord",  # double-struck N
    "no\u200dord",  # zero-width joiner
    "no\u200bord",  # zero-width space
    "noord\ufeff",  # zero-width no-break space
    "n\u043eord",  # Cyrillic o
    "\u041d\u041e\u041e\u0420\u0414",  # Cyrillic capitals
    "noo\u0301rd",  # a combining accent
]


def raw_token(container: Container, *teams: str, role: str = "caseworker") -> dict[str, str]:
    """A validly signed token whose teams claim says whatever the test wants."""
    token = TokenCodec(container.jwt_key, "HS256", "traject").issue("attacker", role, teams, 30)
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: Any, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    if field is not None:
        assert response.json()["field"] == field


@pytest.mark.parametrize("role", ["caseworker", "teamlead", "reporting"])
def test_a_token_for_the_whole_municipality_is_refused(
    client: TestClient, container: Container, role: str
) -> None:
    h = raw_token(container, "*", role=role)
    assert_problem(client.get("/v1/outcomes", headers=h), 401)
    assert_problem(client.get("/v1/teams/noord/outcomes", headers=h), 401)


def test_a_token_naming_an_unregistered_team_is_refused(client: TestClient, container: Container) -> None:
    for teams in (("west",), ("noord", "west"), ("no\u200dord",), ("=cmd|' /C calc'!A0",)):
        h = raw_token(container, *teams)
        assert_problem(client.get("/v1/teams/noord/outcomes", headers=h), 401)
        body = {"event_id": new_id(), "client_reference": "GEM-7", "team": "noord", "initial_rung": 2}
        assert_problem(
            client.post("/v1/journeys", json=body | {"effective_date": days_ago(3).isoformat()}, headers=h),
            401,
        )


def test_a_token_may_spell_a_registered_team_in_capitals(client: TestClient, container: Container) -> None:
    journey = start(client, raw_token(container, "NOORD"), team="noord")
    assert container.journeys.journey(UUID(journey["journey_id"])).team == "noord"


def test_a_look_alike_of_a_team_is_that_team_or_refused_never_a_second_team(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    h = token_for("caseworker", "noord")
    stored = set()
    for n, spelling in enumerate(SHADOWS):
        body = {
            "event_id": new_id(),
            "client_reference": f"GEM-{n}",
            "team": spelling,
            "initial_rung": 2,
            "effective_date": days_ago(30).isoformat(),
        }
        response = client.post("/v1/journeys", json=body, headers=h)
        if response.status_code == 201:
            stored.add(container.journeys.journey(UUID(response.json()["journey_id"])).team)
        else:
            assert_problem(response, 422, "team")
    assert stored <= {"noord"}
    head = container.head_position()
    every = client.get("/v1/outcomes", params={"min_position": head}, headers=token_for("auditor"))
    assert set(every.json()["teams"]) <= {"noord"}


def test_a_start_in_an_unregistered_team_is_refused_naming_the_field(
    client: TestClient, token_for: Headers
) -> None:
    h = token_for("caseworker", "noord")
    body = {"event_id": new_id(), "client_reference": "GEM-8", "initial_rung": 2}
    body["effective_date"] = days_ago(3).isoformat()
    assert_problem(client.post("/v1/journeys", json=body | {"team": "west"}, headers=h), 422, "team")
    batch = {"events": [{"type": "start", **body, "team": "west"}]}
    assert_problem(client.post("/v1/events", json=batch, headers=h), 422, "events.0.team")
    formula = body | {"team": "=cmd|' /C calc'!A0"}
    assert_problem(client.post("/v1/journeys", json=formula, headers=h), 422, "team")


def test_a_team_change_to_an_unregistered_team_is_refused_naming_the_field(
    client: TestClient, token_for: Headers
) -> None:
    h = token_for("caseworker", "noord")
    jid = start(client, h)["journey_id"]
    change = fact("team_change", to_team="west", effective_date=days_ago(3).isoformat())
    assert_problem(client.post(f"/v1/journeys/{jid}/events", json=change, headers=h), 422, "to_team")
    batch = {"events": [change | {"journey_id": jid, "event_id": new_id()}]}
    assert_problem(client.post("/v1/events", json=batch, headers=h), 422, "events.0.to_team")
    moved = fact("team_change", to_team="ZUID", effective_date=days_ago(3).isoformat())
    assert client.post(f"/v1/journeys/{jid}/events", json=moved, headers=h).status_code == 201
    assert client.get(f"/v1/journeys/{jid}", headers=token_for("auditor")).json()["team"] == "zuid"


@pytest.mark.parametrize("kind", ["outcomes", "flows"])
def test_an_unregistered_team_has_no_figures_not_a_page_of_zeros(
    client: TestClient, token_for: Headers, kind: str
) -> None:
    for h in (token_for("auditor"), token_for("reporting")):  # the auditor's figures are read by team
        for path in ("%00", "west", "no%00ord", "no%E2%80%8Dord", "n%D0%BEord", "=cmd%7C'%20calc'!A0", "*"):
            response = client.get(f"/v1/teams/{path}/{kind}", headers=h | {"Accept": "text/csv"})
            assert_problem(response, 404, "team")
        assert client.get(f"/v1/teams/NOORD/{kind}", headers=h).json()["team"] == "noord"


def test_a_team_path_is_checked_only_after_the_token(client: TestClient) -> None:
    assert_problem(client.get("/v1/teams/west/outcomes"), 401)


def test_a_kafka_message_naming_an_unregistered_team_is_a_dead_letter(container: Container) -> None:
    good = start_event("GEM-1", team="NOORD")
    bad = start_event("GEM-2", team="west")
    ingest = Ingest(container.journeys, container.today)
    change = fact_event(
        "team_change", journey_of(good), to_team="west", effective_date=days_ago(3).isoformat()
    )
    verdicts = ingest(messages(envelope(good), envelope(bad), envelope(change)))
    assert [v.outcome for v in verdicts] == ["stored", "dead_lettered", "dead_lettered"]
    reasons = [dict(v.reason or {}) for v in verdicts[1:]]
    assert [(r["status"], r["code"], r["field"]) for r in reasons] == [
        (422, "UnknownTeamError", "event.team"),
        (422, "UnknownTeamError", "event.to_team"),
    ]
    assert container.journeys.journey(journey_of(good)).team == "noord"


def test_a_team_registered_while_the_service_runs_is_known_at_its_first_use(
    client: TestClient, container: Container, make_settings: Callable[..., Settings]
) -> None:
    h = raw_token(container, "west", role="teamlead")
    assert_problem(client.get("/v1/teams/west/outcomes", headers=h), 401)
    admin = build(make_settings())  # `traject teams add west`, in another process
    try:
        admin.teams.add("west", "Team West")
    finally:
        admin.close()
    assert client.get("/v1/teams/west/outcomes", headers=h).json()["exact"] is True
