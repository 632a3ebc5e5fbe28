"""Every route in the OpenAPI document, for every role: the policy table decides, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import POLICY, ROLES
from tests.api.test_journeys_api import fact, start
from tests.conftest import days_ago

Headers = Callable[..., dict[str, str]]


def bodies(journey_id: str) -> dict[tuple[str, str], Callable[[], Any]]:
    """A valid request body for each operation that takes one (fresh event ids each call)."""
    return {
        ("post", "/v1/journeys"): lambda: {
            "event_id": fact("x")["event_id"],
            "client_reference": "GEM-5",
            "team": "noord",
            "initial_rung": 2,
            "effective_date": days_ago(5).isoformat(),
        },
        ("post", "/v1/journeys/{journey_id}/events"): lambda: fact(
            "ladder_step", to_rung=3, effective_date=days_ago(4).isoformat()
        ),
        ("post", "/v1/events"): lambda: {
            "events": [
                fact("ladder_step", journey_id=journey_id, to_rung=3, effective_date=days_ago(4).isoformat())
            ]
        },
    }


def operations(client: TestClient) -> list[tuple[str, str, str]]:
    spec = client.get("/v1/openapi.json").json()
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            found.append((method, path, operation.get("x-permission", "")))
    return found


def call(client: TestClient, method: str, path: str, journey_id: str, headers: dict[str, str]) -> Any:
    url = path.replace("{journey_id}", journey_id).replace("{team}", "noord")
    body = bodies(journey_id).get((method, path))
    return client.request(method.upper(), url, json=body() if body else None, headers=headers)


def test_every_operation_declares_a_known_permission(client: TestClient) -> None:
    for method, path, permission in operations(client):
        assert permission in POLICY, f"{method} {path} declares no known permission"
        if method == "post":
            assert (method, path) in bodies("x"), f"add a valid body for {method} {path} to this test"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_what_the_policy_grants(
    client: TestClient, token_for: Headers, role: str
) -> None:
    journey_id = start(client, token_for("caseworker", "noord"))["journey_id"]
    headers = token_for(role, "noord")
    for method, path, permission in operations(client):
        response = call(client, method, path, journey_id, headers)
        if role in POLICY[permission]:
            assert response.status_code not in (401, 403), (method, path, role, response.text)
            assert response.status_code < 400, (method, path, role, response.text)
        else:
            assert response.status_code == 403, (method, path, role, response.text)
            assert response.headers["content-type"] == "application/problem+json"


def test_without_a_valid_token_only_public_operations_answer(client: TestClient, token_for: Headers) -> None:
    journey_id = start(client, token_for())["journey_id"]
    forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad"}
    for headers in ({}, forged):
        for method, path, permission in operations(client):
            response = call(client, method, path, journey_id, headers)
            if permission == "public":
                assert response.status_code == 200, (method, path)
            else:
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["WWW-Authenticate"] == "Bearer"


def test_another_teams_journey_answers_as_if_it_did_not_exist(client: TestClient, token_for: Headers) -> None:
    journey_id = start(client, token_for("caseworker", "noord"))["journey_id"]
    outsider = token_for("caseworker", "zuid")
    for method, path, _ in operations(client):
        if "{journey_id}" not in path:
            continue
        response = call(client, method, path, journey_id, outsider)
        assert response.status_code == 404, (method, path)
        unknown = call(client, method, path, "0b8a8f9e-8a43-4d6c-9a51-54b1f8f2f6a1", outsider)
        assert response.json()["title"] == unknown.json()["title"]


def test_an_expired_token_is_refused(client: TestClient, container: Any) -> None:
    from api.auth import TokenCodec

    token = TokenCodec(container.jwt_key, "HS256", "traject").issue("cw", "caseworker", ["noord"], -1)
    response = client.get(
        "/v1/journeys/0b8a8f9e-8a43-4d6c-9a51-54b1f8f2f6a1", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


def test_a_batch_cannot_reach_a_journey_that_moved_to_another_team(
    client: TestClient, token_for: Headers
) -> None:
    both = token_for("caseworker", "noord", "zuid")
    start_body = {
        "event_id": fact("x")["event_id"],
        "client_reference": "GEM-77",
        "team": "noord",
        "initial_rung": 2,
        "effective_date": days_ago(50).isoformat(),
    }
    jid = client.post("/v1/journeys", json=start_body, headers=both).json()["journey_id"]
    moved = client.post(
        f"/v1/journeys/{jid}/events",
        json=fact("team_change", to_team="zuid", effective_date=days_ago(10).isoformat()),
        headers=both,
    )
    assert moved.status_code == 201
    noord = token_for("caseworker", "noord")
    batch = [
        {"type": "start"} | start_body,  # a repeat of the start: its journey is zuid's now
        fact("closure", journey_id=jid, reason="moved", effective_date=days_ago(5).isoformat()),
    ]
    response = client.post("/v1/events", json={"events": batch}, headers=noord)
    assert response.status_code == 404
    assert response.json()["item"] == 0
    history = client.get(f"/v1/journeys/{jid}/history", headers=both).json()["entries"]
    assert [e["kind"] for e in history] == ["Started", "TeamChanged"]
