"""Reading the mirror: turn stored counts into the figures docs/outcomes.md defines, per team and month.

Pure functions over rows (team, month, figure, key, n); the SQL that fetches them lives in infra.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from domain.vocabulary import RUNGS, ReconnectionKind, WorkExitKind
from projections.mirror import NO_END
from projections.months import add_months, month_end, months

Row = tuple[str, str, str, str, int]  # team, month, figure, key, n

EXIT_KINDS = tuple(k.value for k in WorkExitKind)
RECONNECTION_KINDS = tuple(k.value for k in ReconnectionKind)


@dataclass
class MonthFigures:
    """The figures of one team (or the municipality) in one month; every value a count."""

    month: str
    complete: bool  # False while the month has not ended: its figures may still change
    active: int = 0
    rungs: dict[int, int] = field(default_factory=lambda: dict.fromkeys(RUNGS, 0))
    moved_up: int = 0
    steps_up: int = 0
    steps_down: int = 0
    steps_same: int = 0
    work_exits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXIT_KINDS, 0))
    sustained: int = 0  # exits with no work ended within N months, N months having passed
    ended_within: int = 0  # exits whose work ended within N months
    pending: int = 0  # exits whose N months have not yet passed
    reconnections: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RECONNECTION_KINDS, 0))
    started: int = 0
    closed: int = 0
    flows: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def work_exits_total(self) -> int:
        return sum(self.work_exits.values())

    @property
    def reconnections_total(self) -> int:
        return sum(self.reconnections.values())


def figures(
    rows: Iterable[Row], first: str, last: str, *, today: date, sustained_months: int
) -> dict[str, dict[str, MonthFigures]]:
    """Figures per team and month for months first..last, from count rows.

    `rows` must hold every row of the months first..last, and the `tail` rows of all months up to
    `last` (tails before `first` carry journeys that stay active into the range).
    """
    by_team: dict[str, dict[str, MonthFigures]] = defaultdict(dict)
    tails: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    span = list(months(first, last))

    def cell(team: str, month: str) -> MonthFigures:
        found = by_team[team].get(month)
        if found is None:
            found = by_team[team][month] = MonthFigures(month, month_end(month) < today)
        return found

    for team, month, figure, key, n in rows:
        if figure == "tail":
            tails[team][month][int(key)] += n
            continue
        if not first <= month <= last:
            continue
        _add(cell(team, month), figure, key, n, today=today, sustained_months=sustained_months)
    for team, by_month in tails.items():
        carried = dict.fromkeys(RUNGS, 0)
        for month in sorted(by_month):
            if month < first:
                for r, n in by_month[month].items():
                    carried[r] += n
        for month in span:
            for r, n in by_month.get(month, {}).items():
                carried[r] += n
            if any(carried.values()):
                f = cell(team, month)
                for r, n in carried.items():
                    f.rungs[r] += n
                    f.active += n
    for team in by_team:
        for month in span:
            cell(team, month)
    return {team: dict(sorted(ms.items())) for team, ms in by_team.items()}


def _add(f: MonthFigures, figure: str, key: str, n: int, *, today: date, sustained_months: int) -> None:
    if figure == "active":
        f.active += n
    elif figure == "rung":
        f.rungs[int(key)] += n
    elif figure == "moved_up":
        f.moved_up += n
    elif figure == "step_up":
        f.steps_up += n
    elif figure == "step_down":
        f.steps_down += n
    elif figure == "step_same":
        f.steps_same += n
    elif figure == "flow":
        source, _, target = key.partition(">")
        move = (int(source), int(target))
        f.flows[move] = f.flows.get(move, 0) + n
    elif figure == "work_exit":
        f.work_exits[key] = f.work_exits.get(key, 0) + n
    elif figure == "exit":
        _, day, until = key.split("|")
        if until != NO_END and int(until) <= sustained_months:
            f.ended_within += n
        else:
            y, m = int(f.month[:4]), int(f.month[5:])
            decided_on = add_months(date(y, m, int(day)), sustained_months)
            if decided_on < today:
                f.sustained += n
            else:
                f.pending += n
    elif figure == "reconnection":
        f.reconnections[key] = f.reconnections.get(key, 0) + n
    elif figure == "started":
        f.started += n
    elif figure == "closed":
        f.closed += n


def total(
    per_team: dict[str, dict[str, MonthFigures]], span: Iterable[str], today: date
) -> dict[str, MonthFigures]:
    """The municipality: the same figures, summed over teams."""
    result = {m: MonthFigures(m, month_end(m) < today) for m in span}
    for by_month in per_team.values():
        for month, f in by_month.items():
            if month in result:
                _sum_into(result[month], f)
    return result


def _sum_into(into: MonthFigures, f: MonthFigures) -> None:
    for name in (
        "active",
        "moved_up",
        "steps_up",
        "steps_down",
        "steps_same",
        "sustained",
        "ended_within",
        "pending",
        "started",
        "closed",
    ):
        setattr(into, name, getattr(into, name) + getattr(f, name))
    for name in ("rungs", "work_exits", "reconnections", "flows"):
        target: dict[object, int] = getattr(into, name)
        for k, n in getattr(f, name).items():
            target[k] = target.get(k, 0) + n
