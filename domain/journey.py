"""The Journey aggregate (traject): one client's participation journey at one municipality.

Each command method checks the rules, then triggers a nested, past-tense event whose `apply` only
assigns. Rules that depend on the order of dates (open periods, work to end) are checked on the
timeline with the new fact in place, so a backdated fact is held to the same rules as a fresh one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date
from enum import Enum
from functools import cache, lru_cache
from typing import Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import (
    AlreadyVoidedError,
    BeforeStartError,
    Conflict,
    EntryNotFoundError,
    FutureDateError,
    IdempotencyConflict,
    InvalidRungError,
    InvalidValueError,
    InvalidZrmError,
    NotVoidableError,
    SameTeamError,
)
from domain.timeline import (
    FACT_KINDS,
    VOIDED,
    Entry,
    Timeline,
)
from domain.vocabulary import (
    RUNGS,
    ZRM_DOMAINS,
    ZRM_SCORES,
    CloseReason,
    Contract,
    ReconnectionKind,
    WorkEndReason,
    WorkExitKind,
)

_JOURNEY_NS = uuid5(NAMESPACE_URL, "urn:traject:journey")
MAX_HOURS_PER_WEEK = 80
EARLIEST_DATE = date(2000, 1, 1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # no journey this service records is older; earlier dates are typos
E = TypeVar("E", bound=Enum)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who records a fact, from where, under which idempotency key, and on which day."""

    event_id: UUID
    actor_id: str
    actor_role: str
    today: date  # the recording day in the municipality's calendar
    source: str = ""
    channel: str = "http"
    correlation_id: str = ""


@lru_cache(maxsize=4096)  # a batch asks twice per start: to lock the journey, then to make it
def journey_id_for(start_event_id: UUID) -> UUID:
    """The journey id a start with this client event id gets: a retried start finds its journey."""
    return uuid5(_JOURNEY_NS, str(start_event_id))


class Journey(Aggregate):
    class Fact(Aggregate.Event):
        """What every journey event carries besides its own facts."""

        event_id: UUID
        effective_date: date
        actor_id: str
        actor_role: str
        source: str
        channel: str
        correlation_id: str

        def entry(self) -> Entry:
            facts = {name: getattr(self, name) for name in own_fields(type(self))}
            return Entry(self.originator_version, type(self).__name__, self.effective_date, facts)

        def apply(self, aggregate: Any) -> None:
            aggregate._record(self.entry(), self.event_id)

    class Started(Fact, Aggregate.Created):
        client_ref: str
        municipality: str
        team: str
        initial_rung: int

        def apply(self, aggregate: Any) -> None:
            aggregate._begin(self.client_ref, self.municipality)
            aggregate._record(self.entry(), self.event_id)

    class LadderStepRecorded(Fact):
        to_rung: int

    class WorkExitRecorded(Fact):
        kind: str
        hours_per_week: float
        contract: str

    class WorkEnded(Fact):
        reason: str

    class SocialReconnectionRecorded(Fact):
        kind: str

    class SelfRelianceAssessed(Fact):
        zrm_version: str
        scores: dict[str, int]

    class TeamChanged(Fact):
        from_team: str
        to_team: str

    class Closed(Fact):
        reason: str

    class Reopened(Fact):
        """`note` is free text. Version 1 called it `reason`, the name a code from a fixed list has on
        `Closed` and `WorkEnded`: by name it read as a code, and views that keep codes kept it."""

        class_version = 2
        note: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["note"] = state.pop("reason")

    class EntryVoided(Fact):
        """A correction: the entry at `voided_version` was wrong. Nothing is ever edited."""

        voided_version: int
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._record(self.entry(), self.event_id)
            aggregate._void(self.voided_version)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """The library's trigger_event, built for speed: the event's frozen dataclass gets its whole
        state at once instead of field by field. Journey events are always given exactly their fields
        (checked; anything else goes through the dataclass, which names what is wrong)."""
        state = {
            **kwargs,
            "originator_id": self.id,
            "originator_version": self.version + 1,
            "timestamp": event_class.create_timestamp(),
        }
        if state.keys() == _field_names(event_class):
            event = object.__new__(event_class)
            object.__setattr__(event, "__dict__", state)
        else:
            event = event_class(**state)
        event.mutate(self)
        self._pending_events.append(event)

    # --- state (assigned by events only) -------------------------------------------------------

    def _begin(self, client_ref: str, municipality: str) -> None:
        self.client_ref = client_ref
        self.municipality = municipality
        self.entries: dict[int, Entry] = {}
        self.voided: set[int] = set()
        self.event_ids: dict[UUID, int] = {}
        self.timeline = Timeline()

    def _record(self, entry: Entry, event_id: UUID) -> None:
        self.entries[entry.version] = entry
        self.event_ids[event_id] = entry.version
        if entry.kind != VOIDED:
            self.timeline.add(entry)

    def _void(self, version: int) -> None:
        self.voided.add(version)
        self.timeline.remove(version)

    # --- commands ------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        client_ref: str,
        municipality: str,
        team: str,
        initial_rung: int,
        effective_date: date,
        by: Provenance,
    ) -> Journey:
        _require_text(client_ref, "client_ref")
        _require_text(municipality, "municipality")
        _require_text(team, "team")
        _require_rung(initial_rung, "initial_rung")
        _require_not_future(effective_date, by.today)
        return cls._create(
            cls.Started,
            id=journey_id_for(by.event_id),
            client_ref=client_ref,
            municipality=municipality,
            team=team,
            initial_rung=initial_rung,
            **_fact_fields(effective_date, by),
        )

    def check_start_replay(self, journey: Journey) -> None:
        """A start retried under the same event id must carry the same facts."""
        if self.entries[1] != journey.entries[1]:
            raise IdempotencyConflict("this event id started a journey with other facts", "event_id")

    def record_step(self, to_rung: int, effective_date: date, by: Provenance) -> int:
        _require_rung(to_rung, "to_rung")
        return self._admit(self.LadderStepRecorded, effective_date, by, to_rung=to_rung)

    def record_work_exit(
        self,
        kind: str,
        hours_per_week: float,
        contract: str,
        effective_date: date,
        by: Provenance,
    ) -> int:
        kind = _require_enum(WorkExitKind, kind, "kind")
        contract = _require_enum(Contract, contract, "contract")
        if isinstance(hours_per_week, bool) or not 0 < hours_per_week <= MAX_HOURS_PER_WEEK:
            raise InvalidValueError(
                f"hours per week must be above 0 and at most {MAX_HOURS_PER_WEEK}",
                "hours_per_week",
            )
        return self._admit(
            self.WorkExitRecorded,
            effective_date,
            by,
            kind=kind,
            hours_per_week=float(hours_per_week),
            contract=contract,
        )

    def record_work_ended(self, reason: str, effective_date: date, by: Provenance) -> int:
        reason = _require_enum(WorkEndReason, reason, "reason")
        return self._admit(self.WorkEnded, effective_date, by, reason=reason)

    def record_reconnection(self, kind: str, effective_date: date, by: Provenance) -> int:
        kind = _require_enum(ReconnectionKind, kind, "kind")
        return self._admit(self.SocialReconnectionRecorded, effective_date, by, kind=kind)

    def assess_self_reliance(
        self,
        zrm_version: str,
        scores: dict[str, int],
        effective_date: date,
        by: Provenance,
    ) -> int:
        domains = ZRM_DOMAINS.get(zrm_version)
        if domains is None:
            versions = ", ".join(ZRM_DOMAINS)
            raise InvalidZrmError(f"ZRM version must be one of {versions}", "zrm_version")
        if not scores:
            raise InvalidZrmError("an assessment scores at least one domain", "scores")
        for domain, score in scores.items():
            if domain not in domains:
                raise InvalidZrmError(
                    f"'{domain}' is not a domain of ZRM {zrm_version}",
                    f"scores.{domain}",
                )
            if isinstance(score, bool) or score not in ZRM_SCORES:
                raise InvalidZrmError("a ZRM score is 1 to 5", f"scores.{domain}")
        return self._admit(
            self.SelfRelianceAssessed,
            effective_date,
            by,
            zrm_version=zrm_version,
            scores=dict(scores),
        )

    def change_team(self, to_team: str, effective_date: date, by: Provenance) -> int:
        _require_text(to_team, "to_team")
        if by.event_id in self.event_ids:
            return self._replay(self.TeamChanged, by, effective_date=effective_date, to_team=to_team)
        self._check_date(effective_date, by.today)
        from_team = self.timeline.team_on(effective_date)
        if from_team == to_team:
            raise SameTeamError(f"the journey is held by {to_team} on {effective_date}", "to_team")
        return self._admit(self.TeamChanged, effective_date, by, from_team=from_team, to_team=to_team)

    def close(self, reason: str, effective_date: date, by: Provenance) -> int:
        reason = _require_enum(CloseReason, reason, "reason")
        return self._admit(self.Closed, effective_date, by, reason=reason)

    def reopen(self, note: str, effective_date: date, by: Provenance) -> int:
        return self._admit(self.Reopened, effective_date, by, note=note.strip())

    def void(self, version: int, reason: str, by: Provenance) -> int:
        """Void an earlier entry: it counts as if it never happened, and stays in the history."""
        _require_text(reason, "reason")
        if by.event_id in self.event_ids:
            return self._replay(self.EntryVoided, by, voided_version=version, reason=reason)
        target = self.entries.get(version)
        if target is None:
            raise EntryNotFoundError(f"this journey has no entry {version}", "voided_version")
        if target.kind not in FACT_KINDS:
            raise NotVoidableError(f"a {target.kind} entry cannot be voided", "voided_version")
        if version in self.voided:
            raise AlreadyVoidedError(f"entry {version} is already voided", "voided_version")
        violation = self.timeline.without(version).first_violation()
        if violation is not None:
            entry, error = violation
            raise type(error)(
                f"voiding entry {version} would leave entry {entry.version} ({entry.kind} on "
                f"{entry.effective_date}) invalid: {error.detail}",
                "voided_version",
            )
        self.trigger_event(
            self.EntryVoided,
            voided_version=version,
            reason=reason,
            **_fact_fields(max(by.today, self.start_date), by),
        )
        return self.version

    # --- queries -------------------------------------------------------------------------------

    @property
    def team(self) -> str:
        return self.timeline.team_on(date.max)

    @property
    def rung(self) -> int:
        return self.timeline.rung_on(date.max)

    @property
    def is_open(self) -> bool:
        return self.timeline.is_open_on(date.max)

    @property
    def start_date(self) -> date:
        return self.timeline.start.effective_date

    # --- the checks every fact goes through ----------------------------------------------------

    def _admit(
        self,
        event_class: type[Fact],
        effective_date: date,
        by: Provenance,
        **facts: Any,
    ) -> int:
        if by.event_id in self.event_ids:
            return self._replay(event_class, by, effective_date=effective_date, **facts)
        self._check_date(effective_date, by.today)
        new = Entry(self.version + 1, event_class.__name__, effective_date, facts)
        violation = self.timeline.with_entry(new).first_violation()
        if violation is not None:
            entry, error = violation
            if entry.version == new.version:
                raise error
            raise type(error)(
                f"a {new.kind} on {effective_date} would leave entry {entry.version} "
                f"({entry.kind} on {entry.effective_date}) invalid: {error.detail}",
                "effective_date",
            )
        self.trigger_event(event_class, **facts, **_fact_fields(effective_date, by))
        return self.version

    def _replay(self, event_class: type[Fact], by: Provenance, **facts: Any) -> int:
        """Same event id again: the same fact answers with the original entry, another conflicts."""
        version = self.event_ids[by.event_id]
        original = self.entries[version]
        effective_date = facts.pop("effective_date", original.effective_date)
        same = (
            original.kind == event_class.__name__
            and original.effective_date == effective_date
            and all(original.facts.get(name) == value for name, value in facts.items())
        )
        if not same:
            raise IdempotencyConflict(
                f"event id {by.event_id} was used for entry {version} with other facts",
                "event_id",
            )
        return version

    def _check_date(self, effective_date: date, today: date) -> None:
        _require_not_future(effective_date, today)
        if effective_date < self.start_date:
            raise BeforeStartError(
                f"{effective_date} is before the journey started on {self.start_date}",
                "effective_date",
            )


_BASE_FIELDS = frozenset(f.name for f in fields(Journey.Fact)) | {"originator_topic"}


@cache
def _field_names(event_class: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(event_class))


@cache
def own_fields(event_class: type) -> tuple[str, ...]:
    """The facts an event class adds to what every journey event carries."""
    return tuple(f.name for f in fields(event_class) if f.name not in _BASE_FIELDS)


def _fact_fields(effective_date: date, by: Provenance) -> dict[str, Any]:
    return {
        "event_id": by.event_id,
        "effective_date": effective_date,
        "actor_id": by.actor_id,
        "actor_role": by.actor_role,
        "source": by.source,
        "channel": by.channel,
        "correlation_id": by.correlation_id,
    }


def _require_rung(value: int, field: str) -> None:
    if isinstance(value, bool) or value not in RUNGS:
        raise InvalidRungError("a Participatieladder rung is 1 to 6", field)


def _require_text(value: str, field: str) -> None:
    if not value or not value.strip():
        raise InvalidValueError(f"{field} must not be empty", field)
    if _CONTROL.search(value):
        raise InvalidValueError(f"{field} must not hold control characters", field)


def _require_enum(enum: type[E], value: str, field: str) -> str:
    try:
        return str(enum(value).value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum)
        raise InvalidValueError(f"{field} must be one of {allowed}", field) from None


def _require_not_future(effective_date: date, today: date) -> None:
    if effective_date > today:
        raise FutureDateError(f"{effective_date} is after today ({today})", "effective_date")
    if effective_date < EARLIEST_DATE:
        raise InvalidValueError(f"{effective_date} is before {EARLIEST_DATE}: a typo?", "effective_date")


__all__ = ["Conflict", "Journey", "Provenance", "journey_id_for"]
