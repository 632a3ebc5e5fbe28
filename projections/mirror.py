"""The team mirror (DESIGN.md §4): what one journey contributes to its teams' monthly counts.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby
from typing import Any
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
from projections.months import add_months, end_of, index_of, name_of

Key = tuple[str, str, str, str]  # team, month, figure, key
NO_END = "-"


class PoisonEvent(Exception):
    """An event the mirror cannot place; the projection stops rather than skip it."""


def fold(timeline: Timeline) -> Counter[Key]:
    """Everything one journey contributes to the team counts, from its timeline alone."""
    entries = list(timeline)
    counts: Counter[Key] = Counter()
    if not entries:
        return counts
    start = entries[0]
    team, rung, is_open = str(start.facts["team"]), int(start.facts["initial_rung"]), True
    ends = _work_end_dates(entries)
    by_date = [(day, list(group)) for day, group in groupby(entries, key=_effective_date)]
    last_month = index_of(entries[-1].effective_date)
    i = 0
    rung_before_month = rung
    for index in range(index_of(start.effective_date), last_month + 1):
        month, end = name_of(index), end_of(index)
        while i < len(by_date) and by_date[i][0] <= end:
            day, group = by_date[i]
            i += 1
            team = next((str(e.facts["to_team"]) for e in reversed(group) if e.kind == TEAM_CHANGED), team)
            for e in group:
                if e.kind == STEP:
                    to = int(e.facts["to_rung"])
                    direction = "step_up" if to > rung else "step_down" if to < rung else "step_same"
                    counts[team, month, direction, ""] += 1
                    counts[team, month, "flow", f"{rung}>{to}"] += 1
                    rung = to
                elif e.kind == CLOSED:
                    is_open = False
                    counts[team, month, "closed", str(e.facts["reason"])] += 1
                elif e.kind == REOPENED:
                    is_open = True
                elif e.kind == STARTED:
                    counts[team, month, "started", ""] += 1
                elif e.kind == WORK_EXIT:
                    kind = str(e.facts["kind"])
                    counts[team, month, "work_exit", kind] += 1
                    counts[
                        team, month, "exit", f"{kind}|{day.day}|{_months_until(day, ends.get(e.version))}"
                    ] += 1
                elif e.kind == RECONNECTION:
                    counts[team, month, "reconnection", str(e.facts["kind"])] += 1
        if is_open:
            counts[team, month, "active", ""] += 1
            counts[team, month, "rung", str(rung)] += 1
            if rung > rung_before_month:
                counts[team, month, "moved_up", ""] += 1
        rung_before_month = rung
    if is_open:
        counts[team, name_of(last_month + 1), "tail", str(rung)] += 1
    return counts


def _effective_date(entry: Entry) -> date:
    return entry.effective_date


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
        """Take one entry of the journey (a void marks the entry it voids)."""
        if entry.kind == VOIDED:
            self.voided.add(int(entry.facts["voided_version"]))
        else:
            self.entries[entry.version] = entry

    def refold(self) -> Counter[Key]:
        """Fold again; return the change to the team counts since the last fold."""
        if 1 not in self.entries:
            raise PoisonEvent("a journey's facts arrived before its start")
        timeline = Timeline(e for v, e in self.entries.items() if v not in self.voided)
        now = fold(timeline)
        delta = Counter(now)
        delta.subtract(self.counted)
        self.counted = now
        return Counter({k: n for k, n in delta.items() if n})

    # Stored as JSON in the view. What it counted is not stored: a fold of the same entries gives
    # it again, and a row per journey stays small.
    def dump(self) -> dict[str, Any]:
        return {
            "entries": [
                [e.version, e.kind, e.effective_date.isoformat(), _plain(e.facts)]
                for e in self.entries.values()
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
    return {k: v for k, v in facts.items() if k in _FOLDED}


_FOLDED = {"team", "initial_rung", "to_rung", "to_team", "kind", "reason"}


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
