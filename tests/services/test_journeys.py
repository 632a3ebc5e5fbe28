"""The journeys application on each store: idempotency, batches, concurrency, history."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from domain.errors import IdempotencyConflict, InvalidRungError, InvalidValueError
from domain.journey import Journey, Provenance, journey_id_for
from infra.container import Container, build
from infra.settings import Settings
from services.commands import (
    BatchItem,
    ChangeTeam,
    CloseJourney,
    FactCommand,
    RecordReconnection,
    RecordStep,
    ReopenJourney,
    StartJourney,
    VoidEntry,
)
from services.journeys import (
    STREAM_CHUNK,
    BatchItemError,
    ConcurrencyConflict,
    JourneyNotFound,
    OutOfScope,
    Written,
)
from tests.conftest import days_ago


def by(container: Container, event_id: UUID | None = None) -> Provenance:
    return Provenance(event_id or uuid4(), "cw-1", "caseworker", container.today(), "tests")


def start(container: Container, team: str = "noord", event_id: UUID | None = None) -> UUID:
    command = StartJourney("A-1001", team, 2, days_ago(100))
    return container.journeys.start(command, by(container, event_id)).journey_id


def head(container: Container) -> int:
    return container.head_position()


def test_a_started_journey_is_stored_and_read_back(container: Container) -> None:
    jid = start(container)
    written = container.journeys.record(jid, RecordStep(3, days_ago(50)), by(container))
    assert (written.version, written.duplicate) == (2, False)
    assert written.position == head(container)
    journey = container.journeys.journey(jid)
    assert (journey.rung, journey.team, journey.version) == (3, "noord", 2)


def test_a_repeated_start_answers_with_the_same_journey_and_stores_nothing(container: Container) -> None:
    event_id = uuid4()
    first = container.journeys.start(StartJourney("A-1", "noord", 2, days_ago(9)), by(container, event_id))
    again = container.journeys.start(StartJourney("A-1", "noord", 2, days_ago(9)), by(container, event_id))
    assert again == type(first)(first.journey_id, 1, first.position, duplicate=True)
    assert head(container) == first.position


def test_a_start_repeated_with_other_facts_conflicts(container: Container) -> None:
    event_id = uuid4()
    container.journeys.start(StartJourney("A-1", "noord", 2, days_ago(9)), by(container, event_id))
    with pytest.raises(IdempotencyConflict):
        container.journeys.start(StartJourney("A-1", "noord", 3, days_ago(9)), by(container, event_id))


def test_a_repeated_fact_returns_the_original_position_and_stores_nothing(container: Container) -> None:
    jid = start(container)
    event_id = uuid4()
    first = container.journeys.record(jid, RecordStep(3, days_ago(50)), by(container, event_id))
    container.journeys.record(jid, RecordReconnection("club", days_ago(40)), by(container))
    before = head(container)
    again = container.journeys.record(jid, RecordStep(3, days_ago(50)), by(container, event_id))
    assert (again.version, again.position, again.duplicate) == (first.version, first.position, True)
    assert head(container) == before
    with pytest.raises(IdempotencyConflict):
        container.journeys.record(jid, RecordStep(4, days_ago(50)), by(container, event_id))
    assert head(container) == before


def test_an_unknown_journey_is_not_found(container: Container) -> None:
    with pytest.raises(JourneyNotFound):
        container.journeys.record(uuid4(), RecordStep(3, days_ago(5)), by(container))


def test_another_teams_journey_is_not_found_and_cannot_be_started(container: Container) -> None:
    jid = start(container, team="zuid")
    with pytest.raises(JourneyNotFound):
        container.journeys.journey(jid, scope=frozenset({"noord"}))
    with pytest.raises(JourneyNotFound):
        container.journeys.record(jid, RecordStep(3, days_ago(5)), by(container), frozenset({"noord"}))
    with pytest.raises(OutOfScope):
        container.journeys.start(
            StartJourney("A-2", "zuid", 2, days_ago(3)), by(container), frozenset({"noord"})
        )


def test_a_batch_stores_many_facts_for_many_journeys_in_order(container: Container) -> None:
    a, b = uuid4(), uuid4()
    items = [
        BatchItem(StartJourney("A-1", "noord", 2, days_ago(90)), by(container, a)),
        BatchItem(StartJourney("A-2", "zuid", 1, days_ago(90)), by(container, b)),
    ]
    started = container.journeys.record_batch(items)
    ja, jb = started[0].journey_id, started[1].journey_id
    facts: list[tuple[UUID, FactCommand]] = [
        (ja, RecordStep(3, days_ago(80))),
        (jb, RecordStep(2, days_ago(70))),
        (ja, RecordStep(4, days_ago(60))),
        (ja, VoidEntry(2, "wrong")),
    ]
    written = container.journeys.record_batch([BatchItem(c, by(container), j) for j, c in facts])
    assert [w.version for w in written] == [2, 2, 3, 4]
    positions = [w.position for w in written]
    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    assert container.journeys.journey(ja).rung == 4


def test_a_batch_with_one_bad_item_stores_nothing_and_names_the_item(container: Container) -> None:
    jid = start(container)
    before = head(container)
    items = [
        BatchItem(StartJourney("A-9", "noord", 2, days_ago(9)), by(container)),
        BatchItem(RecordStep(3, days_ago(8)), by(container), jid),
        BatchItem(RecordStep(9, days_ago(7)), by(container), jid),
    ]
    with pytest.raises(BatchItemError) as raised:
        container.journeys.record_batch(items)
    assert raised.value.index == 2
    assert isinstance(raised.value.error, InvalidRungError)
    assert head(container) == before
    assert container.journeys.journey(jid).version == 1


def test_a_batch_may_start_a_journey_and_record_its_facts_together(container: Container) -> None:
    event_id = uuid4()
    jid = container.journeys.start(
        StartJourney("X", "noord", 1, days_ago(5)), by(container, event_id)
    ).journey_id
    new = uuid4()
    from domain.journey import journey_id_for

    items = [
        BatchItem(StartJourney("B-1", "noord", 1, days_ago(20)), by(container, new)),
        BatchItem(RecordStep(2, days_ago(10)), by(container), journey_id_for(new)),
        BatchItem(StartJourney("X", "noord", 1, days_ago(5)), by(container, event_id)),  # a retry
        BatchItem(RecordStep(2, days_ago(2)), by(container), jid),
    ]
    written = container.journeys.record_batch(items)
    assert [(w.version, w.duplicate) for w in written] == [(1, False), (2, False), (1, True), (2, False)]


def test_concurrent_writers_to_one_journey_all_land_with_gapless_versions(
    make_settings: Callable[..., Settings],
) -> None:
    setup = build(make_settings())
    jid = start(setup)
    writers, per_writer = 6, 8
    barrier = threading.Barrier(writers, timeout=30)
    failures: list[BaseException] = []
    # Each writer has its own cache and connections, as another process would.
    apps = [build(make_settings()) for _ in range(writers)]

    def write(own: Container) -> None:
        own.journeys.max_attempts = 50
        try:
            barrier.wait()
            for i in range(per_writer):
                own.journeys.record(jid, RecordReconnection("club", days_ago(10 + i)), by(own))
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)
        finally:
            own.close()

    threads = [threading.Thread(target=write, args=(own,)) for own in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    history = setup.journeys.history(jid)
    assert [e.version for e in history] == list(range(1, 1 + writers * per_writer + 1))
    setup.close()


class Raced:
    """A step during which another writer stores a fact on the same journey, `times` times."""

    def __init__(self, other: Container, journey_id: UUID, times: int) -> None:
        self.other, self.journey_id, self.times = other, journey_id, times

    def apply_to(self, journey: Journey, provenance: Provenance) -> int:
        if self.times > 0:
            self.times -= 1
            self.other.journeys.record(
                self.journey_id, RecordReconnection("club", days_ago(30)), by(self.other)
            )
        return journey.record_step(4, days_ago(10), provenance)


def test_a_writer_that_loses_a_race_reloads_and_lands_after_the_winner(
    make_settings: Callable[..., Settings],
) -> None:
    ours, theirs = build(make_settings()), build(make_settings())
    jid = start(ours)
    written = ours.journeys.record(jid, Raced(theirs, jid, times=2), by(ours))
    assert written.version == 4
    assert [e.kind for e in ours.journeys.history(jid)] == [
        "Started",
        "SocialReconnectionRecorded",
        "SocialReconnectionRecorded",
        "LadderStepRecorded",
    ]
    ours.close()
    theirs.close()


def test_a_writer_that_keeps_losing_gets_a_conflict_and_stores_nothing(
    make_settings: Callable[..., Settings],
) -> None:
    ours, theirs = build(make_settings()), build(make_settings())
    jid = start(ours)
    with pytest.raises(ConcurrencyConflict):
        ours.journeys.record(jid, Raced(theirs, jid, times=ours.journeys.max_attempts), by(ours))
    history = ours.journeys.history(jid)
    assert [e.version for e in history] == [1, 2, 3, 4]
    assert "LadderStepRecorded" not in [e.kind for e in history]
    ours.close()
    theirs.close()


def test_history_shows_who_when_and_voids_and_can_look_back_in_time(container: Container) -> None:
    jid = start(container)
    container.journeys.record(jid, RecordStep(3, days_ago(50)), by(container))
    between = datetime.now(UTC)
    container.journeys.record(jid, VoidEntry(2, "wrong rung"), by(container))
    container.journeys.record(jid, CloseJourney("moved", days_ago(10)), by(container))
    entries = container.journeys.history(jid)
    assert [e.kind for e in entries] == ["Started", "LadderStepRecorded", "EntryVoided", "Closed"]
    assert entries[1].voided_by == 3
    assert all(e.actor_id == "cw-1" and e.recorded_at.tzinfo for e in entries)
    assert "client_ref" not in entries[0].facts
    then = container.journeys.history(jid, known_at=between)
    assert [e.kind for e in then] == ["Started", "LadderStepRecorded"]
    assert then[1].voided_by is None
    assert container.journeys.journey(jid, known_at=between).rung == 3
    assert container.journeys.journey(jid).rung == 2


def test_the_client_reference_is_never_stored_only_its_pseudonym(container: Container) -> None:
    jid = container.journeys.start(
        StartJourney("GEM-77-XQ", "noord", 2, days_ago(3)), by(container)
    ).journey_id
    stored = b"".join(n.state for n in container.journeys.recorder.select_notifications(start=1, limit=100))
    assert b"GEM-77-XQ" not in stored
    journey = container.journeys.journey(jid)
    assert journey.client_ref == container.journeys.pseudonym("Amersfoort", "GEM-77-XQ")
    assert len(journey.client_ref) == 64


def test_a_bsn_is_refused_as_client_reference(container: Container) -> None:
    with pytest.raises(InvalidValueError) as raised:
        container.journeys.start(StartJourney("111222333", "noord", 2, days_ago(3)), by(container))
    assert raised.value.field == "client_reference"
    assert head(container) == 0


def test_a_process_whose_cached_journey_is_behind_judges_again_on_the_current_one(
    make_settings: Callable[..., Settings],
) -> None:
    a, b = build(make_settings()), build(make_settings())
    jid = start(a)
    a.journeys.record(jid, CloseJourney("moved", days_ago(60)), by(a))
    assert b.journeys.journey(jid).is_open is False  # b caches the closed journey
    a.journeys.record(jid, ReopenJourney(days_ago(30), "back"), by(a))
    written = b.journeys.record(jid, RecordStep(4, days_ago(20)), by(b))  # b's cache says "closed"
    assert written.version == 4
    assert b.journeys.state(jid, days_ago(0)).state.rung == 4
    assert a.journeys.state(jid, days_ago(0)).state.rung == 4  # and a reads what b wrote
    a.close()
    b.close()


def test_an_audit_state_as_known_at_each_moment_is_the_replayed_journeys(container: Container) -> None:
    """The audit path decodes entries straight into a timeline; at every moment of a history with a
    void, a team change and a closure it says what replaying the aggregate says."""
    jid = start(container)
    moments = [datetime.now(UTC)]
    for command in (
        RecordStep(3, days_ago(50)),
        RecordStep(4, days_ago(40)),
        VoidEntry(2, "wrong rung"),
        ChangeTeam("zuid", days_ago(30)),
        CloseJourney("moved", days_ago(10)),
    ):
        container.journeys.record(jid, command, by(container))
        moments.append(datetime.now(UTC))
    for moment in moments:
        for on in (days_ago(99), days_ago(45), days_ago(35), days_ago(20), days_ago(1)):
            then = container.journeys.journey(jid, known_at=moment)
            view = container.journeys.state(jid, on, known_at=moment)
            assert (view.version, view.start_date, view.municipality) == (
                then.version,
                then.start_date,
                then.municipality,
            )
            assert view.state == then.timeline.state_on(on)
    assert container.journeys.state(jid, days_ago(1), known_at=moments[-1]).state.is_open is False
    with pytest.raises(JourneyNotFound):
        container.journeys.state(jid, days_ago(1), known_at=datetime(2001, 1, 1, tzinfo=UTC))
    with pytest.raises(JourneyNotFound):  # another team's caller: as if it did not exist
        container.journeys.state(jid, days_ago(1), scope=frozenset({"noord"}), known_at=moments[-1])


def big_batch(container: Container, journeys: int, steps: int) -> list[BatchItem]:
    """Starts and steps for many journeys: more than two chunks, so PostgreSQL streams it."""
    items = []
    for n in range(journeys):
        start_by = by(container)
        jid = journey_id_for(start_by.event_id)
        items.append(BatchItem(StartJourney(f"BIG-{n}", "noord", 2, days_ago(300)), start_by))
        items.extend(
            BatchItem(RecordStep(1 + (n + k) % 6, days_ago(290 - k)), by(container), jid)
            for k in range(steps)
        )
    assert len(items) > 2 * STREAM_CHUNK
    return items


def test_a_big_batch_is_stored_in_item_order_with_gapless_positions(container: Container) -> None:
    before = head(container)
    items = big_batch(container, 60, 9)
    written = container.journeys.record_batch(items)
    assert [w.position for w in written] == list(range(before + 1, before + len(items) + 1))
    assert head(container) == before + len(items)
    assert container.journeys.journey(written[-1].journey_id).version == 10
    again = container.journeys.record_batch(items)  # a retried batch: every item a repeat
    assert [(w.position, w.duplicate) for w in again] == [(w.position, True) for w in written]
    assert head(container) == before + len(items)


def test_a_big_batch_refused_in_its_last_chunk_stores_nothing(container: Container) -> None:
    before = head(container)
    items = big_batch(container, 60, 9)
    items.append(BatchItem(RecordStep(9, days_ago(1)), by(container), items[-1].journey_id))
    with pytest.raises(BatchItemError) as raised:
        container.journeys.record_batch(items)
    assert raised.value.index == len(items) - 1
    assert head(container) == before
    assert container.journeys.record_batch(items[:-1])[-1].version == 10  # nothing half-written


def test_a_big_batch_that_loses_a_race_is_decided_again_after_the_winner(
    make_settings: Callable[..., Settings],
) -> None:
    ours, theirs = build(make_settings()), build(make_settings())
    jid = start(ours)
    ours.journeys.journey(jid)  # cached by us ...
    theirs.journeys.record(jid, RecordReconnection("club", days_ago(30)), by(theirs))  # ... then moved on
    items = big_batch(ours, 40, 9)
    items.insert(100, BatchItem(RecordStep(4, days_ago(10)), by(ours), jid))
    written = ours.journeys.record_batch(items)
    assert written[100].version == 3  # after their entry, not over it
    assert [e.kind for e in ours.journeys.history(jid)][-2:] == [
        "SocialReconnectionRecorded",
        "LadderStepRecorded",
    ]
    positions = [w.position for w in written]
    assert positions == sorted(positions)
    ours.close()
    theirs.close()


def recorded_soon(
    container: Container, journey_id: UUID, command: FactCommand
) -> Written | BaseException | bool:
    """record_soon, waited for: False if it declined, else what its callback was given."""
    got: list[Written | BaseException] = []
    arrived = threading.Event()

    def done(result: Written | BaseException) -> None:
        got.append(result)
        arrived.set()

    if not container.journeys.record_soon(journey_id, command, by(container), None, done):
        return False
    assert arrived.wait(30)
    return got[0]


def test_a_fact_recorded_soon_is_decided_at_once_and_stored_by_the_shared_commit(
    container: Container,
) -> None:
    jid = start(container)
    container.journeys.journey(jid)  # cached, as in a running process
    written = recorded_soon(container, jid, RecordStep(3, days_ago(5)))
    assert isinstance(written, Written)
    assert (written.version, written.duplicate) == (2, False)
    assert written.position == head(container)
    assert [e.kind for e in container.journeys.history(jid)] == ["Started", "LadderStepRecorded"]
    assert container.journeys.record(jid, RecordStep(4, days_ago(4)), by(container)).version == 3  # lock free


def test_record_soon_declines_what_it_cannot_do_without_waiting_and_changes_nothing(
    container: Container,
) -> None:
    jid = start(container)
    container.journeys._evict([jid])
    assert recorded_soon(container, jid, RecordStep(3, days_ago(5))) is False  # not cached: I/O
    container.journeys.journey(jid)
    stripe = container.journeys._locks[hash(jid) % len(container.journeys._locks)]
    with stripe:  # another writer holds the journey
        assert recorded_soon(container, jid, RecordStep(3, days_ago(5))) is False
    event_id = uuid4()
    container.journeys.record(jid, RecordStep(3, days_ago(5)), by(container, event_id))
    repeat = container.journeys.record_soon(
        jid, RecordStep(3, days_ago(5)), by(container, event_id), None, lambda _: None
    )
    assert repeat is False  # a repeat answers with a stored position: that is a read
    with pytest.raises(InvalidRungError):  # the fact's own fault: refused at once
        container.journeys.record_soon(jid, RecordStep(9, days_ago(5)), by(container), None, lambda _: None)
    assert container.journeys.journey(jid).version == 2
    assert container.journeys.record(jid, RecordStep(4, days_ago(4)), by(container)).version == 3


def test_a_fact_recorded_soon_that_loses_a_race_is_told_and_nothing_of_it_stays(
    make_settings: Callable[..., Settings],
) -> None:
    ours, theirs = build(make_settings()), build(make_settings())
    jid = start(ours)
    ours.journeys.journey(jid)  # cached by us at version 1 ...
    theirs.journeys.record(jid, RecordReconnection("club", days_ago(30)), by(theirs))  # ... then moved on
    lost = recorded_soon(ours, jid, RecordStep(3, days_ago(5)))
    assert isinstance(lost, BaseException)  # the store refused version 2 twice
    # The journey was let go: the next write reloads it and lands after theirs.
    assert ours.journeys.record(jid, RecordStep(3, days_ago(5)), by(ours)).version == 3
    assert [e.kind for e in ours.journeys.history(jid)] == [
        "Started",
        "SocialReconnectionRecorded",
        "LadderStepRecorded",
    ]
    ours.close()
    theirs.close()


def test_facts_recorded_soon_and_now_from_many_threads_land_with_gapless_versions(
    container: Container,
) -> None:
    jid = start(container)
    container.journeys.journey(jid)
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for k in range(10):
                command = RecordReconnection("club", days_ago(50 - k))
                outcome = recorded_soon(container, jid, command) if (n + k) % 2 else False
                if outcome is False or isinstance(outcome, BaseException):
                    container.journeys.record(jid, command, by(container))
        except BaseException as e:  # noqa: BLE001 - asserted below
            failures.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    history = container.journeys.history(jid)
    assert [e.version for e in history] == list(range(1, 82))
