"""The team mirror (docs/outcomes.md): what one journey contributes to its teams' monthly counts.

A journey's contribution is a pure function of its timeline, so a late or voided fact is handled by
folding the journey again and applying the difference to the team counts. Counts are keyed by
(team, month, figure, key); there is no caseworker anywhere in them.

Figures per team and month:
  active            open and held by the team on the month's last day
  rung/<r>          the active journeys by rung on that day
  moved_up          active journeys whose rung that day is above the rung a month earlier
  step_up, step_down, step_same, flow/<from>><to>   ladder steps dated in the month
  work_exit/<kind>  work exits dated in the month
  exit/<kind>|<day>|<months until work ended, or ->   the same exits, for sustained-exit queries
  reconnection/<kind>, started, closed/<reason>
  tail/<r>          from this month on the journey stays active at rung r (no later facts);
                    a reader adds the tails of all earlier months to `active` and `rung`
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any, TypeVar
from uuid import UUID

from domain.journey import Journey
from domain.timeline import (
    CLOSED,
    RECONNECTION,
    REOPENED,
    STARTED,
    STEP,
    TEAM_CHANGED,
    VOIDED,
    WORK_ENDED,
    WORK_EXIT,
    Entry,
    Timeline,
)
from projections.months import add_months, index_of, name_of

Key = tuple[str, str, str, str]  # team, month, figure, key
_K = TypeVar("_K")
NO_END = "-"


class PoisonEvent(Exception):
    """An event the mirror cannot place; the projection stops rather than skip it."""


def fold(timeline: Timeline) -> Counter[Key]:
    """Everything one journey contributes to the team counts, from its timeline alone."""
    tally = _MonthByMonth()
    entries = list(timeline)
    if entries:
        tally.add(entries)
    return Counter(tally.counts())


class Tally:
    """Team counts summed over journeys, each added from its timeline (a rebuild sums them all).

    Between two months with facts a journey stays as it was, so it adds one span (active at one
    rung, for one team, from one month up to another) rather than a count per month; spans are kept
    as the changes at their two ends and turned into months once, in `counts`.
    """

    def __init__(self) -> None:
        self.points: dict[Key, int] = {}
        self.edges: dict[tuple[str, int, int], int] = {}  # (team, rung, month index): change in active

    def add(self, entries: Sequence[Entry]) -> None:  # noqa: PLR0915 - flat on purpose: it runs per event
        """Add one journey, from its non-voided entries in timeline order."""
        points, get = self.points, self.points.get
        start = entries[0]
        team, rung, is_open = str(start.facts["team"]), int(start.facts["initial_rung"]), True
        day_teams = _day_teams(entries)
        ends = _work_end_dates(entries)
        n, i = len(entries), 0
        index = index_of(start.effective_date)
        key: Key
        while True:  # a month with facts, then the months without any up to the next one
            month, rung_before_month = name_of(index), rung
            while i < n:
                e = entries[i]
                day = e.effective_date
                if day.year * 12 + day.month - 1 != index:
                    break
                i += 1
                if day_teams:
                    team = day_teams.get(day, team)
                kind = e.kind
                if kind == STEP:
                    to = int(e.facts["to_rung"])
                    direction = "step_up" if to > rung else "step_down" if to < rung else "step_same"
                    key = (team, month, direction, "")
                    points[key] = get(key, 0) + 1
                    key = (team, month, "flow", f"{rung}>{to}")
                    points[key] = get(key, 0) + 1
                    rung = to
                elif kind == CLOSED:
                    is_open = False
                    key = (team, month, "closed", str(e.facts["reason"]))
                    points[key] = get(key, 0) + 1
                elif kind == REOPENED:
                    is_open = True
                elif kind == STARTED:
                    key = (team, month, "started", "")
                    points[key] = get(key, 0) + 1
                elif kind == WORK_EXIT:
                    exit_kind = str(e.facts["kind"])
                    key = (team, month, "work_exit", exit_kind)
                    points[key] = get(key, 0) + 1
                    ended = _months_until(day, ends.get(e.version))
                    key = (team, month, "exit", f"{exit_kind}|{day.day}|{ended}")
                    points[key] = get(key, 0) + 1
                elif kind == RECONNECTION:
                    key = (team, month, "reconnection", str(e.facts["kind"]))
                    points[key] = get(key, 0) + 1
            following = index_of(entries[i].effective_date) if i < n else index + 1
            if is_open:
                if rung > rung_before_month:
                    key = (team, month, "moved_up", "")
                    points[key] = get(key, 0) + 1
                self._span(team, rung, index, following)
            if i == n:
                break
            index = following
        if is_open:
            key = (team, name_of(index + 1), "tail", str(rung))
            points[key] = get(key, 0) + 1

    def _span(self, team: str, rung: int, first: int, end: int) -> None:
        """Active at `rung`, held by `team`, from month `first` up to (not including) `end`."""
        edges, get = self.edges, self.edges.get
        edges[team, rung, first] = get((team, rung, first), 0) + 1
        edges[team, rung, end] = get((team, rung, end), 0) - 1

    def merge(self, other: Tally) -> None:
        _sum_into(self.points, other.points)
        _sum_into(self.edges, other.edges)

    def counts(self) -> dict[Key, int]:
        """Every count held (none zero), the spans turned into months."""
        counts = {k: n for k, n in self.points.items() if n}
        changes: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for (team, rung, month), n in self.edges.items():
            changes.setdefault((team, rung), []).append((month, n))
        for (team, rung), at in changes.items():
            at.sort()
            active = 0
            for (month, n), (end, _) in pairwise(at):
                active += n
                for index in range(month, end) if active else ():
                    for key in (
                        (team, name_of(index), "active", ""),
                        (team, name_of(index), "rung", str(rung)),
                    ):
                        counts[key] = counts.get(key, 0) + active
        return counts


def _sum_into(mine: dict[_K, int], theirs: dict[_K, int]) -> None:
    get = mine.get
    for k, n in theirs.items():
        mine[k] = get(k, 0) + n


class _MonthByMonth(Tally):
    """One journey's counts: its spans go straight into months (there is nothing to sum them with)."""

    def _span(self, team: str, rung: int, first: int, end: int) -> None:
        points, get, figure = self.points, self.points.get, str(rung)
        for index in range(first, end):
            month = name_of(index)
            points[team, month, "active", ""] = get((team, month, "active", ""), 0) + 1
            points[team, month, "rung", figure] = get((team, month, "rung", figure), 0) + 1


def _day_teams(entries: Iterable[Entry]) -> dict[date, str]:
    """The team each day with a team change ends with (it holds the day's every fact)."""
    return {e.effective_date: str(e.facts["to_team"]) for e in entries if e.kind == TEAM_CHANGED}


def _work_end_dates(entries: Iterable[Entry]) -> dict[int, date]:
    """For each work exit (by version), the date of the first WorkEnded after it on the timeline."""
    ends: dict[int, date] = {}
    in_effect: list[int] = []
    for e in entries:
        if e.kind == WORK_EXIT:
            in_effect.append(e.version)
        elif e.kind == WORK_ENDED:
            ends.update(dict.fromkeys(in_effect, e.effective_date))
            in_effect.clear()
    return ends


def _months_until(exit_day: date, ended: date | None) -> str:
    """The fewest whole months n with `ended` on or before exit day + n months ('-' if never)."""
    if ended is None:
        return NO_END
    n = (ended.year - exit_day.year) * 12 + ended.month - exit_day.month
    n = max(n, 0)
    while n > 0 and ended <= add_months(exit_day, n - 1):
        n -= 1
    while ended > add_months(exit_day, n):
        n += 1
    return str(n)


@dataclass
class JourneyFold:
    """What the mirror keeps of one journey: its entries, voids, and last contribution."""

    entries: dict[int, Entry] = field(default_factory=dict)
    voided: set[int] = field(default_factory=set)
    counted: Counter[Key] = field(default_factory=Counter)

    def apply(self, event: object) -> None:
        if isinstance(event, Journey.Fact):
            self.add(event.entry())
        else:
            raise PoisonEvent(f"the mirror has no rule for {type(event).__qualname__}")

    def add(self, entry: Entry) -> None:
        """Take one entry of the journey (a void marks the entry it voids), with only the facts a
        fold reads: the client reference never enters a view, nor a runner's memory."""
        facts = entry.facts
        if entry.kind == VOIDED:
            self.voided.add(int(facts["voided_version"]))
        elif facts.keys() <= FOLDED:
            self.entries[entry.version] = entry
        else:
            self.entries[entry.version] = Entry(
                entry.version, entry.kind, entry.effective_date, _plain(facts)
            )

    def refold(self) -> Counter[Key]:
        """Fold again; return the change to the team counts since the last fold."""
        now = fold(self._timeline())
        delta = dict(now)
        get = delta.get
        for k, n in self.counted.items():
            delta[k] = get(k, 0) - n
        self.counted = now
        return Counter({k: n for k, n in delta.items() if n})

    def tally_into(self, tally: Tally) -> None:
        """Add what this journey counts to a sum over journeys (a rebuild: nothing to subtract)."""
        entries = list(self._timeline())
        if entries:
            tally.add(entries)

    def _timeline(self) -> Timeline:
        if 1 not in self.entries:
            raise PoisonEvent("a journey's facts arrived before its start")
        if not self.voided:
            return Timeline(self.entries.values())
        return Timeline(e for v, e in self.entries.items() if v not in self.voided)

    # Stored as JSON in the view. What it counted is not stored: a fold of the same entries gives
    # it again, and a row per journey stays small.
    def dump(self) -> dict[str, Any]:
        return {
            "entries": [
                [e.version, e.kind, e.effective_date.isoformat(), e.facts] for e in self.entries.values()
            ],
            "voided": sorted(self.voided),
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> JourneyFold:
        entries = {
            int(v): Entry(int(v), str(kind), date.fromisoformat(day), facts)
            for v, kind, day, facts in data["entries"]
        }
        loaded = cls(entries, {int(v) for v in data["voided"]})
        if entries:
            loaded.refold()
        return loaded


def _plain(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Only what the fold reads; the client reference never enters a view."""
    return {k: v for k, v in facts.items() if k in FOLDED}


FOLDED = frozenset({"team", "initial_rung", "to_rung", "to_team", "kind", "reason"})  # the facts a fold reads


def process(
    events: Iterable[object], load: Mapping[UUID, JourneyFold | None]
) -> tuple[Counter[Key], dict[UUID, JourneyFold]]:
    """Apply a batch of events; return the change to the counts and the journeys it touched.

    `load` gives the stored fold of each journey in the batch (None for a new one). Each journey is
    folded once per batch, however many of its events the batch holds.
    """
    touched: dict[UUID, JourneyFold] = {}
    for event in events:
        journey_id = getattr(event, "originator_id", None)
        if not isinstance(journey_id, UUID):
            raise PoisonEvent(f"{type(event).__qualname__} has no journey id")
        state = touched.get(journey_id) or load.get(journey_id) or JourneyFold()
        state.apply(event)
        touched[journey_id] = state
    delta: Counter[Key] = Counter()
    for state in touched.values():
        delta.update(state.refold())
    return Counter({k: n for k, n in delta.items() if n}), touched
