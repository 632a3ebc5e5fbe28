"""For every sequence of commands, accepted or refused, the journey stays consistent."""

from __future__ import annotations

import copy
from contextlib import suppress
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import JourneyError
from domain.journey import Journey
from domain.timeline import CLOSED, REOPENED, STEP, TEAM_CHANGED, Timeline
from tests.domain.factories import by, day, started

TEAMS = ("noord", "zuid", "centrum")

step = st.tuples(st.just("step"), st.integers(0, 200), st.integers(0, 7))
operation = st.one_of(
    step,
    step,
    step,
    st.tuples(st.just("exit"), st.integers(0, 200), st.sampled_from(["employment", "wage_subsidy"])),
    st.tuples(st.just("ended"), st.integers(0, 200), st.just("dismissed")),
    st.tuples(st.just("reconnect"), st.integers(-5, 200), st.just("club")),
    st.tuples(st.just("reconnect"), st.integers(-5, 200), st.just("club")),
    st.tuples(st.just("team"), st.integers(0, 200), st.sampled_from(TEAMS)),
    st.tuples(st.just("close"), st.integers(0, 200), st.just("moved")),
    st.tuples(st.just("reopen"), st.integers(0, 200), st.just("back")),
    st.tuples(st.just("void"), st.integers(0, 200), st.integers(1, 30)),
    st.tuples(st.just("repeat"), st.integers(0, 200), st.integers(0, 30)),
)


def apply(journey: Journey, op: tuple[str, int, Any], history: list[tuple[Any, ...]]) -> None:
    kind, offset, arg = op
    when = day(offset)
    if kind == "repeat":  # resend an earlier command under its event id: must change nothing
        if not history:
            return
        kind, offset, arg, provenance = history[arg % len(history)]
        when = day(offset)
    else:
        provenance = by()
    calls = {
        "step": lambda: journey.record_step(arg, when, provenance),
        "exit": lambda: journey.record_work_exit(arg, 24, "temporary", when, provenance),
        "ended": lambda: journey.record_work_ended(arg, when, provenance),
        "reconnect": lambda: journey.record_reconnection(arg, when, provenance),
        "team": lambda: journey.change_team(arg, when, provenance),
        "close": lambda: journey.close(arg, when, provenance),
        "reopen": lambda: journey.reopen(arg, when, provenance),
        "void": lambda: journey.void(arg, "wrong", provenance),
    }
    calls[kind]()
    history.append((kind, offset, arg, provenance))


def snapshot(journey: Journey) -> tuple[Any, ...]:
    return (journey.version, dict(journey.entries), set(journey.voided), list(journey.timeline))


def oracle_rung(journey: Journey, on: date) -> int:
    """The rung on a date, computed the plain way: the latest non-voided step on or before it."""
    steps = [
        e
        for v, e in journey.entries.items()
        if e.kind == STEP and v not in journey.voided and e.effective_date <= on
    ]
    if not steps:
        return int(journey.entries[1].facts["initial_rung"])
    return int(max(steps, key=lambda e: (e.effective_date, e.version)).facts["to_rung"])


def oracle_team(journey: Journey, on: date) -> str:
    changes = [
        e
        for v, e in journey.entries.items()
        if e.kind == TEAM_CHANGED and v not in journey.voided and e.effective_date <= on
    ]
    if not changes:
        return str(journey.entries[1].facts["team"])
    return str(max(changes, key=lambda e: (e.effective_date, e.version)).facts["to_team"])


def oracle_open(journey: Journey, on: date) -> bool:
    marks = [
        e
        for v, e in journey.entries.items()
        if e.kind in (CLOSED, REOPENED) and v not in journey.voided and e.effective_date <= on
    ]
    if not marks:
        return True
    # On one date a closure comes after a reopening (it takes effect at the day's end).
    last = max(marks, key=lambda e: (e.effective_date, e.kind == CLOSED, e.version))
    return last.kind == REOPENED


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=60))
def test_any_sequence_keeps_the_rules_and_replays_to_the_same_state(
    ops: list[tuple[str, int, Any]],
) -> None:
    journey = started(rung=2, team="noord")
    history: list[tuple[Any, ...]] = []
    for op in ops:
        before = snapshot(journey)
        pending = len(journey.pending_events)
        try:
            apply(journey, op, history)
        except JourneyError:
            assert snapshot(journey) == before, "a refused command changed the journey"
            assert len(journey.pending_events) == pending
        assert journey.timeline.first_violation() is None

    for offset in range(-1, 202, 7):
        on = day(offset)
        if offset >= 0:
            assert journey.timeline.rung_on(on) == oracle_rung(journey, on)
            assert journey.timeline.team_on(on) == oracle_team(journey, on)
        assert journey.timeline.is_open_on(on) == (offset >= 0 and oracle_open(journey, on))

    events = journey.collect_events()
    assert [e.originator_version for e in events] == list(range(1, journey.version + 1))
    replayed: Journey | None = None
    for event in events:
        replayed = event.mutate(replayed)  # type: ignore[arg-type]
    assert replayed is not None
    assert snapshot(replayed) == snapshot(journey)
    assert replayed.event_ids == journey.event_ids


def test_a_deep_copy_of_a_journey_is_equal_to_it() -> None:
    journey = started()
    journey.record_step(3, day(5), by())
    assert snapshot(copy.deepcopy(journey)) == snapshot(journey)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=60), st.integers(0, 60))
def test_the_timeline_replayed_from_entries_is_the_aggregates_own(
    ops: list[tuple[str, int, Any]], cut: int
) -> None:
    """The audit path builds a timeline from entries in one go; for every history, and every prefix
    of it (what was known at some moment), it is the one the aggregate builds event by event."""
    journey = started(rung=2, team="noord")
    history: list[tuple[Any, ...]] = []
    for op in ops:
        with suppress(JourneyError):
            apply(journey, op, history)
    events = journey.collect_events()
    known = events[: max(1, cut % (len(events) + 1))]
    then: Journey | None = None
    for event in known:
        then = event.mutate(then)  # type: ignore[arg-type]
    assert then is not None
    fast = Timeline.replayed([e.entry() for e in known])  # type: ignore[attr-defined]
    assert list(fast) == list(then.timeline)
    for offset in range(-1, 202, 13):
        assert fast.state_on(day(offset)) == then.timeline.state_on(day(offset))
