"""Which months may be asked for: the OpenAPI pattern and the check agree, and refusals name the field."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from infra.container import Container
from projections.months import month_of

Headers = Callable[..., dict[str, str]]


def assert_refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field
    assert response.json()["invalidParams"][0]["name"] == field


def test_months_outside_2000_01_to_this_month_are_refused_naming_the_field(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    this_month = month_of(container.today())
    for params, field in (
        ({"to": "0000-01"}, "to"),
        ({"from": "0000-01"}, "from"),
        ({"from": "1999-12"}, "from"),
        ({"to": "1999-12"}, "to"),
        ({"to": "9999-12"}, "to"),
        ({"from": "2026-13"}, "from"),
        ({"from": "2010-05", "to": "2010-01"}, "from"),
        ({"from": "2010-01", "to": "2016-01"}, "from"),
    ):
        for path in ("/v1/outcomes", "/v1/teams/noord/outcomes", "/v1/teams/noord/flows"):
            assert_refused(client.get(path, params=params, headers=token_for("reporting")), field)
    for params in ({"from": "2000-01", "to": "2000-12"}, {"to": "2000-03"}, {"to": this_month}):
        assert client.get("/v1/outcomes", params=params, headers=token_for("reporting")).status_code == 200


def test_the_documented_month_pattern_admits_exactly_what_the_check_can_take(client: TestClient) -> None:
    spec = client.get("/v1/openapi.json").json()
    parameters = {p["name"]: p for p in spec["paths"]["/v1/outcomes"]["get"]["parameters"]}
    for name in ("from", "to"):
        schema = parameters[name]["schema"]["anyOf"][0]
        pattern = schema["pattern"]
        assert "2000-01" in parameters[name]["description"]
        assert all(re.search(pattern, m) for m in ("2000-01", "2026-12", "9999-12"))
        assert not any(re.search(pattern, m) for m in ("0000-01", "1999-12", "2026-13", "2026-1"))


def test_a_position_the_log_has_not_reached_is_refused_at_once_not_waited_for(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    """No write ever answered that position, so waiting cannot bring it: 422, and no waiter's place taken."""
    head = container.head_position()
    for path in ("/v1/outcomes", "/v1/teams/noord/outcomes", "/v1/teams/noord/flows"):
        response = client.get(
            path, params={"min_position": head + 1, "timeout": 30}, headers=token_for("reporting")
        )
        assert_refused(response, "min_position")
        assert "has not reached" in response.json()["detail"]
    assert container.watch.waiting == 0
    at_head = client.get("/v1/outcomes", params={"min_position": head}, headers=token_for("reporting"))
    assert at_head.status_code == 200, at_head.text
