"""The recipes' checks catch what they look for: a write stored twice, an acknowledged write lost,
a gap in a journey's versions, a 409 that was stored after all."""

from __future__ import annotations

from uuid import UUID, uuid4

from reliability import r2_crash_writes, r5_one_journey
from reliability.support import Stored, repeated_event_ids, version_gaps


def stored(journey: UUID, *versions_and_ids: tuple[int, UUID]) -> list[Stored]:
    return [Stored(journey, v, e, n) for n, (v, e) in enumerate(versions_and_ids, 1)]


def test_a_write_stored_twice_and_a_gap_are_found() -> None:
    journey, first, second = uuid4(), uuid4(), uuid4()
    events = stored(journey, (1, first), (2, second), (4, second))
    assert repeated_event_ids(events) == [second]
    assert len(version_gaps(events)) == 1
    assert version_gaps(stored(journey, (1, first), (2, second))) == []


def test_r2_finds_a_lost_acknowledged_write_one_stored_elsewhere_and_one_never_sent() -> None:
    journey, kept, lost, moved, stranger = uuid4(), uuid4(), uuid4(), uuid4(), uuid4()
    tally = r2_crash_writes.Tally()
    tally.sent |= {kept, lost, moved}
    tally.acked |= {kept: (journey, 1), lost: (journey, 2), moved: (journey, 3)}
    failures = r2_crash_writes.check(tally, stored(journey, (1, kept), (2, moved), (3, stranger)))
    assert any(str(lost) in f and "not stored" in f for f in failures)
    assert any(str(moved) in f and "stored as" in f for f in failures)
    assert any(str(stranger) in f and "never sent" in f for f in failures)
    assert r2_crash_writes.check(tally, stored(journey, (1, kept), (2, lost), (3, moved))) == []


def test_r5_finds_a_409_that_was_stored_and_a_write_neither_acknowledged_nor_refused() -> None:
    journey, start, won, refused = uuid4(), uuid4(), uuid4(), uuid4()
    race = r5_one_journey.Race()
    race.acked |= {start: 1, won: 2}
    race.given_up.add(refused)
    failures = r5_one_journey.check(race, stored(journey, (1, start), (2, won), (3, refused)), sent=3)
    assert any("409 but stored" in f for f in failures)
    assert r5_one_journey.check(race, stored(journey, (1, start), (2, won)), sent=4) != []
    assert r5_one_journey.check(race, stored(journey, (1, start), (2, won)), sent=3) == []
