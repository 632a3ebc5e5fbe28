"""Bad input gets a clear problem+json naming the field, and nothing is stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infra.container import Container
from tests.api.test_journeys_api import fact, start
from tests.conftest import days_ago

Headers = Callable[..., dict[str, str]]


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.fixture
def journey(client: TestClient, token_for: Headers) -> str:
    jid: str = start(client, token_for())["journey_id"]
    return jid


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (fact("ladder_step", to_rung=7, effective_date=days_ago(3).isoformat()), 422, "to_rung"),
        (fact("ladder_step", to_rung=0, effective_date=days_ago(3).isoformat()), 422, "to_rung"),
        (fact("ladder_step", to_rung="high", effective_date=days_ago(3).isoformat()), 422, "to_rung"),
        (fact("ladder_step", to_rung=3, effective_date="2026-13-01"), 422, "effective_date"),
        (fact("ladder_step", to_rung=3), 422, "effective_date"),
        (fact("ladder_step", to_rung=3, effective_date=days_ago(500).isoformat()), 422, "effective_date"),
        (
            fact(
                "self_reliance_assessment",
                zrm_version="2017",
                scores={"moon": 2},
                effective_date=days_ago(3).isoformat(),
            ),
            422,
            "scores.moon",
        ),
        (
            fact(
                "self_reliance_assessment",
                zrm_version="2017",
                scores={"finances": 9},
                effective_date=days_ago(3).isoformat(),
            ),
            422,
            "scores.finances",
        ),
        (fact("ladder_step", to_rung=3, effective_date=days_ago(3).isoformat(), colour="red"), 422, "colour"),
        (fact("teleport", effective_date=days_ago(3).isoformat()), 422, None),
        ({"type": "ladder_step", "to_rung": 3, "effective_date": days_ago(3).isoformat()}, 422, "event_id"),
        (
            fact(
                "work_exit",
                kind="astronaut",
                hours_per_week=3,
                contract="temporary",
                effective_date=days_ago(3).isoformat(),
            ),
            422,
            "kind",
        ),
        (
            fact("work_ended", reason="dismissed", effective_date=days_ago(3).isoformat()),
            409,
            "effective_date",
        ),
        (fact("void", voided_version=40, reason="typo"), 409, "voided_version"),
        (fact("void", voided_version=1, reason="typo"), 409, "voided_version"),
        (fact("team_change", to_team="noord", effective_date=days_ago(3).isoformat()), 409, "to_team"),
        (fact("team_change", to_team="zu\u0000id", effective_date=days_ago(3).isoformat()), 422, "to_team"),
        (
            fact("team_change", to_team="=HYPERLINK(1)", effective_date=days_ago(3).isoformat()),
            422,
            "to_team",
        ),
        (fact("ladder_step", to_rung=True, effective_date=days_ago(3).isoformat()), 422, "to_rung"),
        (fact("ladder_step", to_rung="3", effective_date=days_ago(3).isoformat()), 422, "to_rung"),
        (fact("ladder_step", to_rung=3, effective_date="1999-12-31"), 422, "effective_date"),
        (
            fact(
                "self_reliance_assessment",
                zrm_version="2017",
                scores={"finances": True},
                effective_date=days_ago(3).isoformat(),
            ),
            422,
            "scores.finances",
        ),
        (fact("reopening", reason="a\u0007b", effective_date=days_ago(3).isoformat()), 422, "reason"),
    ],
)
def test_an_invalid_fact_is_refused_with_its_field_and_nothing_is_stored(
    client: TestClient,
    token_for: Headers,
    container: Container,
    journey: str,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    before = container.head_position()
    response = client.post(f"/v1/journeys/{journey}/events", json=body, headers=token_for())
    assert_problem(response, status, field)
    assert container.head_position() == before


def test_a_fact_dated_after_the_closure_is_a_conflict(
    client: TestClient, token_for: Headers, journey: str
) -> None:
    h = token_for()
    closed = client.post(
        f"/v1/journeys/{journey}/events",
        json=fact("closure", reason="moved", effective_date=days_ago(10).isoformat()),
        headers=h,
    )
    assert closed.status_code == 201
    response = client.post(
        f"/v1/journeys/{journey}/events",
        json=fact("ladder_step", to_rung=3, effective_date=days_ago(5).isoformat()),
        headers=h,
    )
    body = assert_problem(response, 409, "effective_date")
    assert body["title"] == "Journey closed on that date"


def test_an_unknown_journey_is_not_found(client: TestClient, token_for: Headers) -> None:
    response = client.post(
        f"/v1/journeys/{uuid.uuid4()}/events",
        json=fact("ladder_step", to_rung=3, effective_date=days_ago(5).isoformat()),
        headers=token_for(),
    )
    assert_problem(response, 404)
    assert_problem(client.get(f"/v1/journeys/{uuid.uuid4()}", headers=token_for()), 404)


def test_a_malformed_journey_id_is_refused(client: TestClient, token_for: Headers) -> None:
    assert_problem(client.get("/v1/journeys/12345", headers=token_for()), 422, "journey_id")


def test_a_start_with_bad_input_is_refused(
    client: TestClient, token_for: Headers, container: Container
) -> None:
    base = {
        "event_id": str(uuid.uuid4()),
        "client_reference": "GEM-1",
        "team": "noord",
        "initial_rung": 2,
        "effective_date": days_ago(3).isoformat(),
    }
    cases = [
        (base | {"initial_rung": 9}, 422, "initial_rung"),
        (base | {"client_reference": "111222333"}, 422, "client_reference"),  # a BSN
        (base | {"client_reference": ""}, 422, "client_reference"),
        (base | {"effective_date": days_ago(-3).isoformat()}, 422, "effective_date"),
        (base | {"team": "zuid"}, 403, "team"),  # not the caller's team
    ]
    for body, status, field in cases:
        assert_problem(client.post("/v1/journeys", json=body, headers=token_for()), status, field)
    assert container.head_position() == 0


def test_a_batch_with_one_bad_item_stores_nothing_and_names_it(
    client: TestClient, token_for: Headers, container: Container, journey: str
) -> None:
    before = container.head_position()
    events = [
        fact("ladder_step", journey_id=journey, to_rung=3, effective_date=days_ago(9).isoformat()),
        fact("ladder_step", journey_id=journey, to_rung=8, effective_date=days_ago(8).isoformat()),
    ]
    body = assert_problem(
        client.post("/v1/events", json={"events": events}, headers=token_for()), 422, "events.1.to_rung"
    )
    assert body["item"] == 1
    assert container.head_position() == before
    unknown = [
        fact("ladder_step", journey_id=str(uuid.uuid4()), to_rung=3, effective_date=days_ago(9).isoformat())
    ]
    body = assert_problem(client.post("/v1/events", json={"events": unknown}, headers=token_for()), 404)
    assert body["item"] == 0
    schema_error = [events[0], {"type": "ladder_step", "journey_id": journey}]
    body = assert_problem(client.post("/v1/events", json={"events": schema_error}, headers=token_for()), 422)
    assert body["item"] == 1
    assert container.head_position() == before


def test_an_empty_or_oversized_batch_is_refused(client: TestClient, token_for: Headers, journey: str) -> None:
    assert_problem(client.post("/v1/events", json={"events": []}, headers=token_for()), 422, "events")
    many = [fact("ladder_step", journey_id=journey, to_rung=3, effective_date=days_ago(9).isoformat())] * 1001
    assert_problem(client.post("/v1/events", json={"events": many}, headers=token_for()), 422, "events")


def test_an_oversized_body_is_refused_before_it_is_read(client: TestClient, token_for: Headers) -> None:
    huge = b'{"events": [' + b" " * 2_000_000 + b"]}"
    response = client.post(
        "/v1/events", content=huge, headers=token_for() | {"Content-Type": "application/json"}
    )
    assert_problem(response, 413)


def test_a_body_that_is_not_json_is_refused(client: TestClient, token_for: Headers, journey: str) -> None:
    response = client.post(
        f"/v1/journeys/{journey}/events",
        content=b"to_rung=3",
        headers=token_for() | {"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "body")  # malformed, where 422 says well-formed but wrong


def test_an_unknown_route_answers_problem_json(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404)


def test_a_feed_position_past_the_largest_one_answers_empty_or_names_the_bound(
    client: TestClient, token_for: Headers
) -> None:
    h = token_for("reporting")
    last = client.get("/v1/events?after=9223372036854775807", headers=h)
    assert last.status_code == 200, last.text
    assert last.json() == {"items": [], "next_after": 9223372036854775807}
    assert_problem(client.get("/v1/events?after=9223372036854775808", headers=h), 422, "after")


def test_a_chunked_oversized_body_is_refused_as_too_large(client: TestClient, token_for: Headers) -> None:
    def chunks() -> Any:
        yield b'{"events": ['
        for _ in range(40):
            yield b" " * 50_000
        yield b"]}"

    response = client.post(
        "/v1/events", content=chunks(), headers=token_for() | {"Content-Type": "application/json"}
    )
    assert_problem(response, 413)


def test_a_body_with_many_errors_gets_a_bounded_answer(client: TestClient, token_for: Headers) -> None:
    item = {"type": "work_exit", "journey_id": "x", "event_id": "y", "kind": "k", "contract": "c"}
    body = {"events": [item] * 1000}
    response = client.post("/v1/events", json=body, headers=token_for())
    problem = assert_problem(response, 422)
    assert len(response.content) < 20_000
    assert len(problem["invalidParams"]) <= 50
    assert problem["invalidParamsTotal"] > len(problem["invalidParams"])


def test_an_error_echoes_no_long_input(client: TestClient, token_for: Headers, journey: str) -> None:
    response = client.post(f"/v1/journeys/{journey}/events", json=fact("x" * 500_000), headers=token_for())
    assert_problem(response, 422)
    assert len(response.content) < 5_000


def test_an_undeclared_method_names_the_allowed_ones(client: TestClient, token_for: Headers) -> None:
    response = client.delete("/v1/events", headers=token_for())
    assert_problem(response, 405)
    assert response.headers["Allow"] == "GET, POST"
    assert_problem(client.put("/v1/journeys", headers=token_for()), 405)


INVISIBLE = {
    "NUL": "\x00",
    "ESC": "\x1b",
    "CR LF": "\r\n",
    "NEL (C1)": "\x85",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "right-to-left override": "\u202e",
    "zero width space": "\u200b",
    "byte order mark": "\ufeff",
    "private use": "\ue000",
    "lone surrogate": "\ud800",
}


def text_fields(journey: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(path, field, body, where the text goes) for every free-text field of every write body."""
    start_body = {
        "event_id": str(uuid.uuid4()),
        "client_reference": "GEM-1",
        "team": "noord",
        "initial_rung": 2,
        "effective_date": days_ago(3).isoformat(),
    }
    step = fact("ladder_step", to_rung=3, effective_date=days_ago(3).isoformat())
    reopening = fact("reopening", effective_date=days_ago(3).isoformat(), reason="back")
    void = fact("void", voided_version=1, reason="typo")
    team_change = fact("team_change", to_team="zuid", effective_date=days_ago(3).isoformat())
    facts = f"/v1/journeys/{journey}/events"
    return [
        ("/v1/journeys", "client_reference", start_body, "client_reference"),
        ("/v1/journeys", "team", start_body, "team"),
        ("/v1/journeys", "municipality", start_body | {"municipality": "Amersfoort"}, "municipality"),
        ("/v1/journeys", "source", start_body | {"source": "app"}, "source"),
        ("/v1/journeys", "correlation_id", start_body | {"correlation_id": "c-1"}, "correlation_id"),
        (facts, "source", step | {"source": "app"}, "source"),
        (facts, "correlation_id", step | {"correlation_id": "c-1"}, "correlation_id"),
        (facts, "to_team", team_change, "to_team"),
        (facts, "reason", reopening, "reason"),
        (facts, "reason", void, "reason"),
        (
            "/v1/events",
            "events.0.client_reference",
            {"events": [{"type": "start"} | start_body]},
            "client_reference",
        ),
        (
            "/v1/events",
            "events.0.correlation_id",
            {"events": [step | {"journey_id": journey, "correlation_id": "c"}]},
            "correlation_id",
        ),
        ("/v1/events", "events.0.reason", {"events": [void | {"journey_id": journey}]}, "reason"),
    ]


def with_text(body: dict[str, Any], key: str, text: str) -> dict[str, Any]:
    if "events" in body:
        return {"events": [body["events"][0] | {key: text}]}
    return body | {key: text}


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_control_format_and_separator_characters_are_refused_in_every_text_field(
    client: TestClient, token_for: Headers, container: Container, journey: str, char: str
) -> None:
    before = container.head_position()
    for path, field, body, key in text_fields(journey):
        sent = json.dumps(with_text(body, key, f"noo{char}rd"))  # escaped, so a lone surrogate gets through
        response = client.post(path, content=sent, headers=token_for() | {"Content-Type": "application/json"})
        assert_problem(response, 422, field)
    assert container.head_position() == before


@pytest.mark.parametrize(
    "bsn",
    [
        "111222333",
        "111-222-333",
        "111.222.333",
        "111 22 2333",
        "BSN 111222333",
        "bsn: 111-222-333",
        "BSN111222333",
        "\uff11\uff11\uff11\uff12\uff12\uff12\uff13\uff13\uff13",
    ],
)
def test_a_bsn_is_refused_in_any_spelling_in_every_text_field(
    client: TestClient, token_for: Headers, container: Container, journey: str, bsn: str
) -> None:
    before = container.head_position()
    for path, field, body, key in text_fields(journey):
        text = f"moved, {bsn} told us" if key == "reason" else bsn
        response = client.post(path, json=with_text(body, key, text), headers=token_for())
        problem = assert_problem(response, 422, field)
        assert "BSN" in problem["detail"], problem
    assert container.head_position() == before


@pytest.mark.parametrize(
    "reference", ["GEM-2024-00123", "123456789", "A-111222333", "2024/001", "GEM 1234 5678"]
)
def test_a_municipal_client_number_that_is_no_bsn_is_accepted(
    client: TestClient, token_for: Headers, reference: str
) -> None:
    start(client, token_for(), client_reference=reference)


def test_a_note_may_hold_dates_and_phone_numbers(
    client: TestClient, token_for: Headers, journey: str
) -> None:
    note = "Back on 2024-11-05; call 033-4695000 (ext. 12) or 06-12345678, file 2024.00123.7."
    step = fact("ladder_step", to_rung=3, effective_date=days_ago(2).isoformat())
    assert client.post(f"/v1/journeys/{journey}/events", json=step, headers=token_for()).status_code == 201
    response = client.post(
        f"/v1/journeys/{journey}/events",
        json=fact("void", voided_version=2, reason=note),
        headers=token_for(),
    )
    assert response.status_code == 201, response.text


def test_an_error_answer_closes_the_connection_and_a_success_keeps_it(
    client: TestClient, token_for: Headers, journey: str
) -> None:
    ok = client.get(f"/v1/journeys/{journey}", headers=token_for())
    assert ok.status_code == 200
    assert "connection" not in ok.headers
    for response in (
        client.get("/v1/journeys/12345", headers=token_for()),
        client.get("/v1/nothing-here"),
        client.get("/v1/events"),
        client.delete("/v1/events", headers=token_for()),
        client.post("/v1/events", content=b"x" * 2_000_000, headers=token_for()),
    ):
        assert response.status_code >= 400
        assert response.headers["connection"] == "close", response.status_code
        assert response.headers["api-version"]


def test_an_unexpected_failure_is_a_problem_that_closes_the_connection(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> int:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(container, "head_position", broken)
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        response = client.get("/metrics")
    body = assert_problem(response, 500)
    assert "fire" not in response.text, body
    assert (response.headers["connection"], response.headers["api-version"]) == ("close", "1.0.0")
