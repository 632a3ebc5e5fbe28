"""The mirror's questions: a team's months, the municipality's months, and ladder flows.

Every answer goes through small-cell protection unless the viewer sees exact figures; a cell the
viewer may not see carries no value and says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from projections.months import month_end, month_of, months, next_month, previous_month
from projections.outcomes import MonthFigures, Row, figures, total
from projections.suppression import MUNICIPALITY, cells, suppress_history

EARLIEST = "0001-01"  # before any month the mirror counts
# The patterns of the last histories computed, by what they were computed from (the rows themselves:
# the same rows, at any position, give the same pattern). Windows, endpoints and one-team viewers
# asking at one position share one computation.
PATTERNS_KEPT = 8
_PATTERNS: dict[tuple[object, ...], dict[str, set[tuple[str, str]]]] = {}
_KEEPING = threading.Lock()


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
        now = month_of(self.today)
        # The whole history, not only the window: the municipality's months are tied by its stock
        # and flow, and a month's pattern may take cells of other months with it
        # (projections.suppression); computed over every month up to today, it is the same in every
        # window.
        rows = self.source.rows(EARLIEST, max(last, now))
        counted = [r[1] for r in rows]
        start = min([previous_month(first), *counted])
        end = max([last, now, *counted])
        per_team = figures(rows, start, end, today=self.today, sustained_months=self.sustained_months)
        summed = total(per_team, months(start, end), self.today)
        history = list(months(min(counted), max([now, *counted]))) if counted else []
        hidden: dict[str, set[tuple[str, str]]] = {}
        if history and not viewer.sees_all_exact:
            # An outsider and every one-team member share the pattern (their own cells are then
            # shown to them); a member of several teams has their own model on top.
            model = viewer.exact_teams if len(viewer.exact_teams) > 1 else frozenset()
            key = (self.k, self.sustained_months, self.today, model, frozenset(rows))
            with _KEEPING:
                patterns = _PATTERNS.get(key)
            if patterns is None:
                tables = [self._table(per_team, summed, month) for month in history]
                patterns = dict(zip(history, suppress_history(tables, self.k, model), strict=True))
                with _KEEPING:  # answers are computed in worker threads
                    _PATTERNS[key] = patterns
                    while len(_PATTERNS) > PATTERNS_KEPT:
                        _PATTERNS.pop(next(iter(_PATTERNS)))
            known = viewer.exact_teams
            hidden = {m: {c for c in cs if c[0] not in known} for m, cs in patterns.items()}
        # The teams the window (and the months beside it) has rows of, as an answer always listed.
        around = (previous_month(first), min(next_month(last), now))
        listed = {r[0] for r in rows if r[2] != "tail" and around[0] <= r[1] <= around[1]}
        listed |= {t for t, by_month in per_team.items() if any(by_month[m].active for m in months(*around))}
        listed |= {scope for month in span for scope, _ in hidden.get(month, ())}  # a run reached them
        result: dict[str, list[Month]] = {}
        for month in span:
            table = self._table(per_team, summed, month)
            for scope, f in table.items():
                if scope == MUNICIPALITY or scope in listed:
                    result.setdefault(scope, []).append(_month(scope, f, hidden.get(month, set())))
        return result

    @staticmethod
    def _table(
        per_team: dict[str, dict[str, MonthFigures]], summed: dict[str, MonthFigures], month: str
    ) -> dict[str, MonthFigures]:
        table = {team: by_month[month] for team, by_month in per_team.items()}
        table[MUNICIPALITY] = summed[month]
        return table


def _month(scope: str, f: MonthFigures, hidden: set[tuple[str, str]]) -> Month:
    shown = {
        name: Figure(None, True) if (scope, name) in hidden else Figure(n, False)
        for name, n in cells(f).items()
    }
    return Month(f.month, f.complete, shown)
