"""The team mirror over HTTP: exact for the team, protected for everyone else, current on request."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from infra.container import Container
from projections.months import month_of
from services.caseload import caseload
from tests.api.test_journeys_api import fact, start
from tests.conftest import days_ago
from tests.projections.oracle import oracle

Headers = Callable[..., dict[str, str]]
K = 5


def load(container: Container, journeys: int = 80) -> set[Any]:
    items = [i for j in caseload(journeys=journeys, today=container.today(), seed=11) for i in j]
    return {w.journey_id for w in container.journeys.record_batch(items)}


def values(month: dict[str, Any]) -> dict[str, int | None]:
    return {name: f["value"] for name, f in month["figures"].items()}


def test_a_team_lead_sees_the_teams_exact_figures_matching_the_definitions(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    ids = load(container)
    head = container.head_position()
    today = container.today()
    first, last = month_of(days_ago(700)), month_of(today)
    response = client.get(
        "/v1/teams/noord/outcomes",
        params={"from": first, "to": last, "min_position": head},
        headers=token_for("teamlead", "noord"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["exact"], body["position"], body["k"], body["sustained_months"]) == (True, head, K, 6)
    timelines = [container.journeys.journey(j).timeline for j in ids]
    expected = oracle(timelines, ["noord"], first, last, today=today, sustained_months=6)
    assert [m["month"] for m in body["months"]] == sorted(m for (t, m) in expected if t == "noord")
    for month in body["months"]:
        want = expected["noord", month["month"]]
        got = values(month)
        assert all(f["suppressed"] is False for f in month["figures"].values())
        assert got["active"] == want.active
        assert [got[f"rung.{r}"] for r in range(1, 7)] == [want.rungs[r] for r in range(1, 7)]
        assert (got["steps_up"], got["steps_down"], got["moved_up"]) == (
            want.steps_up,
            want.steps_down,
            want.moved_up,
        )
        assert got["work_exits.total"] == want.work_exits_total
        assert (got["sustained"], got["ended_within"], got["pending"]) == (
            want.sustained,
            want.ended_within,
            want.pending,
        )
        assert got["reconnections.total"] == want.reconnections_total
    assert sum(values(m)["active"] or 0 for m in body["months"]) > 0


def test_reporting_sees_small_cells_suppressed_and_flagged(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    load(container)
    head = container.head_position()
    params = {"from": month_of(days_ago(400)), "to": month_of(container.today()), "min_position": head}
    exact = client.get("/v1/teams/noord/outcomes", params=params, headers=token_for("auditor")).json()
    shown = client.get("/v1/teams/noord/outcomes", params=params, headers=token_for("reporting")).json()
    assert (exact["exact"], shown["exact"]) == (True, False)
    hidden = 0
    for e, s in zip(exact["months"], shown["months"], strict=True):
        for name, cell in s["figures"].items():
            true_value = e["figures"][name]["value"]
            if cell["suppressed"]:
                hidden += 1
                assert cell["value"] is None
            else:
                assert cell["value"] == true_value
                assert true_value == 0 or true_value >= K, (s["month"], name, true_value)
    assert hidden > 0
    other = client.get(
        "/v1/teams/noord/outcomes", params=params, headers=token_for("teamlead", "zuid")
    ).json()
    assert other["exact"] is False
    assert other["months"] == shown["months"]  # one pattern: another team's lead sees what reporting sees


def test_the_municipality_is_the_sum_of_its_teams(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    load(container)
    params = {"min_position": container.head_position()}
    body = client.get("/v1/outcomes", params=params, headers=token_for("auditor")).json()
    assert set(body["teams"]) == {"noord", "zuid", "centrum"}
    for i, month in enumerate(body["months"]):
        for name, cell in month["figures"].items():
            parts = [body["teams"][t][i]["figures"].get(name, {"value": 0})["value"] for t in body["teams"]]
            assert cell["value"] == sum(parts), (month["month"], name)
    assert len(body["months"]) == 12  # default: the last twelve months


def test_no_figure_and_no_parameter_breaks_down_by_caseworker(client: TestClient, token_for: Headers) -> None:
    spec = client.get("/v1/openapi.json").json()
    words = ("caseworker", "actor", "employee", "user", "medewerker", "consulent")
    for path, operations in spec["paths"].items():
        if "outcomes" not in path and "flows" not in path:
            continue
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                assert not any(w in parameter["name"].lower() for w in words), (path, parameter["name"])
    body = client.get("/v1/outcomes", headers=token_for("auditor")).json()
    names = {n for m in body["months"] for n in m["figures"]}
    assert not any(w in n for n in names for w in words)
    response = client.get("/v1/outcomes", params={"actor_id": "cw-1"}, headers=token_for("auditor"))
    assert response.json() == body | {"position": response.json()["position"]}  # ignored, not honoured


def test_a_backdated_step_and_a_void_change_the_month_they_are_about(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    h = token_for("caseworker", "noord")
    jid = start(client, h, initial_rung=2, effective_date=days_ago(200).isoformat())["journey_id"]
    when = days_ago(100)
    step = client.post(
        f"/v1/journeys/{jid}/events",
        json=fact("ladder_step", to_rung=4, effective_date=when.isoformat()),
        headers=h,
    ).json()
    month = month_of(when)
    params = {"from": month, "to": month, "min_position": step["position"]}
    lead = token_for("teamlead", "noord")
    figures = values(client.get("/v1/teams/noord/outcomes", params=params, headers=lead).json()["months"][0])
    assert (figures["steps_up"], figures["moved_up"], figures["rung.4"]) == (1, 1, 1)
    void = client.post(
        f"/v1/journeys/{jid}/events",
        json=fact("void", voided_version=step["version"], reason="wrong client"),
        headers=h,
    ).json()
    params["min_position"] = void["position"]
    figures = values(client.get("/v1/teams/noord/outcomes", params=params, headers=lead).json()["months"][0])
    assert (figures["steps_up"], figures["moved_up"], figures["rung.4"], figures["rung.2"]) == (0, 0, 0, 1)


def test_a_team_change_moves_later_figures_to_the_new_team(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    h = token_for("caseworker", "noord", "zuid")
    jid = start(client, h, effective_date=days_ago(150).isoformat())["journey_id"]
    moved = client.post(
        f"/v1/journeys/{jid}/events",
        json=fact("team_change", to_team="zuid", effective_date=days_ago(60).isoformat()),
        headers=h,
    ).json()
    auditor = token_for("auditor")
    params = {"from": month_of(days_ago(150)), "min_position": moved["position"]}
    body = client.get("/v1/outcomes", params=params, headers=auditor).json()
    by_month = {t: {m["month"]: values(m)["active"] for m in ms} for t, ms in body["teams"].items()}
    assert by_month["noord"][month_of(days_ago(90))] == 1
    assert by_month["zuid"][month_of(days_ago(90))] == 0
    assert by_month["zuid"][month_of(container.today())] == 1
    assert by_month["noord"][month_of(container.today())] == 0


def test_outcomes_come_as_csv_on_request(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    load(container, 30)
    response = client.get(
        "/v1/teams/zuid/outcomes",
        params={"min_position": container.head_position()},
        headers=token_for("reporting") | {"Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["scope"] for r in rows} == {"zuid"}
    assert {"active", "rung.3", "work_exits.total", "sustained"} <= {r["figure"] for r in rows}
    for r in rows:
        assert (r["value"] == "") == (r["suppressed"] == "True")


def test_flows_show_moves_between_rungs(client: TestClient, container: Container, token_for: Headers) -> None:
    h = token_for("caseworker", "noord")
    jid = start(client, h, initial_rung=2, effective_date=days_ago(40).isoformat())["journey_id"]
    for rung, ago in ((3, 30), (2, 20)):
        w = client.post(
            f"/v1/journeys/{jid}/events",
            json=fact("ladder_step", to_rung=rung, effective_date=days_ago(ago).isoformat()),
            headers=h,
        ).json()
    params = {"from": month_of(days_ago(40)), "min_position": w["position"]}
    body = client.get("/v1/teams/noord/flows", params=params, headers=token_for("teamlead", "noord")).json()
    totals: dict[str, int] = {}
    for month in body["months"]:
        assert all(n.startswith(("flow.", "steps_")) for n in month["figures"])
        for name, cell in month["figures"].items():
            totals[name] = totals.get(name, 0) + (cell["value"] or 0)
    assert totals["flow.2.3"] == 1
    assert totals["flow.3.2"] == 1
    assert (totals["steps_up"], totals["steps_down"]) == (1, 1)


def test_a_reader_can_wait_for_its_own_write_and_not_for_a_position_never_written(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    written = start(client, token_for())
    ok = client.get(
        "/v1/outcomes", params={"min_position": written["position"]}, headers=token_for("reporting")
    )
    assert ok.status_code == 200
    assert ok.json()["position"] >= written["position"]
    never = client.get(  # no write answered this position: waiting could not bring it
        "/v1/outcomes",
        params={"min_position": written["position"] + 50, "timeout": 0.2},
        headers=token_for("reporting"),
    )
    assert never.status_code == 422
    assert never.headers["content-type"] == "application/problem+json"
    assert never.json()["field"] == "min_position"
    # A position in the log that the view has not reached yet: 503, come back (test_outcomes_waiting.py).


def test_bad_ranges_are_refused(client: TestClient, token_for: Headers) -> None:
    for params in (
        {"from": "2026-13"},
        {"from": "26-01"},
        {"from": "2026-05", "to": "2026-01"},
        {"from": "0000-01", "to": "0000-02"},
        {"from": "1800-01"},
        {"to": "9999-12"},
        {"from": "2010-01", "to": "2016-01"},
    ):
        response = client.get("/v1/outcomes", params=params, headers=token_for("reporting"))
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"


def test_readiness_reports_the_projection_lag(
    client: TestClient, container: Container, token_for: Headers
) -> None:
    written = start(client, token_for())
    container.await_position(written["position"], 5)
    ready = client.get("/readyz").json()
    assert ready["projections"]["mirror"] == {"position": written["position"], "lag": 0, "failure": None}
    metrics = client.get("/metrics").text
    assert f"traject_event_log_head {written['position']}" in metrics
    assert 'traject_projection_lag{projection="mirror"} 0' in metrics


def test_readers_asking_at_once_wait_for_one_computation_of_the_answer(
    container: Container, token_for: Headers, monkeypatch: Any
) -> None:
    """When the view moves, a whole team's pages ask at once: one computes, all get its answer."""
    import asyncio
    import threading
    import time

    import httpx

    from api.app import create_app
    from projections.queries import Outcomes

    load(container, 30)
    container.mirror.catch_up()
    computed: list[int] = []
    real_team = Outcomes.team

    def slow_team(self: Outcomes, *args: Any, **kwargs: Any) -> Any:
        computed.append(threading.get_ident())
        time.sleep(0.2)  # long enough for every reader to arrive while it runs
        return real_team(self, *args, **kwargs)

    monkeypatch.setattr(Outcomes, "team", slow_team)
    app = create_app(container)
    headers = token_for("teamlead", "noord")

    async def ask_at_once(n: int) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://traject") as http:
            return await asyncio.gather(
                *(http.get("/v1/teams/noord/outcomes", headers=headers) for _ in range(n))
            )

    answers = asyncio.run(ask_at_once(12))
    assert [a.status_code for a in answers] == [200] * 12
    assert len({a.content for a in answers}) == 1
    assert len(computed) == 1
    again = asyncio.run(ask_at_once(3))  # kept: no computing at all
    assert [a.content for a in again] == [answers[0].content] * 3
    assert len(computed) == 1
