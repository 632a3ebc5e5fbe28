"""The figures of docs/outcomes.md computed independently, from the definitions, for tests to compare."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from domain.timeline import CLOSED, RECONNECTION, STARTED, STEP, WORK_ENDED, WORK_EXIT, Timeline
from projections.months import add_months, month_end, month_of, months, previous_month
from projections.outcomes import MonthFigures


def oracle(
    timelines: Iterable[Timeline],
    teams: Iterable[str],
    first: str,
    last: str,
    *,
    today: date,
    sustained_months: int,
) -> dict[tuple[str, str], MonthFigures]:
    """docs/outcomes.md computed the plain way: every month asks every journey from scratch."""
    timelines = list(timelines)
    result: dict[tuple[str, str], MonthFigures] = {}
    for month in months(first, last):
        end, previous_end = month_end(month), month_end(previous_month(month))
        for team in teams:
            result[team, month] = MonthFigures(month, end < today)
        for tl in timelines:
            if tl.is_open_on(end):
                f = result.setdefault((tl.team_on(end), month), MonthFigures(month, end < today))
                f.active += 1
                f.rungs[tl.rung_on(end)] += 1
                if tl.rung_on(end) > tl.rung_on(previous_end):
                    f.moved_up += 1
            for e in tl:
                if month_of(e.effective_date) != month:
                    continue
                f = result.setdefault((tl.team_on(e.effective_date), month), MonthFigures(month, end < today))
                if e.kind == STEP:
                    before, to = tl.rung_before(e), int(e.facts["to_rung"])
                    f.steps_up += to > before
                    f.steps_down += to < before
                    f.steps_same += to == before
                    f.flows[before, to] = f.flows.get((before, to), 0) + 1
                elif e.kind == WORK_EXIT:
                    f.work_exits[e.facts["kind"]] += 1
                    window = add_months(e.effective_date, sustained_months)
                    after = list(tl)[list(tl).index(e) + 1 :]
                    if any(x.kind == WORK_ENDED and x.effective_date <= window for x in after):
                        f.ended_within += 1
                    elif window < today:
                        f.sustained += 1
                    else:
                        f.pending += 1
                elif e.kind == RECONNECTION:
                    f.reconnections[e.facts["kind"]] += 1
                elif e.kind == STARTED:
                    f.started += 1
                elif e.kind == CLOSED:
                    f.closed += 1
    return result
