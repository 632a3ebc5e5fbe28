"""The HTTP API end to end through FastAPI, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import days_ago, new_id

Headers = Callable[..., dict[str, str]]


def start(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {
        "event_id": new_id(),
        "client_reference": "GEM-1001",
        "team": "noord",
        "initial_rung": 2,
        "effective_date": days_ago(120).isoformat(),
    } | overrides
    response = client.post("/v1/journeys", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def fact(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "event_id": new_id()} | fields


def test_a_caseworker_starts_a_journey_records_a_step_and_reads_its_history(
    client: TestClient, token_for: Headers
) -> None:
    h = token_for("caseworker", "noord", subject="cw-42")
    journey = start(client, h)
    jid = journey["journey_id"]
    step = client.post(
        f"/v1/journeys/{jid}/events",
        json=fact("ladder_step", to_rung=3, effective_date=days_ago(60).isoformat(), source="app"),
        headers=h,
    )
    assert step.status_code == 201
    assert step.json()["version"] == 2
    assert step.json()["position"] > journey["position"]

    state = client.get(f"/v1/journeys/{jid}", headers=h).json()
    assert state["rung"] == {
        "number": 3,
        "dutch": "Deelname aan georganiseerde activiteiten",
        "english": "Taking part in organised activities",
    }
    assert (state["team"], state["status"]) == ("noord", "open")

    history = client.get(f"/v1/journeys/{jid}/history", headers=h).json()["entries"]
    assert [e["kind"] for e in history] == ["Started", "LadderStepRecorded"]
    assert history[1]["actor_id"] == "cw-42"
    assert history[1]["source"] == "app"
    assert history[1]["effective_date"] == days_ago(60).isoformat()
    assert history[1]["recorded_at"].endswith("Z")


def test_every_fact_type_can_be_recorded(client: TestClient, token_for: Headers) -> None:
    h = token_for("caseworker", "noord", "zuid")
    jid = start(client, h, initial_rung=4)["journey_id"]
    facts = [
        fact("ladder_step", to_rung=5, effective_date=days_ago(100).isoformat()),
        fact(
            "work_exit",
            kind="wage_subsidy",
            hours_per_week=24,
            contract="temporary",
            effective_date=days_ago(90).isoformat(),
        ),
        fact("work_ended", reason="contract_ended", effective_date=days_ago(60).isoformat()),
        fact("social_reconnection", kind="volunteering", effective_date=days_ago(55).isoformat()),
        fact(
            "self_reliance_assessment",
            zrm_version="2013",
            scores={"finances": 3, "housing": 4},
            effective_date=days_ago(50).isoformat(),
        ),
        fact("team_change", to_team="zuid", effective_date=days_ago(40).isoformat()),
        fact("closure", reason="moved", effective_date=days_ago(30).isoformat()),
        fact("reopening", reason="returned", effective_date=days_ago(20).isoformat()),
        fact("void", voided_version=2, reason="recorded on the wrong client"),
    ]
    for body in facts:
        response = client.post(f"/v1/journeys/{jid}/events", json=body, headers=h)
        assert response.status_code == 201, response.text
    state = client.get(f"/v1/journeys/{jid}", headers=h).json()
    assert state["version"] == 10
    assert state["rung"]["number"] == 4  # the step to 5 was voided
    assert (state["team"], state["status"], state["in_work"]) == ("zuid", "open", False)
    assert state["work_exits"][0]["ended_on"] == days_ago(60).isoformat()
    assert state["assessments"][0]["scores"] == {"finances": 3, "housing": 4}
    earlier = client.get(f"/v1/journeys/{jid}", params={"as_of": days_ago(70).isoformat()}, headers=h)
    assert earlier.json()["in_work"] is True


def test_a_retried_write_answers_with_the_original_result(client: TestClient, token_for: Headers) -> None:
    h = token_for()
    jid = start(client, h)["journey_id"]
    body = fact("ladder_step", to_rung=3, effective_date=days_ago(5).isoformat())
    first = client.post(f"/v1/journeys/{jid}/events", json=body, headers=h)
    again = client.post(f"/v1/journeys/{jid}/events", json=body, headers=h)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() | {"duplicate": True}
    other = client.post(f"/v1/journeys/{jid}/events", json=body | {"to_rung": 4}, headers=h)
    assert other.status_code == 409
    assert other.json()["field"] == "event_id"


def test_a_batch_records_facts_for_many_journeys(client: TestClient, token_for: Headers) -> None:
    h = token_for()
    a, b = start(client, h)["journey_id"], start(client, h)["journey_id"]
    events = [
        fact("ladder_step", journey_id=a, to_rung=3, effective_date=days_ago(9).isoformat()),
        fact("ladder_step", journey_id=b, to_rung=1, effective_date=days_ago(8).isoformat()),
        fact(
            "start",
            client_reference="GEM-9",
            team="noord",
            initial_rung=1,
            effective_date=days_ago(7).isoformat(),
        ),
    ]
    response = client.post("/v1/events", json={"events": events}, headers=h)
    assert response.status_code == 201, response.text
    results = response.json()["results"]
    assert [r["version"] for r in results] == [2, 2, 1]
    assert results[0]["journey_id"] == a


def test_every_response_carries_the_api_version(client: TestClient, token_for: Headers) -> None:
    assert client.get("/healthz").headers["API-Version"] == "1.0.0"
    assert client.get("/v1/journeys/not-a-uuid", headers=token_for()).headers["API-Version"] == "1.0.0"
    assert client.get("/v1/openapi.json").headers["API-Version"] == "1.0.0"


def test_the_openapi_document_is_served_under_v1(client: TestClient) -> None:
    spec = client.get("/v1/openapi.json").json()
    assert spec["info"]["version"] == "1.0.0"
    assert "/v1/journeys/{journey_id}/history" in spec["paths"]


def test_no_path_carries_personal_data(client: TestClient) -> None:
    """Only opaque journey ids and team names go in URLs; client references travel in bodies."""
    spec = client.get("/v1/openapi.json").json()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert parameter["name"] in ("journey_id", "team"), path
                    if parameter["name"] == "journey_id":
                        assert parameter["schema"]["format"] == "uuid"
                if parameter["in"] == "query":
                    assert "client" not in parameter["name"]


def test_health_and_readiness(client: TestClient, token_for: Headers) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    start(client, token_for())
    assert client.get("/readyz").json()["head_position"] == 1


def test_an_auditor_sees_what_was_known_at_a_moment(client: TestClient, token_for: Headers) -> None:
    cw = token_for()
    jid = start(client, cw)["journey_id"]
    first = client.get(f"/v1/journeys/{jid}/history", headers=cw).json()["entries"][0]["recorded_at"]
    client.post(
        f"/v1/journeys/{jid}/events",
        json=fact("ladder_step", to_rung=4, effective_date=days_ago(3).isoformat()),
        headers=cw,
    )
    auditor = token_for("auditor", subject="audit-1")
    then = client.get(f"/v1/journeys/{jid}", params={"known_at": first}, headers=auditor).json()
    assert (then["version"], then["rung"]["number"]) == (1, 2)
    history = client.get(f"/v1/journeys/{jid}/history", params={"known_at": first}, headers=auditor)
    assert len(history.json()["entries"]) == 1
    now = client.get(f"/v1/journeys/{jid}", headers=auditor).json()
    assert now["rung"]["number"] == 4


def test_dates_in_the_future_are_refused_in_the_municipalitys_calendar(
    client: TestClient, token_for: Headers
) -> None:
    h = token_for()
    jid = start(client, h)["journey_id"]
    tomorrow = days_ago(0) + timedelta(days=2)
    response = client.post(
        f"/v1/journeys/{jid}/events",
        json=fact("ladder_step", to_rung=3, effective_date=tomorrow.isoformat()),
        headers=h,
    )
    assert response.status_code == 422
    assert response.json()["field"] == "effective_date"


def test_concurrent_posts_to_one_journey_all_land_with_gapless_versions_and_repeats_answer_200(
    client: TestClient, container: Any, token_for: Headers
) -> None:
    """Single writes are decided on the event loop when they can be and share commits; under
    concurrency on one journey some go the threaded way. Either way: every fact once, in order."""
    import asyncio

    import httpx

    from api.app import create_app

    h = token_for("caseworker", "noord")
    jid = start(client, h)["journey_id"]
    client.get(f"/v1/journeys/{jid}", headers=h)  # cached, as in a running process
    bodies = [
        fact("social_reconnection", kind="club", effective_date=days_ago(100 - n).isoformat())
        for n in range(40)
    ]

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://traject") as http:
            posts = [http.post(f"/v1/journeys/{jid}/events", json=b, headers=h) for b in bodies]
            return await asyncio.gather(*posts)

    first = asyncio.run(post_all())
    assert [r.status_code for r in first] == [201] * 40
    assert sorted(r.json()["version"] for r in first) == list(range(2, 42))
    positions = {r.json()["version"]: r.json()["position"] for r in first}
    assert [positions[v] for v in sorted(positions)] == sorted(positions.values())
    again = asyncio.run(post_all())  # the same event ids: repeats, nothing stored
    assert [r.status_code for r in again] == [200] * 40
    assert {r.json()["version"]: r.json()["position"] for r in again} == positions
    history = client.get(f"/v1/journeys/{jid}/history", headers=h).json()["entries"]
    assert [e["version"] for e in history] == list(range(1, 42))
