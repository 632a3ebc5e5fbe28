"""Events the journey builds are exactly what their dataclasses would build."""

from __future__ import annotations

import dataclasses

import pytest

from domain.journey import Journey
from domain.vocabulary import ZRM_DOMAINS
from tests.domain.factories import by, day, started


def every_kind_of_fact() -> Journey:
    journey = started()
    journey.record_step(3, day(5), by())
    journey.record_work_exit("employment", 24, "temporary", day(10), by())
    journey.record_work_ended("dismissed", day(20), by())
    journey.record_reconnection("volunteering", day(21), by())
    journey.assess_self_reliance("2017", dict.fromkeys(ZRM_DOMAINS["2017"], 3), day(22), by())
    journey.change_team("zuid", day(23), by())
    journey.close("moved", day(30), by())
    journey.reopen("back", day(40), by())
    journey.void(2, "wrong rung", by())
    return journey


def test_each_event_has_exactly_its_fields_and_equals_the_dataclass_built_one() -> None:
    journey = every_kind_of_fact()
    events = journey.collect_events()
    assert len({type(e) for e in events}) == len(events)  # one of each kind
    for event in events:
        names = {f.name for f in dataclasses.fields(event)}  # type: ignore[arg-type]
        assert set(vars(event)) == names
        rebuilt = type(event)(**vars(event))
        assert rebuilt == event
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.reason = "edited"  # type: ignore[misc]


def test_a_wrong_field_set_goes_through_the_dataclass_and_is_named() -> None:
    journey = started()
    with pytest.raises(TypeError, match="to_rung"):
        journey.trigger_event(Journey.LadderStepRecorded, effective_date=day(3))
    assert journey.version == 1
