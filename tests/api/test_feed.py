"""GET /v1/events: the pseudonymous event feed for reporting systems, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.streams import FeedOut
from tests.api.test_journeys_api import fact, start
from tests.conftest import days_ago

Headers = Callable[..., dict[str, str]]


def record_some(client: TestClient, headers: dict[str, str]) -> list[str]:
    """Two journeys with 7 events between them, free text included; answers their ids."""
    one = start(client, headers, client_reference="GEM-4711")["journey_id"]
    two = start(client, headers, client_reference="GEM-4712")["journey_id"]
    for body in (
        fact("ladder_step", to_rung=3, effective_date=days_ago(60).isoformat()),
        fact("closure", reason="moved", effective_date=days_ago(30).isoformat()),
        fact("reopening", reason="moved back in with her mother", effective_date=days_ago(20).isoformat()),
        fact("void", voided_version=2, reason="wrong client, sorry"),
    ):
        response = client.post(f"/v1/journeys/{one}/events", json=body, headers=headers)
        assert response.status_code == 201, response.text
    response = client.post(
        f"/v1/journeys/{two}/events",
        json=fact(
            "work_exit",
            kind="employment",
            hours_per_week=32,
            contract="permanent",
            effective_date=days_ago(5).isoformat(),
        ),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return [one, two]


def page(client: TestClient, headers: dict[str, str], **params: Any) -> FeedOut:
    response = client.get("/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return FeedOut.model_validate(response.json())


def test_the_feed_pages_through_every_event_in_order(client: TestClient, token_for: Headers) -> None:
    record_some(client, token_for("caseworker", "noord"))
    reporting = token_for("reporting")
    seen, after = [], 0
    for expected in (3, 3, 1, 0):
        got = page(client, reporting, after=after, limit=3)
        assert len(got.items) == expected
        seen += got.items
        after = got.next_after
    assert [i.position for i in seen] == list(range(1, 8))
    assert after == 7
    assert [(i.type, i.version) for i in seen if i.version > 1] == [
        ("LadderStepRecorded", 2),
        ("Closed", 3),
        ("Reopened", 4),
        ("EntryVoided", 5),
        ("WorkExitRecorded", 2),
    ]
    exit_ = seen[-1]
    assert exit_.facts == {"kind": "employment", "hours_per_week": 32.0, "contract": "permanent"}
    assert exit_.effective_date == days_ago(5)


def test_the_feed_is_pseudonymous(client: TestClient, token_for: Headers, container: Any) -> None:
    caseworker = token_for("caseworker", "noord", subject="cw-secret-name")
    one, _ = record_some(client, caseworker)
    text = client.get("/v1/events", params={"limit": 1000}, headers=token_for("auditor")).text
    pseudonym = container.journeys.journey(UUID(one)).client_ref
    for secret in ("client_ref", pseudonym, "GEM-47", "cw-secret-name", "mother", "wrong client", "actor"):
        assert secret not in text
    assert one in text


@pytest.mark.parametrize("role", ["caseworker", "teamlead", "admin"])
def test_roles_without_the_feed_get_403(client: TestClient, token_for: Headers, role: str) -> None:
    response = client.get("/v1/events", headers=token_for(role, "noord"))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_without_a_token_the_feed_answers_401(client: TestClient) -> None:
    response = client.get("/v1/events")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 1001}, "limit"), ({"limit": 0}, "limit"), ({"after": -1}, "after")]
)
def test_out_of_range_paging_is_refused(
    client: TestClient, token_for: Headers, params: dict[str, int], field: str
) -> None:
    response = client.get("/v1/events", params=params, headers=token_for("reporting"))
    assert response.status_code == 422
    assert response.json()["field"] == field
