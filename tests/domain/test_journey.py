"""The rules a journey keeps (docs/architecture.md, "The rules a journey keeps"), one test each."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import errors
from domain.journey import Journey, journey_id_for
from domain.vocabulary import Rung
from tests.domain.factories import START, TODAY, by, day, started


def test_a_journey_starts_open_at_its_initial_rung_with_its_team() -> None:
    journey = started(rung=3, team="zuid")
    assert (journey.rung, journey.team, journey.is_open, journey.version) == (3, "zuid", True, 1)
    assert journey.start_date == START


def test_a_start_gets_the_journey_id_of_its_event_id() -> None:
    provenance = by()
    journey = Journey.start(
        client_ref="p", municipality="A", team="t", initial_rung=1, effective_date=START, by=provenance
    )
    assert journey.id == journey_id_for(provenance.event_id)


@pytest.mark.parametrize("rung", [1, 2, 3, 4, 5, 6])
def test_every_ladder_rung_can_be_recorded(rung: int) -> None:
    journey = started()
    journey.record_step(rung, day(10), by())
    assert journey.rung == rung


@pytest.mark.parametrize("rung", [0, 7, -1, True])
def test_a_rung_outside_1_to_6_is_refused(rung: int) -> None:
    journey = started()
    with pytest.raises(errors.InvalidRungError) as raised:
        journey.record_step(rung, day(10), by())
    assert raised.value.field == "to_rung"
    assert journey.version == 1


def test_rungs_have_dutch_and_english_names() -> None:
    assert Rung(1).dutch == "Geïsoleerd"
    assert Rung(6).english == "Paid work without support"


def test_a_fact_dated_in_the_future_is_refused() -> None:
    journey = started()
    with pytest.raises(errors.FutureDateError) as raised:
        journey.record_step(3, TODAY + timedelta(days=1), by())
    assert raised.value.field == "effective_date"


def test_a_journey_cannot_start_in_the_future() -> None:
    with pytest.raises(errors.FutureDateError):
        started(on=TODAY + timedelta(days=1))


def test_a_fact_dated_before_the_start_is_refused() -> None:
    journey = started()
    with pytest.raises(errors.BeforeStartError):
        journey.record_reconnection("club", START - timedelta(days=1), by())


def test_a_closed_journey_accepts_no_facts_dated_after_the_closure() -> None:
    journey = started()
    journey.close("moved", day(30), by())
    with pytest.raises(errors.JourneyClosedError):
        journey.record_step(3, day(31), by())
    assert not journey.is_open


def test_a_late_fact_dated_before_the_closure_is_still_accepted() -> None:
    journey = started()
    journey.close("work", day(30), by())
    journey.record_step(5, day(20), by())
    journey.record_reconnection("club", day(30), by())  # the closure takes effect at the day's end
    assert journey.rung == 5


def test_a_reopened_journey_accepts_facts_again() -> None:
    journey = started()
    journey.close("moved", day(30), by())
    journey.reopen("back", day(60), by())
    journey.record_step(3, day(61), by())
    assert journey.is_open
    assert journey.rung == 3


def test_a_fact_between_closure_and_reopening_is_refused() -> None:
    journey = started()
    journey.close("moved", day(30), by())
    journey.reopen("back", day(60), by())
    with pytest.raises(errors.JourneyClosedError):
        journey.record_step(3, day(45), by())


def test_closing_twice_and_reopening_an_open_journey_conflict() -> None:
    journey = started()
    with pytest.raises(errors.NotClosedError):
        journey.reopen("", day(5), by())
    journey.close("other", day(10), by())
    with pytest.raises(errors.JourneyClosedError):
        journey.close("other", day(20), by())


def test_a_backdated_closure_that_would_strand_later_facts_is_refused() -> None:
    journey = started()
    journey.record_step(3, day(50), by())
    with pytest.raises(errors.JourneyClosedError) as raised:
        journey.close("moved", day(40), by())
    assert "entry 2" in raised.value.detail


def test_work_can_only_end_after_a_work_exit() -> None:
    journey = started(rung=5)
    with pytest.raises(errors.NoWorkToEndError):
        journey.record_work_ended("dismissed", day(10), by())
    journey.record_work_exit("employment", 32, "temporary", day(10), by())
    journey.record_work_ended("contract_ended", day(100), by())
    assert not journey.timeline.state_on(day(100)).in_work
    assert journey.timeline.state_on(day(50)).in_work


@pytest.mark.parametrize(
    ("kind", "hours", "contract", "field"),
    [
        ("astronaut", 32, "temporary", "kind"),
        ("employment", 0, "temporary", "hours_per_week"),
        ("employment", 81, "temporary", "hours_per_week"),
        ("employment", 32, "forever", "contract"),
    ],
)
def test_a_work_exit_with_invalid_facts_is_refused(
    kind: str, hours: float, contract: str, field: str
) -> None:
    journey = started()
    with pytest.raises(errors.InvalidValueError) as raised:
        journey.record_work_exit(kind, hours, contract, day(10), by())
    assert raised.value.field == field


def test_a_zrm_assessment_records_scores_for_its_version() -> None:
    journey = started()
    journey.assess_self_reliance("2017", {"finances": 2, "substance_use": 4}, day(3), by())
    state = journey.timeline.state_on(day(3))
    assert state.assessments["2017"].facts["scores"] == {"finances": 2, "substance_use": 4}


@pytest.mark.parametrize(
    ("version", "scores", "field"),
    [
        ("2020", {"finances": 2}, "zrm_version"),
        ("2013", {}, "scores"),
        ("2013", {"substance_use": 3}, "scores.substance_use"),  # a 2017 domain
        ("2017", {"addiction": 3}, "scores.addiction"),  # a 2013 domain
        ("2017", {"finances": 6}, "scores.finances"),
        ("2017", {"finances": 0}, "scores.finances"),
    ],
)
def test_a_zrm_assessment_outside_its_version_is_refused(
    version: str, scores: dict[str, int], field: str
) -> None:
    journey = started()
    with pytest.raises(errors.InvalidZrmError) as raised:
        journey.assess_self_reliance(version, scores, day(3), by())
    assert raised.value.field == field


def test_a_team_change_moves_the_journey_from_its_date_on() -> None:
    journey = started(team="noord")
    journey.change_team("zuid", day(40), by())
    assert journey.timeline.team_on(day(39)) == "noord"
    assert journey.timeline.team_on(day(40)) == "zuid"
    assert journey.entries[2].facts == {"from_team": "noord", "to_team": "zuid"}


def test_a_team_change_to_the_team_that_holds_it_is_refused() -> None:
    journey = started(team="noord")
    with pytest.raises(errors.SameTeamError):
        journey.change_team("noord", day(40), by())


def test_a_voided_step_counts_as_if_it_never_happened() -> None:
    journey = started(rung=2)
    step = journey.record_step(4, day(10), by())
    journey.void(step, "wrong client", by())
    assert journey.rung == 2
    assert step in journey.voided


def test_an_entry_cannot_be_voided_twice_or_if_it_does_not_exist() -> None:
    journey = started()
    step = journey.record_step(4, day(10), by())
    with pytest.raises(errors.EntryNotFoundError):
        journey.void(99, "typo", by())
    journey.void(step, "typo", by())
    with pytest.raises(errors.AlreadyVoidedError):
        journey.void(step, "typo again", by())


def test_the_start_and_a_void_cannot_be_voided() -> None:
    journey = started()
    step = journey.record_step(4, day(10), by())
    void = journey.void(step, "typo", by())
    with pytest.raises(errors.NotVoidableError):
        journey.void(1, "oops", by())
    with pytest.raises(errors.NotVoidableError):
        journey.void(void, "oops", by())


def test_voiding_a_closure_that_a_reopening_relies_on_is_refused() -> None:
    journey = started()
    closure = journey.close("moved", day(10), by())
    journey.reopen("back", day(20), by())
    with pytest.raises(errors.NotClosedError) as raised:
        journey.void(closure, "was never closed", by())
    assert raised.value.field == "voided_version"


def test_a_backdated_step_changes_the_direction_of_the_steps_after_it() -> None:
    journey = started(rung=2)
    later = journey.record_step(4, day(20), by())
    assert journey.timeline.rung_before(journey.entries[later]) == 2
    journey.record_step(5, day(10), by())  # recorded late, dated earlier
    assert journey.timeline.rung_before(journey.entries[later]) == 5  # 5 -> 4 is now a step down
    assert journey.rung == 4


def test_the_same_event_id_with_the_same_fact_records_it_once() -> None:
    journey = started()
    provenance = by()
    first = journey.record_step(3, day(5), provenance)
    again = journey.record_step(3, day(5), provenance)
    assert first == again == 2
    assert journey.version == 2
    assert len(journey.collect_events()) == 2  # the start and one step


def test_the_same_event_id_with_another_fact_is_a_conflict() -> None:
    journey = started()
    provenance = by()
    journey.record_step(3, day(5), provenance)
    with pytest.raises(errors.IdempotencyConflict) as raised:
        journey.record_step(4, day(5), provenance)
    assert raised.value.field == "event_id"
    with pytest.raises(errors.IdempotencyConflict):
        journey.record_reconnection("club", day(5), provenance)


def test_every_event_says_who_recorded_it_when_about_which_date_and_from_where() -> None:
    journey = started()
    provenance = by()
    journey.record_step(3, day(5), provenance)
    step = journey.collect_events()[-1]
    assert isinstance(step, Journey.LadderStepRecorded)
    assert (step.actor_id, step.actor_role, step.source, step.channel) == (
        "cw-7",
        "caseworker",
        "tests",
        "http",
    )
    assert (step.event_id, step.effective_date, step.correlation_id) == (provenance.event_id, day(5), "c-1")
    assert step.timestamp.tzinfo is not None
