"""A reopening's free text is its `note` (events version 2); the old name `reason` is still accepted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.api.test_journeys_api import fact, start
from tests.conftest import days_ago

Headers = Callable[..., dict[str, str]]


@pytest.mark.parametrize("name", ["note", "reason"])
def test_a_reopening_keeps_its_note_under_either_name(
    client: TestClient, token_for: Headers, name: str
) -> None:
    h = token_for("caseworker", "noord")
    jid = start(client, h)["journey_id"]
    for body in (
        fact("closure", reason="moved", effective_date=days_ago(30).isoformat()),
        fact("reopening", effective_date=days_ago(20).isoformat(), **{name: "came back"}),
    ):
        response = client.post(f"/v1/journeys/{jid}/events", json=body, headers=h)
        assert response.status_code == 201, response.text
    history = client.get(f"/v1/journeys/{jid}/history", headers=h).json()["entries"]
    assert history[-1]["kind"] == "Reopened"
    assert history[-1]["facts"] == {"note": "came back"}


def test_a_reopening_with_both_names_is_refused(client: TestClient, token_for: Headers) -> None:
    h = token_for("caseworker", "noord")
    jid = start(client, h)["journey_id"]
    client.post(
        f"/v1/journeys/{jid}/events",
        json=fact("closure", reason="moved", effective_date=days_ago(30).isoformat()),
        headers=h,
    )
    body = fact("reopening", effective_date=days_ago(20).isoformat(), note="came back", reason="came back")
    response = client.post(f"/v1/journeys/{jid}/events", json=body, headers=h)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "not both" in response.json()["detail"]
