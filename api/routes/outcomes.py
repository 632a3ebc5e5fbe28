"""The team mirror: outcomes per team and month, the municipality, and ladder flows.

JSON by default; `Accept: text/csv` gives the same figures as CSV. There is no caseworker
dimension, and no parameter can ask for one.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from api.auth import Caller, Principal, needs, outcome_viewer
from api.deps import KnownTeam, Wiring
from api.outcome_schemas import FlowsOut, MonthOut, MunicipalityOutcomesOut, TeamOutcomesOut, as_csv
from infra.container import Container
from projections.months import month_of, parse_month
from projections.queries import Month, Outcomes, Viewer
from projections.suppression import MUNICIPALITY

router = APIRouter(prefix="/v1", tags=["outcomes"])
FIRST_MONTH = "2000-01"  # the first month the mirror answers for
MONTH = r"^[2-9]\d{3}-(0[1-9]|1[0-2])$"  # YYYY-MM from FIRST_MONTH on; up to this month is checked
MAX_MONTHS = 60


@dataclass(frozen=True)
class Range:
    """The shared query parameters: which months, and read-your-writes.

    N for sustained exits is configuration, not a parameter: answers for several N side by side
    would show small differences that suppression hides in each.
    """

    first: str | None
    last: str | None
    min_position: int | None
    timeout: float

    def months(self, this_month: str) -> tuple[str, str]:
        """The months asked for: `to` (default this month) and `from` (default eleven before it)."""
        last = self.last or this_month
        if last > this_month:
            _invalid("to", f"months run from {FIRST_MONTH} to this month ({this_month})")
        first = self.first or max(_months_before(last, 11), FIRST_MONTH)
        if first > last:
            _invalid("from", "from must not be after to")
        if _span(first, last) > MAX_MONTHS:
            _invalid("from", f"ask for at most {MAX_MONTHS} months at a time")
        return first, last


async def asked(
    from_: Annotated[
        str | None,
        Query(alias="from", pattern=MONTH, description=f"First month, YYYY-MM, {FIRST_MONTH} to this month."),
    ] = None,
    to: Annotated[
        str | None, Query(pattern=MONTH, description=f"Last month, YYYY-MM, {FIRST_MONTH} to this month.")
    ] = None,
    min_position: Annotated[
        int | None,
        Query(
            ge=0,
            description="Wait until the figures reflect this position. A caller may have a few "
            "requests waiting at once, the service a bounded number; beyond that, and when "
            "`timeout` passes first, the answer is 503 with Retry-After.",
        ),
    ] = None,
    timeout: Annotated[float, Query(gt=0, le=30, description="Seconds to wait for min_position.")] = 5.0,
) -> Range:
    """The Range a request asks for. A function, and async: FastAPI builds a class dependency in its
    threadpool, and a request whose answer is kept should not wait for a thread to be parsed."""
    return Range(from_, to, min_position, timeout)


Asked = Annotated[Range, Depends(asked)]


def _invalid(name: str, reason: str) -> NoReturn:
    """Refuse a query parameter as the request's validation would (one mapping: api/problems.py)."""
    raise RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": reason}])


@dataclass(frozen=True)
class Ask:
    """One question to the mirror, settled: which months, for whom, at which position, as what."""

    outcomes: Outcomes
    viewer: Viewer
    first: str
    last: str
    position: int
    csv: bool

    def key(self, path: str) -> tuple[Any, ...]:
        o = self.outcomes
        return (
            path,
            self.first,
            self.last,
            o.sustained_months,
            o.k,
            o.today,
            self.position,
            self.viewer,
            self.csv,
        )

    def reflecting(self, scopes: list[str]) -> dict[str, Any]:
        v = self.viewer
        return {
            "position": self.position,
            "exact": v.sees_all_exact or all(s in v.exact_teams for s in scopes),
            "k": self.outcomes.k,
            "sustained_months": self.outcomes.sustained_months,
            "first": self.first,
            "last": self.last,
        }


class Answers:
    """Finished answers by everything they depend on, the view's position included.

    The figures change only when the view moves, so a team lead's page asked again (or by the
    whole team) is answered from here until the next event is projected. When the view moves,
    the many readers who ask at once wait for one computation of the new answer, not one each.

    Answers are computed on a few threads of their own, not in the shared threadpool: a crowd of
    new questions (every window of months is another) then queues here, holding no thread, and
    cannot hold up the journey reads there. Computing is mostly Python: more threads than a few
    would only take turns at the interpreter lock.
    """

    def __init__(self, size: int = 512, threads: int = 4) -> None:
        self._found: OrderedDict[tuple[Any, ...], tuple[bytes, str]] = OrderedDict()
        self._size = size
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="outcomes")
        self._computing: dict[tuple[Any, ...], asyncio.Future[tuple[bytes, str]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_this_loop(self) -> None:
        """Work in flight belongs to one event loop; an app served again (tests) starts afresh."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._computing = loop, {}

    async def get(self, key: tuple[Any, ...], build: Callable[[], Response]) -> Response:
        found = self._found.get(key)
        if found is not None:
            self._found.move_to_end(key)
        else:
            self._on_this_loop()
            computing = self._computing.get(key)
            if computing is None:
                computing = asyncio.get_running_loop().run_in_executor(self._threads, self._build, build)
                self._computing[key] = computing
                computing.add_done_callback(lambda done: self._computed(key, done))
            found = await asyncio.shield(computing)
        return Response(found[0], media_type=found[1])

    @staticmethod
    def _build(build: Callable[[], Response]) -> tuple[bytes, str]:
        answer = build()
        return bytes(answer.body), answer.media_type or "application/json"

    def _computed(self, key: tuple[Any, ...], done: asyncio.Future[tuple[bytes, str]]) -> None:
        """On the event loop, as every use of this object: no lock is needed."""
        self._computing.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return  # each reader waiting on it got the error; the next one computes afresh
        self._found[key] = done.result()
        while len(self._found) > self._size:
            self._found.popitem(last=False)


async def _answer(
    request: Request, caller: Principal, wiring: Container, r: Range, build: Callable[[Ask], Response]
) -> Response:
    """On the event loop while nothing has to be read (the position is fresh, the answer kept);
    reading the view's position or computing an answer goes to a worker thread, once for all;
    waiting for a position holds no thread. The months are checked before anything is waited for."""
    answers: Answers = request.app.state.__dict__.setdefault("outcome_answers", Answers())
    today = wiring.today()
    first, last = r.months(month_of(today))
    position = await _position(wiring, r, caller)
    s = wiring.settings
    outcomes = Outcomes(
        wiring.mirror.view,
        k=s.small_cell_k,
        sustained_months=s.sustained_months,
        today=today,
    )
    csv = "text/csv" in request.headers.get("accept", "")
    ask = Ask(outcomes, outcome_viewer(caller), first, last, position, csv)
    return await answers.get(ask.key(request.url.path), lambda: build(ask))


async def _position(wiring: Container, r: Range, caller: Principal) -> int:
    """The position to answer at: fresh if read a moment ago (no await); else as the container says
    (infra/position_watch.py): the position is read by one reader at a time, the others meanwhile
    answered as of the position read last (a moment old at most, and said in the answer); a reader
    who named a position waits for it holding no thread, if the bounds let it wait."""
    fresh = wiring.fresh_position(r.min_position)
    if fresh is not None:
        return fresh
    return await wiring.position(r.min_position, r.timeout, caller.subject)


def _span(first: str, last: str) -> int:
    (y1, m1), (y2, m2) = parse_month(first), parse_month(last)
    return (y2 - y1) * 12 + m2 - m1 + 1


def _months_before(month: str, n: int) -> str:
    y, m = parse_month(month)
    index = y * 12 + m - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


def _csv(scoped: list[tuple[str, list[Month]]]) -> Response:
    return Response(as_csv(scoped), media_type="text/csv")


def _responses(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "model": model,
            "content": {"text/csv": {}},
            "description": "JSON, or CSV with Accept: text/csv",
        },
        503: {
            "content": {"application/problem+json": {}},
            "description": "Come back after Retry-After seconds: the figures do not reflect min_position "
            "within timeout, too many requests already wait for a position, or the store is busy",
        },
    }


@router.get(
    "/teams/{team}/outcomes", openapi_extra=needs("outcomes:read"), responses=_responses(TeamOutcomesOut)
)
async def team_outcomes(
    team: KnownTeam, caller: Caller, wiring: Wiring, request: Request, r: Asked
) -> Response:
    """A team's mirror per month: exact for the team itself, small cells suppressed for others."""

    def build(a: Ask) -> Response:
        months = a.outcomes.team(team, a.first, a.last, a.viewer)
        if a.csv:
            return _csv([(team, months)])
        return _json(
            TeamOutcomesOut(team=team, months=[MonthOut.of(m) for m in months], **a.reflecting([team]))
        )

    return await _answer(request, caller, wiring, r, build)


@router.get("/outcomes", openapi_extra=needs("outcomes:read"), responses=_responses(MunicipalityOutcomesOut))
async def municipality_outcomes(caller: Caller, wiring: Wiring, request: Request, r: Asked) -> Response:
    """The municipality's figures, and every team's beside them, with small-cell protection."""

    def build(a: Ask) -> Response:
        scoped = a.outcomes.municipality(a.first, a.last, a.viewer)
        total = scoped.pop(MUNICIPALITY)
        if a.csv:
            return _csv([("municipality", total), *sorted(scoped.items())])
        out = MunicipalityOutcomesOut(
            municipality=wiring.settings.municipality,
            months=[MonthOut.of(m) for m in total],
            teams={t: [MonthOut.of(m) for m in ms] for t, ms in sorted(scoped.items())},
            **a.reflecting([MUNICIPALITY]),
        )
        return _json(out)

    return await _answer(request, caller, wiring, r, build)


@router.get("/teams/{team}/flows", openapi_extra=needs("outcomes:read"), responses=_responses(FlowsOut))
async def team_flows(team: KnownTeam, caller: Caller, wiring: Wiring, request: Request, r: Asked) -> Response:
    """Ladder flows per month: how many steps went from each rung to each other rung."""

    def build(a: Ask) -> Response:
        months = [_only_flows(m) for m in a.outcomes.team(team, a.first, a.last, a.viewer)]
        if a.csv:
            return _csv([(team, months)])
        return _json(FlowsOut(team=team, months=[MonthOut.of(m) for m in months], **a.reflecting([team])))

    return await _answer(request, caller, wiring, r, build)


def _only_flows(m: Month) -> Month:
    keep = {k: f for k, f in m.figures.items() if k.startswith(("flow.", "steps_"))}
    return Month(m.month, m.complete, keep)
