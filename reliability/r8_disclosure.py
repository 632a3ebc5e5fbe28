"""R8: no viewer can pin a hidden cell of the demo caseload to 1..k-1 (reliability/disclosure.py).

The demo caseload (`traject demo`: 3 teams, 600 journeys, two years; in quick mode 200 journeys
over one year) goes into a fresh SQLite store; then, for every viewer (an outsider, a member of each
team, a member of each two teams), the audit takes every cell `Outcomes` publishes to that viewer
over the whole span and asks an integer program how far each hidden cell can move.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from infra.container import build
from infra.settings import Settings
from projections.months import month_of
from projections.outcomes import Row
from projections.queries import Outcomes
from reliability.disclosure import Report, audit_viewer, viewers
from reliability.recipe import Env, Recipe, Result
from services.caseload import TEAMS, caseload

K = 5
SUSTAINED = 6


class Rows:
    """The mirror's rows, read once: every viewer's questions are answered from them."""

    def __init__(self, rows: list[Row]) -> None:
        self.all = rows

    def rows(self, first: str, last: str, team: str | None = None) -> list[Row]:
        return [r for r in self.all if team is None or r[0] == team]


def demo_rows(work: Path, journeys: int, years: int, today: date, seed: int = 7) -> Rows:
    """The demo caseload recorded in a fresh SQLite store under `work`, projected, as count rows."""
    settings = Settings(
        store="sqlite",
        data_dir=work / "r8",
        jwt_secret="r8-secret-of-sufficient-length-0123456789",  # noqa: S106 - a throwaway store
        pseudonym_key="r8-pseudonym-key",
        municipality="Demo",
        teams=",".join(TEAMS),  # the demo's teams, registered as `traject demo` does
    )
    container = build(settings)
    try:
        batch = []
        for items in caseload(journeys=journeys, today=today, years=years, seed=seed):
            batch.extend(items)
            if len(batch) >= 500:
                container.journeys.record_batch(batch)
                batch = []
        if batch:
            container.journeys.record_batch(batch)
        container.mirror.catch_up()
        return Rows(container.mirror.view.rows("0001-01", month_of(today)))
    finally:
        container.close()


def audit_all(
    outcomes: Outcomes, first: str, last: str, teams: list[str], *, each_team: bool = True
) -> tuple[int, Report]:
    """The audit for every viewer; how many viewers, and the summed report."""
    total = Report()
    found = viewers(teams)
    for viewer in found:
        total.add(audit_viewer(outcomes, first, last, viewer, each_team=each_team))
    return len(found), total


def run(env: Env) -> Result:
    started = time.perf_counter()
    today = date.today()
    journeys, years = (200, 1) if env.quick else (600, 2)
    source = demo_rows(env.work, journeys, years, today)
    last = month_of(today)
    first = min(r[1] for r in source.all)
    outcomes = Outcomes(source, k=K, sustained_months=SUSTAINED, today=today)
    teams = sorted({r[0] for r in source.all})
    count, report = audit_all(outcomes, first, last, teams)
    months = len({r[1] for r in source.all if first <= r[1] <= last})
    return Result(
        "R8",
        holds=not report.pinned,
        figures={
            "journeys": journeys,
            "viewers": count,
            "months": months,
            "published_cells": report.published,
            "suppressed_cells": report.suppressed,
            "checked": report.checked,
            "pinned": len(report.pinned),
            "seconds": round(time.perf_counter() - started, 2),
        },
        failures=[f"{p.cell} = {p.value} is pinned to {p.low:g}..{p.high:g}" for p in report.pinned[:20]],
    )


RECIPE = Recipe(
    name="R8",
    fault="a viewer combines every table they can see (outcomes, flows, the municipality and its "
    "teams, every month), knowing their own team exactly",
    must_hold="no hidden cell is pinned to 1..k-1 by linear reasoning over what the viewer sees",
    run=run,
    proves="the suppression pattern of the demo caseload withstands every relation the audit models "
    "(docs/disclosure.md), for an outsider and for members of one or two teams",
    does_not_prove="safety against knowledge from outside the published tables, or against "
    "comparing releases at different positions as the figures change",
)
