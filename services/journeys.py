"""The journeys application: the write side. Each method is load, act, save.

Writes are idempotent on the client's event id (the aggregate remembers every id it has seen),
retried a bounded number of times when another writer got to the same journey first, and a batch
is stored in one transaction or not at all.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from itertools import takewhile
from operator import attrgetter, itemgetter
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, StoredEvent, Transcoding
from eventsourcing.utils import EnvType

from domain.errors import Conflict, InvalidValueError, JourneyError
from domain.journey import Journey, Provenance, journey_id_for
from domain.teams import team_slug, unknown_team
from domain.timeline import Entry, JourneyState, Timeline
from services.commands import BatchItem, ChangeTeam, FactCommand, StartJourney
from services.group_commit import CommitQueue, GroupCommit

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


# Refusals that a journey behind the store could give wrongly; checked again on a fresh one.
_STATE_DEPENDENT = (Conflict, JourneyNotFound)
STREAM_CHUNK = 128  # a batch of at least two chunks goes to a recorder that can stream, chunk by chunk


@dataclass(frozen=True, slots=True)
class Written:
    """Where a fact was stored: its journey, version and global position."""

    journey_id: UUID
    version: int
    position: int | None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class JourneyView:
    """A journey's state on a date, read under its lock: safe to hand to any thread."""

    journey_id: UUID
    municipality: str
    version: int
    start_date: date
    state: JourneyState


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


class TeamRegistry(Protocol):
    """The municipality's teams, by slug (domain.teams): a journey is only ever held by one of them."""

    def known(self, slug: str) -> bool: ...


class NoTeams:
    """The registry until the composition root gives the real one: it knows no team."""

    def known(self, slug: str) -> bool:
        return False


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
        self.teams: TeamRegistry = NoTeams()  # the composition root gives the municipality's registry
        self.max_attempts = max_attempts
        self.on_recorded: Callable[[int], None] | None = None  # told the new head after each save
        self._locks = [threading.Lock() for _ in range(256)]
        self._group_commit: GroupCommit[Journey.Event, int] = GroupCommit(self._store, IntegrityError)
        self._commit_queue: CommitQueue[Journey.Event, int] = CommitQueue(self._store, IntegrityError)

    def close(self) -> None:
        self._commit_queue.close()
        super().close()

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

    def record(self, journey_id: UUID, command: FactCommand, by: Provenance, scope: Scope = None) -> Written:
        """Record one fact about a journey."""
        try:
            return self.record_batch([BatchItem(command, by, journey_id)], scope)[0]
        except BatchItemError as failed:
            raise failed.error from None

    def record_soon(
        self,
        journey_id: UUID,
        command: FactCommand,
        by: Provenance,
        scope: Scope,
        done: Callable[[Written | BaseException], object],
    ) -> bool:
        """Record one fact without blocking the caller: decide it now on the cached journey, store
        it with the next shared commit (another thread), and call `done` with the result there.

        Answers False, having changed nothing, when that cannot be done without waiting or I/O (the
        journey is locked by another writer, not cached, or the fact is a repeat whose position must
        be read, a team change (whose team the registry may read), or a refusal that may come from a
        stale journey): the caller then uses `record`.
        A refusal that is the fact's own (an invalid value) is raised at once.
        """
        lock = self._locks[hash(journey_id) % len(self._locks)]
        if not lock.acquire(blocking=False):
            return False
        try:
            decided = self._decide_cached(journey_id, command, by, scope)
        except BaseException:
            lock.release()
            raise
        if decided is None:
            lock.release()
            return False
        version, new = decided

        def stored(result: Sequence[int] | BaseException) -> None:
            try:
                if isinstance(result, BaseException):
                    self._evict([journey_id])  # it holds a fact that was never stored
                    done(result)
                else:
                    done(Written(journey_id, version, result[-1], False))
            finally:
                lock.release()

        try:
            self._commit_queue.submit(new, stored)
        except BaseException:  # closed: the decided fact goes nowhere, nor may the journey keep it
            self._evict([journey_id])
            lock.release()
            raise
        return True

    def _decide_cached(
        self, journey_id: UUID, command: FactCommand, by: Provenance, scope: Scope
    ) -> tuple[int, Sequence[Journey.Event]] | None:
        """The fact acted out on the cached journey: its version and new events; None (nothing
        changed) if that needs I/O or may be judged wrongly on a journey behind the store."""
        journey = self._cached(journey_id)
        if journey is None or (scope is not None and journey.team not in scope):
            return None
        if isinstance(command, ChangeTeam):
            return None  # the registry may need reading
        try:
            version = command.apply_to(journey, by)
        except _STATE_DEPENDENT:
            return None
        new = journey.collect_events()
        return (version, new) if new else None  # type: ignore[return-value]

    def record_batch(self, items: Sequence[BatchItem], scope: Scope = None) -> list[Written]:
        """Record many facts about many journeys in one transaction: all of them, or none."""
        ids = {item.journey_id or journey_id_for(item.by.event_id) for item in items}
        with self._locked(ids):
            for attempt in range(self.max_attempts):
                try:
                    return self._record_batch_once(items, scope, fresh=attempt > 0)
                except IntegrityError:
                    self._evict(ids)  # another writer stored one of these versions first
                except BatchItemError as failed:
                    self._evict(ids)  # cached journeys may hold facts that were never stored
                    if attempt > 0 or not isinstance(failed.error, _STATE_DEPENDENT):
                        raise
                    # Judged on a cached journey that may be behind the store: judge it again.
                except BaseException:
                    self._evict(ids)
                    raise
        raise ConcurrencyConflict(f"gave up after {self.max_attempts} concurrent attempts")

    def _record_batch_once(self, items: Sequence[BatchItem], scope: Scope, *, fresh: bool) -> list[Written]:
        touched: dict[UUID, Journey] = {}
        results: list[tuple[UUID, int, Any]] = []
        events: list[Journey.Event] = []  # in item order, so positions follow the batch
        stream = getattr(self.recorder, "insert_stream", None)
        if stream is not None and len(items) >= 2 * STREAM_CHUNK:
            # A big batch: each chunk is sent as soon as it is decided, so the database stores one
            # while the next is decided; one transaction still holds them all.
            with stream() as open_transaction:
                for first in range(0, len(items), STREAM_CHUNK):
                    chunk = self._decide(
                        items, first, first + STREAM_CHUNK, touched, results, scope=scope, fresh=fresh
                    )
                    open_transaction.send([self.mapper.to_stored_event(e) for e in chunk])
                    events.extend(chunk)
            positions: list[int] = open_transaction.positions
            if positions and self.on_recorded is not None:
                self.on_recorded(positions[-1])
        else:
            events = self._decide(items, 0, len(items), touched, results, scope=scope, fresh=fresh)
            positions = self._group_commit(events) if events else []
        for journey in touched.values():
            self._cache(journey)
        position_of = {id(e): p for e, p in zip(events, positions, strict=True)}
        return [
            Written(jid, version, position_of[id(new)], False)
            if new is not None
            else Written(jid, version, self._position(jid, version), True)
            for jid, version, new in results
        ]

    def _decide(
        self,
        items: Sequence[BatchItem],
        first: int,
        end: int,
        touched: dict[UUID, Journey],
        results: list[tuple[UUID, int, Any]],
        *,
        scope: Scope,
        fresh: bool,
    ) -> list[Journey.Event]:
        """Act out items[first:end] on their journeys; answer the new events, in item order."""
        events: list[Journey.Event] = []
        for index in range(first, min(end, len(items))):
            try:
                journey, version = self._act(items[index], touched, scope, fresh=fresh)
            except (JourneyError, JourneyNotFound, OutOfScope) as error:
                raise BatchItemError(index, error) from error
            new = journey.collect_events()
            events.extend(new)  # type: ignore[arg-type]
            results.append((journey.id, version, new[-1] if new else None))  # None: a repeat
        return events

    def _act(
        self, item: BatchItem, touched: dict[UUID, Journey], scope: Scope, *, fresh: bool
    ) -> tuple[Journey, int]:
        command = item.command
        if isinstance(command, StartJourney):
            new = self._new_journey(command, item.by, scope)
            # A new id is assumed new: a start that exists after all fails the insert, and the
            # retry (fresh) finds it and answers as a repeat.
            existing = touched.get(new.id) or self._cached(new.id) or (self._find(new.id) if fresh else None)
            if existing is None:
                touched[new.id] = new
                return new, new.version
            existing.check_start_replay(new)
            touched[new.id] = _in_scope(existing, scope)
            return existing, 1
        assert item.journey_id is not None
        journey = touched.get(item.journey_id) or self._load(item.journey_id, scope, fresh=fresh)
        touched[journey.id] = _in_scope(journey, scope)  # an earlier item may have moved it away
        if isinstance(command, ChangeTeam):
            command = replace(command, to_team=self._registered(command.to_team, "to_team"))
        return journey, command.apply_to(journey, item.by)

    def _new_journey(self, command: StartJourney, by: Provenance, scope: Scope) -> Journey:
        team = self._registered(command.team, "team")
        if scope is not None and team not in scope:
            raise OutOfScope(team)
        municipality = command.municipality or self.municipality
        return Journey.start(
            client_ref=self.pseudonym(municipality, command.client_reference),
            municipality=municipality,
            team=team,
            initial_rung=command.initial_rung,
            effective_date=command.effective_date,
            by=by,
        )

    def _registered(self, name: str, field: str) -> str:
        """The slug of a registered team, for a name in any spelling of it (domain.teams)."""
        slug = team_slug(name, field)
        if not self.teams.known(slug):
            raise unknown_team(slug, field)
        return slug

    def _store(self, events: list[Journey.Event]) -> list[int]:
        """Store events in one transaction; return their positions (the library's save(), lean)."""
        positions = self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events])
        if positions is None or len(positions) != len(events):
            msg = "the store did not report a position for every event"
            raise RuntimeError(msg)
        if positions and self.on_recorded is not None:
            self.on_recorded(positions[-1])
        return list(positions)

    # --- the cache of journeys, and who may touch which ----------------------------------------
    #
    # Journeys are cached without copying, so each is touched by one thread at a time (striped
    # locks). A cached journey may be behind the store when another process wrote to it: a write
    # based on it then fails on the store's (journey, version) key and is decided again on a
    # reloaded journey, and a refusal that depends on its state is checked again the same way.

    @contextmanager
    def _locked(self, journey_ids: Iterable[UUID]) -> Iterator[None]:
        stripes = sorted({hash(j) % len(self._locks) for j in journey_ids})
        with ExitStack() as stack:
            for i in stripes:
                stack.enter_context(self._locks[i])
            yield

    def _cached(self, journey_id: UUID) -> Journey | None:
        cache = self.repository.cache
        if cache is None:
            return None
        try:
            found = cache.get(journey_id)
        except KeyError:
            return None
        assert isinstance(found, Journey)
        return found

    def _cache(self, journey: Journey) -> None:
        if self.repository.cache is not None:
            self.repository.cache.put(journey.id, journey)

    def _evict(self, journey_ids: Iterable[UUID]) -> None:
        if self.repository.cache is not None:
            for jid in journey_ids:
                with suppress(KeyError):
                    self.repository.cache.get(jid, evict=True)

    def _load(self, journey_id: UUID, scope: Scope, *, fresh: bool) -> Journey:
        if fresh:
            self._evict([journey_id])
        journey = self._cached(journey_id) or self._find(journey_id)
        if journey is None or (scope is not None and journey.team not in scope):
            raise JourneyNotFound(journey_id)
        return journey

    def _current(self, journey_id: UUID, scope: Scope) -> Journey:
        """The cached journey brought up to date with the store (for reads)."""
        journey = self._cached(journey_id)
        if journey is not None:
            for event in self._facts(journey_id, after=journey.version):
                event.mutate(journey)
        else:
            journey = self._find(journey_id)
        if journey is None or (scope is not None and journey.team not in scope):
            raise JourneyNotFound(journey_id)
        return journey

    # --- reads ---------------------------------------------------------------------------------

    def journey(self, journey_id: UUID, scope: Scope = None, known_at: datetime | None = None) -> Journey:
        """A copy of the journey as it stands (or as it was known at `known_at`)."""
        known_at = _aware(known_at)
        if known_at is None or scope is not None:
            with self._locked([journey_id]):
                journey = self._current(journey_id, scope)  # who may see it goes by its team now
                if known_at is None:
                    return copy.deepcopy(journey)
        # An audit replay: one read of the journey's events, replayed as far as known then.
        then = _replay(None, _known_by(self._facts(journey_id), known_at, attrgetter("timestamp")))
        if then is None:
            raise JourneyNotFound(journey_id)
        return then

    def state(
        self, journey_id: UUID, on: date, scope: Scope = None, known_at: datetime | None = None
    ) -> JourneyView:
        """What the journey says about itself on a date (valid time), as known now or at a moment."""
        known_at = _aware(known_at)
        if known_at is not None:
            if scope is not None:  # who may see it goes by its team now
                with self._locked([journey_id]):
                    self._current(journey_id, scope)
            # An audit replay: one read; the entries known then, replayed into a timeline at once.
            entries = self._entries_known_by(journey_id, known_at)
            if not entries:
                raise JourneyNotFound(journey_id)
            timeline = Timeline.replayed(entries)
            municipality = str(entries[0].facts["municipality"])
            return JourneyView(
                journey_id,
                municipality,
                entries[-1].version,
                timeline.start.effective_date,
                timeline.state_on(on),
            )
        with self._locked([journey_id]):
            j = self._current(journey_id, scope)
            return JourneyView(j.id, j.municipality, j.version, j.start_date, j.timeline.state_on(on))

    def history(
        self, journey_id: UUID, scope: Scope = None, known_at: datetime | None = None
    ) -> list[HistoryEntry]:
        """Every entry in recording order with who, when and about which date; voids are marked."""
        with self._locked([journey_id]):
            self._current(journey_id, scope)
        known_at = _aware(known_at)
        events = self._facts(journey_id)
        if known_at is not None:
            events = _known_by(events, known_at, attrgetter("timestamp"))
        voided_by = {
            e.voided_version: e.originator_version for e in events if isinstance(e, Journey.EntryVoided)
        }
        return [_history_entry(e, voided_by.get(e.originator_version)) for e in events]

    def _entries_known_by(self, journey_id: UUID, moment: datetime) -> list[Entry]:
        """The journey's entries known at a moment (the run from the start recorded by then, as
        `_known_by`), decoded straight to entries when the mapper can (infra.codec.TypedMapper)."""
        to_entry = getattr(self.mapper, "to_entry", None) or self._entry_via_event
        decoded = (d for d in map(to_entry, self.recorder.select_events(journey_id)) if d is not None)
        return [entry for entry, _ in _known_by(decoded, moment, itemgetter(1))]

    def _entry_via_event(self, stored: StoredEvent) -> tuple[Entry, datetime] | None:
        event = self.mapper.to_domain_event(stored)
        return (event.entry(), event.timestamp) if isinstance(event, Journey.Fact) else None

    def _facts(self, journey_id: UUID, after: int | None = None) -> list[Journey.Fact]:
        return [e for e in self.events.get(journey_id, gt=after) if isinstance(e, Journey.Fact)]

    def _find(self, journey_id: UUID) -> Journey | None:
        try:
            journey: Journey = self.repository.get(journey_id, projector_func=_replay)
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


_BSN_PREFIX = re.compile(r"^(?:bsn|burgerservicenummer)\s*[:#.]?\s*", re.IGNORECASE)
_BSN_SEPARATORS = re.compile(r"[\s.\-_/]")


def looks_like_bsn(value: str) -> bool:
    """A BSN is 8 or 9 digits passing the elfproef (eleven test), however it is spelled: an optional
    "BSN" prefix and separators (space . - _ /) are taken away first (111-222-333, BSN 111.222.333)."""
    digits = _BSN_SEPARATORS.sub("", _BSN_PREFIX.sub("", value.strip()))
    if not digits.isdigit() or len(digits) not in (8, 9):
        return False
    digits = digits.zfill(9)
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (total - int(digits[8])) % 11 == 0


def _known_by(items: Iterable[T], moment: datetime, recorded_at: Callable[[T], datetime]) -> list[T]:
    """The items known at a moment: the longest run from the start recorded by then.

    Recorded times come from the processes that wrote them; a run, not a filter, keeps the answer a
    journey that existed (versions 1..n) even if two processes' clocks disagree.
    """
    return list(takewhile(lambda item: recorded_at(item) <= moment, items))


def _in_scope(journey: Journey, scope: Scope) -> Journey:
    if scope is not None and journey.team not in scope:
        raise JourneyNotFound(journey.id)
    return journey


def _replay(journey: Journey | None, events: Iterable[Any]) -> Journey | None:
    """Apply stored events in order (the library's projector, less a per-event protocol check)."""
    for event in events:
        journey = event.mutate(journey)
    return journey


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
