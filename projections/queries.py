"""The mirror's questions: a team's months, the municipality's months, and ladder flows.

Every answer goes through small-cell protection unless the viewer sees exact figures; a cell the
viewer may not see carries no value and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from projections.months import month_end, month_of, months, next_month, previous_month
from projections.outcomes import MonthFigures, Row, figures, total
from projections.suppression import MUNICIPALITY, cells, suppress


class CountsSource(Protocol):
    def rows(self, first: str, last: str, team: str | None = None) -> list[Row]: ...


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whose figures this viewer sees exactly: all (auditors), some teams (their own), or none."""

    exact_teams: frozenset[str] = frozenset()
    sees_all_exact: bool = False


@dataclass(frozen=True, slots=True)
class Figure:
    value: int | None
    suppressed: bool


@dataclass(frozen=True, slots=True)
class Month:
    month: str
    complete: bool
    figures: dict[str, Figure]


class Outcomes:
    def __init__(self, source: CountsSource, *, k: int, sustained_months: int, today: date) -> None:
        self.source = source
        self.k = k
        self.sustained_months = sustained_months
        self.today = today

    def team(self, team: str, first: str, last: str, viewer: Viewer) -> list[Month]:
        """One team's months."""
        if viewer.sees_all_exact or team in viewer.exact_teams:
            # Exact figures need no other team's rows and no suppression: fetch only this team's.
            span = list(months(first, last))
            rows = self.source.rows(first, last, team)
            by_month = figures(rows, first, last, today=self.today, sustained_months=self.sustained_months)
            mine = by_month.get(team, {})
            return [
                _month(team, mine.get(m) or MonthFigures(m, month_end(m) < self.today), set()) for m in span
            ]
        found = self.municipality(first, last, viewer).get(team)
        if found is None:  # no journeys in range: zeros, not an error
            found = [
                _month(team, MonthFigures(m, month_end(m) < self.today), set()) for m in months(first, last)
            ]
        return found

    def municipality(self, first: str, last: str, viewer: Viewer) -> dict[str, list[Month]]:
        """Every team's months, and the municipality's under MUNICIPALITY."""
        span = list(months(first, last))
        # The months around the span too: the municipality's rungs, flows, starts and closures of a
        # month are tied to its neighbours', and its pattern must fit them (projections.suppression).
        around = (previous_month(first), min(next_month(last), month_of(self.today)))
        per_team = figures(
            self.source.rows(*around),
            around[0],
            around[1],
            today=self.today,
            sustained_months=self.sustained_months,
        )
        summed = total(per_team, months(*around), self.today)
        result: dict[str, list[Month]] = {}
        for month in span:
            table = {team: by_month[month] for team, by_month in per_team.items()}
            table[MUNICIPALITY] = summed[month]
            hidden = set()
            if not viewer.sees_all_exact:
                around_month = (previous_month(month), next_month(month))
                nearby = frozenset(
                    team
                    for team, by_month in per_team.items()
                    if any(f in by_month and _counts(by_month[f]) for f in around_month)
                )
                hidden = suppress(
                    table,
                    self.k,
                    viewer.exact_teams,
                    before=summed[around_month[0]],
                    after=summed.get(around_month[1]),
                    nearby=nearby,
                )
            for scope, f in table.items():
                result.setdefault(scope, []).append(_month(scope, f, hidden))
        return result


def _counts(f: MonthFigures) -> bool:
    return any(cells(f).values())


def _month(scope: str, f: MonthFigures, hidden: set[tuple[str, str]]) -> Month:
    shown = {
        name: Figure(None, True) if (scope, name) in hidden else Figure(n, False)
        for name, n in cells(f).items()
    }
    return Month(f.month, f.complete, shown)
