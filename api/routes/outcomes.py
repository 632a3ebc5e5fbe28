"""The team mirror: outcomes per team and month, the municipality, and ladder flows.

JSON by default; `Accept: text/csv` gives the same figures as CSV. There is no caseworker
dimension, and no parameter can ask for one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from api.auth import Caller, Principal, needs
from api.deps import Wiring
from api.outcome_schemas import FlowsOut, MonthOut, MunicipalityOutcomesOut, TeamOutcomesOut, as_csv
from infra.container import Container
from projections.months import month_of, parse_month
from projections.queries import Month, Outcomes, Viewer
from projections.suppression import MUNICIPALITY

router = APIRouter(prefix="/v1", tags=["outcomes"])
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class Range:
    """The shared query parameters: which months, N for sustained exits, and read-your-writes."""

    def __init__(
        self,
        from_: Annotated[
            str | None, Query(alias="from", pattern=MONTH, description="First month, YYYY-MM.")
        ] = None,
        to: Annotated[str | None, Query(pattern=MONTH, description="Last month, YYYY-MM.")] = None,
        sustained_months: Annotated[int | None, Query(ge=1, le=36)] = None,
        min_position: Annotated[
            int | None, Query(ge=0, description="Wait until the figures reflect this position.")
        ] = None,
        timeout: Annotated[float, Query(gt=0, le=30, description="Seconds to wait for min_position.")] = 5.0,
    ) -> None:
        self.first, self.last = from_, to
        self.sustained_months = sustained_months
        self.min_position, self.timeout = min_position, timeout


def _viewer(caller: Principal) -> Viewer:
    if caller.role == "auditor":
        return Viewer(sees_all_exact=True)
    if caller.role in ("caseworker", "teamlead"):
        return Viewer(exact_teams=caller.teams)
    return Viewer()


def _ask(wiring: Container, r: Range) -> tuple[Outcomes, str, str, int]:
    position = wiring.await_position(r.min_position, r.timeout)
    today = wiring.today()
    last = r.last or month_of(today)
    first = r.first or _months_before(last, 11)
    if first > last:
        raise HTTPException(422, "from must not be after to")
    s = wiring.settings
    n = r.sustained_months or s.sustained_months
    return (
        Outcomes(wiring.mirror.view, k=s.small_cell_k, sustained_months=n, today=today),
        first,
        last,
        position,
    )


def _months_before(month: str, n: int) -> str:
    y, m = parse_month(month)
    index = y * 12 + m - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _exact(viewer: Viewer, scopes: list[str]) -> bool:
    return viewer.sees_all_exact or all(s in viewer.exact_teams for s in scopes)


def _csv(request: Request) -> bool:
    return "text/csv" in request.headers.get("accept", "")


CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with Accept: text/csv"}
}


@router.get(
    "/teams/{team}/outcomes", openapi_extra=needs("outcomes:read"), responses=CSV, response_model=None
)
def team_outcomes(
    team: str, caller: Caller, wiring: Wiring, request: Request, r: Annotated[Range, Depends()]
) -> TeamOutcomesOut | Response:
    """A team's mirror per month: exact for the team itself, small cells suppressed for others."""
    outcomes, first, last, position = _ask(wiring, r)
    viewer = _viewer(caller)
    months = outcomes.team(team, first, last, viewer)
    if _csv(request):
        return Response(as_csv([(team, months)]), media_type="text/csv")
    return TeamOutcomesOut(
        team=team,
        months=[MonthOut.of(m) for m in months],
        **_reflecting(outcomes, viewer, [team], first=first, last=last, position=position),
    )


@router.get("/outcomes", openapi_extra=needs("outcomes:read"), responses=CSV, response_model=None)
def municipality_outcomes(
    caller: Caller, wiring: Wiring, request: Request, r: Annotated[Range, Depends()]
) -> MunicipalityOutcomesOut | Response:
    """The municipality's figures, and every team's beside them, with small-cell protection."""
    outcomes, first, last, position = _ask(wiring, r)
    viewer = _viewer(caller)
    scoped = outcomes.municipality(first, last, viewer)
    total = scoped.pop(MUNICIPALITY)
    if _csv(request):
        return Response(as_csv([("municipality", total), *sorted(scoped.items())]), media_type="text/csv")
    return MunicipalityOutcomesOut(
        municipality=wiring.settings.municipality,
        months=[MonthOut.of(m) for m in total],
        teams={t: [MonthOut.of(m) for m in ms] for t, ms in sorted(scoped.items())},
        **_reflecting(outcomes, viewer, [MUNICIPALITY], first=first, last=last, position=position),
    )


@router.get("/teams/{team}/flows", openapi_extra=needs("outcomes:read"), responses=CSV, response_model=None)
def team_flows(
    team: str, caller: Caller, wiring: Wiring, request: Request, r: Annotated[Range, Depends()]
) -> FlowsOut | Response:
    """Ladder flows per month: how many steps went from each rung to each other rung."""
    outcomes, first, last, position = _ask(wiring, r)
    viewer = _viewer(caller)
    months = [_only_flows(m) for m in outcomes.team(team, first, last, viewer)]
    if _csv(request):
        return Response(as_csv([(team, months)]), media_type="text/csv")
    return FlowsOut(
        team=team,
        months=[MonthOut.of(m) for m in months],
        **_reflecting(outcomes, viewer, [team], first=first, last=last, position=position),
    )


def _only_flows(m: Month) -> Month:
    keep = {k: f for k, f in m.figures.items() if k.startswith(("flow.", "steps_"))}
    return Month(m.month, m.complete, keep)


def _reflecting(
    outcomes: Outcomes, viewer: Viewer, scopes: list[str], *, first: str, last: str, position: int
) -> dict[str, Any]:
    return {
        "position": position,
        "exact": _exact(viewer, scopes),
        "k": outcomes.k,
        "sustained_months": outcomes.sustained_months,
        "first": first,
        "last": last,
    }
