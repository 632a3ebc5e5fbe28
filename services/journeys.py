"""The journeys application: the write side. Each method is load, act, save.

Writes are idempotent on the client's event id (the aggregate remembers every id it has seen),
retried a bounded number of times when another writer got to the same journey first, and a batch
is stored in one transaction or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoding
from eventsourcing.utils import EnvType

from domain.errors import InvalidValueError, JourneyError
from domain.journey import Journey, Provenance
from services.commands import BatchItem, FactCommand, StartJourney

T = TypeVar("T")
Scope = frozenset[str] | None  # the teams a caller may touch; None means every team


class JourneyNotFound(Exception):
    """No such journey, or none the caller may see: the two are never told apart."""

    def __init__(self, journey_id: UUID) -> None:
        super().__init__(f"journey {journey_id} not found")
        self.journey_id = journey_id


class OutOfScope(Exception):
    """The caller may not start a journey in that team."""

    def __init__(self, team: str) -> None:
        super().__init__(f"you may not record journeys for team {team}")
        self.team = team


class ConcurrencyConflict(Exception):
    """Other writers kept changing the journey; the caller may retry."""


class BatchItemError(Exception):
    """One item of a batch failed; nothing of the batch was stored."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(f"item {index}: {error}")
        self.index = index
        self.error = error


@dataclass(frozen=True, slots=True)
class Written:
    """Where a fact was stored: its journey, version and global position."""

    journey_id: UUID
    version: int
    position: int | None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    version: int
    kind: str
    effective_date: date
    recorded_at: datetime
    event_id: UUID
    actor_id: str
    actor_role: str
    source: str
    channel: str
    correlation_id: str
    facts: dict[str, Any] = field(default_factory=dict)
    voided_by: int | None = None


class PositionIndex(Protocol):
    """Finds the global position an earlier event was stored at (for idempotent replays)."""

    def position_of(self, journey_id: UUID, version: int) -> int | None: ...


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class JourneysApp(Application[UUID]):
    name = "journeys"

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        pseudonym_key: bytes,
        municipality: str,
        positions: PositionIndex | None = None,
        max_attempts: int = 3,
    ) -> None:
        super().__init__(env)
        self._pseudonym_key = pseudonym_key
        self.municipality = municipality
        self.positions = positions
        self.max_attempts = max_attempts
        self.on_recorded: Callable[[int], None] | None = None  # told the new head after each save

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # --- writes --------------------------------------------------------------------------------

    def start(self, command: StartJourney, by: Provenance, scope: Scope = None) -> Written:
        """Start a journey; the same event id again answers with the journey it started."""
        try:
            return self.record_batch([BatchItem(command, by)], scope)[0]
        except BatchItemError as failed:
            raise failed.error from None

    def record(
        self,
        journey_id: UUID,
        command: FactCommand,
        by: Provenance,
        scope: Scope = None,
    ) -> Written:
        """Record one fact about a journey."""

        def attempt() -> Written:
            journey = self.journey(journey_id, scope)
            version = command.apply_to(journey, by)
            if not journey.pending_events:
                return Written(journey_id, version, self._position(journey_id, version), True)
            recordings = self.save(journey)
            return Written(journey_id, version, recordings[-1].notification.id)

        return self._retrying(attempt)

    def record_batch(self, items: Sequence[BatchItem], scope: Scope = None) -> list[Written]:
        """Record many facts about many journeys in one transaction: all of them, or none."""
        return self._retrying(lambda: self._record_batch_once(items, scope))

    def _record_batch_once(self, items: Sequence[BatchItem], scope: Scope) -> list[Written]:
        touched: dict[UUID, Journey] = {}
        results: list[tuple[UUID, int, bool]] = []
        events: list[Journey.Event] = []  # in item order, so positions follow the batch
        for index, item in enumerate(items):
            try:
                journey, version = self._act(item, touched, scope)
            except (JourneyError, JourneyNotFound, OutOfScope) as error:
                raise BatchItemError(index, error) from error
            new = journey.collect_events()
            events.extend(new)  # type: ignore[arg-type]
            results.append((journey.id, version, not new))
        recordings = self.save(*events)
        stored = {
            (r.notification.originator_id, r.notification.originator_version): r.notification.id
            for r in recordings
        }
        return [
            Written(jid, version, stored.get((jid, version)) or self._position(jid, version), dup)
            for jid, version, dup in results
        ]

    def _act(self, item: BatchItem, touched: dict[UUID, Journey], scope: Scope) -> tuple[Journey, int]:
        command = item.command
        if isinstance(command, StartJourney):
            new = self._new_journey(command, item.by, scope)
            existing = touched.get(new.id) or self._find(new.id)
            if existing is None:
                touched[new.id] = new
                return new, new.version
            existing.check_start_replay(new)
            touched[new.id] = existing
            return existing, 1
        assert item.journey_id is not None
        journey = touched.get(item.journey_id) or self.journey(item.journey_id, scope)
        touched[journey.id] = journey
        return journey, command.apply_to(journey, item.by)

    def _new_journey(self, command: StartJourney, by: Provenance, scope: Scope) -> Journey:
        if scope is not None and command.team not in scope:
            raise OutOfScope(command.team)
        municipality = command.municipality or self.municipality
        return Journey.start(
            client_ref=self.pseudonym(municipality, command.client_reference),
            municipality=municipality,
            team=command.team,
            initial_rung=command.initial_rung,
            effective_date=command.effective_date,
            by=by,
        )

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for _ in range(self.max_attempts):
            try:
                return attempt()
            except IntegrityError:
                # Another writer stored the same version first: reload and decide again.
                continue
        raise ConcurrencyConflict(f"gave up after {self.max_attempts} concurrent attempts")

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings and self.on_recorded is not None:
            self.on_recorded(recordings[-1].notification.id)

    # --- reads ---------------------------------------------------------------------------------

    def journey(self, journey_id: UUID, scope: Scope = None, known_at: datetime | None = None) -> Journey:
        """The journey as it stands (or as it was known at `known_at`), if the caller may see it."""
        known_at = _aware(known_at)
        journey = self._find(journey_id)
        if journey is None or (scope is not None and journey.team not in scope):
            raise JourneyNotFound(journey_id)
        if known_at is not None:
            versions = [e.originator_version for e in self._facts(journey_id) if e.timestamp <= known_at]
            if not versions:
                raise JourneyNotFound(journey_id)
            journey = self.repository.get(journey_id, version=versions[-1])
            assert isinstance(journey, Journey)
        return journey

    def history(
        self, journey_id: UUID, scope: Scope = None, known_at: datetime | None = None
    ) -> list[HistoryEntry]:
        """Every entry in recording order with who, when and about which date; voids are marked."""
        self.journey(journey_id, scope)
        known_at = _aware(known_at)
        events = [e for e in self._facts(journey_id) if known_at is None or e.timestamp <= known_at]
        voided_by = {
            e.voided_version: e.originator_version for e in events if isinstance(e, Journey.EntryVoided)
        }
        return [_history_entry(e, voided_by.get(e.originator_version)) for e in events]

    def _facts(self, journey_id: UUID) -> list[Journey.Fact]:
        return [e for e in self.events.get(journey_id) if isinstance(e, Journey.Fact)]

    def _find(self, journey_id: UUID) -> Journey | None:
        try:
            journey: Journey = self.repository.get(journey_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(journey, Journey)
        return journey

    def _position(self, journey_id: UUID, version: int) -> int | None:
        return self.positions.position_of(journey_id, version) if self.positions else None

    def pseudonym(self, municipality: str, reference: str) -> str:
        """Keyed pseudonym of the municipality's own client reference; never store the reference."""
        reference = reference.strip()
        if not reference:
            raise InvalidValueError("client_reference must not be empty", "client_reference")
        if looks_like_bsn(reference):
            raise InvalidValueError(
                "client_reference looks like a BSN; send the municipality's own client number",
                "client_reference",
            )
        message = f"{municipality}\x1f{reference}".encode()
        return hmac.new(self._pseudonym_key, message, hashlib.sha256).hexdigest()


def looks_like_bsn(value: str) -> bool:
    """A BSN is 8 or 9 digits passing the elfproef (eleven test)."""
    digits = value.replace(" ", "").replace(".", "")
    if not digits.isdigit() or len(digits) not in (8, 9):
        return False
    digits = digits.zfill(9)
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (total - int(digits[8])) % 11 == 0


def _aware(moment: datetime | None) -> datetime | None:
    """A moment without a zone is taken to be UTC, as the API promises."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _history_entry(event: Journey.Fact, voided_by: int | None) -> HistoryEntry:
    entry = event.entry()
    facts = {k: v for k, v in entry.facts.items() if k != "client_ref"}
    return HistoryEntry(
        version=entry.version,
        kind=entry.kind,
        effective_date=entry.effective_date,
        recorded_at=event.timestamp,
        event_id=event.event_id,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        source=event.source,
        channel=event.channel,
        correlation_id=event.correlation_id,
        facts=facts,
        voided_by=voided_by,
    )
