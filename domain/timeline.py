"""The timeline of a journey: its non-voided facts in the order of the dates they are about.

Facts arrive late and out of order, so every question about a journey ("which rung on 31 March?",
"was it open then?") is answered from the timeline, never from the order of recording. Within one
date, facts keep their recording order, except that a reopening comes first and a closure last:
a closure takes effect at the end of its day, so a fact about that same day still counts.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, NamedTuple

from domain.errors import Conflict, JourneyClosedError, NotClosedError, NoWorkToEndError

STARTED = "Started"
STEP = "LadderStepRecorded"
WORK_EXIT = "WorkExitRecorded"
WORK_ENDED = "WorkEnded"
RECONNECTION = "SocialReconnectionRecorded"
ASSESSMENT = "SelfRelianceAssessed"
TEAM_CHANGED = "TeamChanged"
CLOSED = "Closed"
REOPENED = "Reopened"
VOIDED = "EntryVoided"

FACT_KINDS = (
    STEP,
    WORK_EXIT,
    WORK_ENDED,
    RECONNECTION,
    ASSESSMENT,
    TEAM_CHANGED,
    CLOSED,
    REOPENED,
)
_RANK = {STARTED: 0, REOPENED: 1, CLOSED: 3}


class Entry(NamedTuple):
    """One recorded fact, as the timeline sees it (a tuple: replaying makes a thousand of them)."""

    version: int
    kind: str
    effective_date: date
    facts: Mapping[str, Any] = MappingProxyType({})

    @property
    def key(self) -> tuple[date, int, int]:
        return (self.effective_date, _RANK.get(self.kind, 2), self.version)


class Timeline:
    """Non-voided entries ordered by effective date, then rank, then recording order."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: list[Entry] = sorted(entries, key=lambda e: e.key)
        self._keys = [e.key for e in self._entries]

    @classmethod
    def replayed(cls, entries: Sequence[Entry]) -> Timeline:
        """The timeline a journey's entries leave behind: what applying its events one by one
        gives (voids, and the entries they void, left out), sorted once instead of inserted one by one."""
        voided = {e.facts["voided_version"] for e in entries if e.kind == VOIDED}
        return cls(e for e in entries if e.kind != VOIDED and e.version not in voided)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def with_entry(self, entry: Entry) -> Timeline:
        copy = Timeline.__new__(Timeline)
        i = bisect.bisect(self._keys, entry.key)
        copy._entries = [*self._entries[:i], entry, *self._entries[i:]]
        copy._keys = [*self._keys[:i], entry.key, *self._keys[i:]]
        return copy

    def add(self, entry: Entry) -> None:
        """Insert in place (the aggregate's own timeline, as events are applied)."""
        i = bisect.bisect(self._keys, entry.key)
        self._entries.insert(i, entry)
        self._keys.insert(i, entry.key)

    def remove(self, version: int) -> None:
        i = next(i for i, e in enumerate(self._entries) if e.version == version)
        del self._entries[i], self._keys[i]

    def without(self, version: int) -> Timeline:
        return Timeline(e for e in self._entries if e.version != version)

    @property
    def start(self) -> Entry:
        return self._entries[0]

    def _until(self, day: date) -> list[Entry]:
        """Entries dated on or before `day`, in timeline order."""
        return self._entries[: bisect.bisect(self._keys, (day, 9, 0))]

    def rung_on(self, day: date) -> int:
        """The rung held at the end of `day`: the last step on or before it, else the initial one."""
        for e in reversed(self._until(day)):
            if e.kind == STEP:
                return int(e.facts["to_rung"])
        return int(self.start.facts["initial_rung"])

    def team_on(self, day: date) -> str:
        for e in reversed(self._until(day)):
            if e.kind == TEAM_CHANGED:
                return str(e.facts["to_team"])
        return str(self.start.facts["team"])

    def is_open_on(self, day: date) -> bool:
        """Open at the end of `day`: started by then, and not closed since the last reopening."""
        if day < self.start.effective_date:
            return False
        for e in reversed(self._until(day)):
            if e.kind in (CLOSED, REOPENED):
                return bool(e.kind == REOPENED)
        return True

    def rung_before(self, entry: Entry) -> int:
        """The rung the timeline held just before `entry` (which must be in it)."""
        i = bisect.bisect_left(self._keys, entry.key)
        for e in reversed(self._entries[:i]):
            if e.kind == STEP:
                return int(e.facts["to_rung"])
        return int(self.start.facts["initial_rung"])

    def first_violation(self) -> tuple[Entry, Conflict] | None:
        """Walk the timeline and return the first entry that breaks an ordering rule.

        The rules that depend on what came before on the timeline live here, so that a backdated
        fact and a void are checked in exactly the same way.
        """
        is_open = True
        in_work = False
        for e in self._entries[1:]:
            if e.kind == CLOSED:
                if not is_open:
                    return e, JourneyClosedError(
                        f"the journey is already closed on {e.effective_date}",
                        "effective_date",
                    )
                is_open = False
            elif e.kind == REOPENED:
                if is_open:
                    return e, NotClosedError(
                        f"the journey is not closed on {e.effective_date}",
                        "effective_date",
                    )
                is_open = True
            elif not is_open:
                return e, JourneyClosedError(
                    f"the journey is closed on {e.effective_date}; record a reopening first",
                    "effective_date",
                )
            elif e.kind == WORK_EXIT:
                in_work = True
            elif e.kind == WORK_ENDED:
                if not in_work:
                    return e, NoWorkToEndError(
                        f"no work exit is in effect on {e.effective_date}",
                        "effective_date",
                    )
                in_work = False
        return None

    def state_on(self, day: date) -> JourneyState:
        """Everything the timeline says about the journey at the end of `day`."""
        exits: list[WorkExit] = []
        assessments: dict[str, Entry] = {}
        for e in self._until(day):
            if e.kind == WORK_EXIT:
                exits.append(WorkExit(e.version, e.effective_date, dict(e.facts)))
            elif e.kind == WORK_ENDED and exits and exits[-1].ended_on is None:
                exits[-1] = WorkExit(
                    exits[-1].version,
                    exits[-1].effective_date,
                    exits[-1].facts,
                    e.effective_date,
                )
            elif e.kind == ASSESSMENT:
                assessments[str(e.facts["zrm_version"])] = e
        return JourneyState(
            day=day,
            team=self.team_on(day),
            rung=self.rung_on(day),
            is_open=self.is_open_on(day),
            work_exits=tuple(exits),
            assessments=assessments,
        )


@dataclass(frozen=True, slots=True)
class WorkExit:
    version: int
    effective_date: date
    facts: Mapping[str, Any]
    ended_on: date | None = None


@dataclass(frozen=True, slots=True)
class JourneyState:
    day: date
    team: str
    rung: int
    is_open: bool
    work_exits: tuple[WorkExit, ...]
    assessments: Mapping[str, Entry]  # the latest per ZRM version

    @property
    def in_work(self) -> bool:
        return bool(self.work_exits) and self.work_exits[-1].ended_on is None
