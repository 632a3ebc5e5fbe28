"""Every journey event survives the trip through the store's encoding unchanged."""

from __future__ import annotations

from eventsourcing.persistence import JSONTranscoder

from infra.codec import TypedMapper, entry_of
from tests.domain.factories import by, day, started


def test_every_event_class_round_trips_with_its_field_types() -> None:
    journey = started()
    journey.record_step(3, day(1), by())
    journey.record_work_exit("wage_subsidy", 24, "permanent", day(2), by())
    journey.record_work_ended("health", day(3), by())
    journey.record_reconnection("course", day(4), by())
    journey.assess_self_reliance("2017", {"finances": 2, "justice": 5}, day(5), by())
    journey.change_team("zuid", day(6), by())
    journey.close("moved", day(7), by())
    journey.reopen("back", day(8), by())
    journey.void(2, "wrong", by())
    events = journey.collect_events()
    assert len({type(e) for e in events}) == 10
    mapper = TypedMapper(JSONTranscoder())
    for event in events:
        stored = mapper.to_stored_event(event)
        assert b"_type_" not in stored.state
        back = mapper.to_domain_event(stored)
        assert type(back) is type(event)
        assert vars(back) == vars(event)
        assert {k: type(v) for k, v in vars(back).items()} == {k: type(v) for k, v in vars(event).items()}


def test_the_rebuilds_fast_reading_gives_the_same_entries_as_the_events() -> None:
    journey = started()
    journey.record_step(3, day(1), by())
    journey.record_work_exit("employment", 32, "temporary", day(2), by())
    journey.assess_self_reliance("2013", {"housing": 4}, day(3), by())
    journey.change_team("zuid", day(4), by())
    journey.void(2, "wrong", by())
    mapper = TypedMapper(JSONTranscoder())
    for event in journey.collect_events():
        stored = mapper.to_stored_event(event)
        assert entry_of(stored.topic, stored.originator_version, stored.state) == event.entry()  # type: ignore[attr-defined]
