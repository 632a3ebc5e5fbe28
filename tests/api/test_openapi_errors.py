"""The OpenAPI document declares the problem answers each operation can give, and they are given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_bad_input import assert_problem

Headers = Callable[..., dict[str, str]]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, methods in spec["paths"].items() for m, op in methods.items()]


def test_every_operation_declares_its_problem_answers(client: TestClient) -> None:
    spec = client.get("/v1/openapi.json").json()
    problem = spec["components"]["schemas"]["Problem"]
    assert {"status", "title", "detail", "field", "invalidParams"} <= set(problem["properties"])
    expected = {
        ("post", "/v1/journeys"): {"400", "401", "403", "404", "408", "409", "413", "415", "422", "503"},
        ("post", "/v1/journeys/{journey_id}/events"): {
            "400",
            "401",
            "403",
            "404",
            "408",
            "409",
            "413",
            "415",
            "422",
            "503",
        },
        ("post", "/v1/events"): {"400", "401", "403", "404", "408", "409", "413", "415", "422", "503"},
        ("get", "/v1/events"): {"401", "403", "422"},
        ("get", "/v1/journeys/{journey_id}"): {"401", "403", "404", "422"},
        ("get", "/v1/journeys/{journey_id}/history"): {"401", "403", "404", "422"},
        ("get", "/v1/outcomes"): {"401", "403", "422", "503"},
        ("get", "/v1/teams/{team}/outcomes"): {"401", "403", "404", "422", "503"},
        ("get", "/v1/teams/{team}/flows"): {"401", "403", "404", "422", "503"},
        ("get", "/healthz"): set(),
        ("get", "/metrics"): set(),
    }
    for method, path, op in operations(spec):
        errors = {s for s in op["responses"] if s.startswith(("4", "5"))}
        if (method, path) in expected:
            assert errors >= expected[method, path], (method, path, errors)
        for status in errors:
            content = op["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # no answer is shaped like it


def test_a_body_that_is_not_json_by_its_type_is_unsupported(client: TestClient, token_for: Headers) -> None:
    response = client.post(
        "/v1/journeys",
        content=b"client_reference=GEM-1",
        headers=token_for() | {"Content-Type": "text/plain"},
    )
    assert_problem(response, 415)
    ok = client.post(
        "/v1/journeys",
        content=b"{}",
        headers=token_for() | {"Content-Type": "application/json; charset=utf-8"},
    )
    assert_problem(ok, 422)  # understood as JSON, and then found wanting


def test_a_body_that_is_not_well_formed_json_is_a_declared_400(
    client: TestClient, token_for: Headers
) -> None:
    response = client.post(
        "/v1/journeys", content=b'{"event_id": ', headers=token_for() | {"Content-Type": "application/json"}
    )
    assert_problem(response, 400)
    assert response.json()["title"] == "Malformed request"
    assert response.json()["field"] == "body"
    not_utf8 = client.post(
        "/v1/journeys", content=b"\xff\xfe", headers=token_for() | {"Content-Type": "application/json"}
    )
    assert_problem(not_utf8, 400)
