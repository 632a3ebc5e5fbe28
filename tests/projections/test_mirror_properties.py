"""For every set of journeys, the mirror maintained event by event equals a fold from scratch, and
both equal a plain computation straight from the definitions in docs/outcomes.md."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import JourneyError
from domain.journey import Journey
from domain.timeline import Timeline
from projections import mirror
from projections.months import month_of
from projections.outcomes import MonthFigures, figures
from tests.domain.factories import START, TODAY, by, day
from tests.domain.test_journey_properties import apply, operation
from tests.projections.oracle import oracle

TEAMS = ("noord", "zuid", "centrum")
SUSTAINED = 2
FIRST, LAST = month_of(START), month_of(TODAY)

journey_spec = st.tuples(
    st.sampled_from(TEAMS), st.integers(1, 6), st.integers(0, 120), st.lists(operation, max_size=30)
)


def build(team: str, rung: int, offset: int, ops: list[tuple[str, int, Any]]) -> Journey:
    journey = Journey.start(
        client_ref="p", municipality="A", team=team, initial_rung=rung, effective_date=day(offset), by=by()
    )
    history: list[tuple[Any, ...]] = []
    for op in ops:
        with contextlib.suppress(JourneyError):
            apply(journey, op, history)
    return journey


def timeline(journey: Journey) -> Timeline:
    return journey.timeline


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.lists(journey_spec, min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_the_incremental_mirror_equals_a_fresh_fold_and_the_plain_definitions(
    specs: list[tuple[str, int, int, list[tuple[str, int, Any]]]], rng: Any
) -> None:
    journeys = [build(*spec) for spec in specs]
    streams = [list(j.collect_events()) for j in journeys]
    # Interleave the journeys' events as a log would, keeping each journey's own order.
    log: list[object] = []
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        log.append(stream.pop(0))

    stored: dict[Any, mirror.JourneyFold | None] = {}
    counts: Counter[mirror.Key] = Counter()
    i = 0
    while i < len(log):
        size = rng.randint(1, 7)
        delta, touched = mirror.process(log[i : i + size], stored)
        counts.update(delta)
        # The view stores folds as JSON: go through that, as the runner does.
        stored |= {jid: mirror.JourneyFold.load(s.dump()) for jid, s in touched.items()}
        i += size

    fresh: Counter[mirror.Key] = Counter()
    for j in journeys:
        fresh.update(mirror.fold(timeline(j)))
    assert +counts == +fresh

    rows = [(*k, n) for k, n in counts.items() if n]
    got = figures(rows, FIRST, LAST, today=TODAY, sustained_months=SUSTAINED)
    expected = oracle(
        [timeline(j) for j in journeys], TEAMS, FIRST, LAST, today=TODAY, sustained_months=SUSTAINED
    )
    for (team, month), want in expected.items():
        have = got.get(team, {}).get(month, MonthFigures(month, want.complete))
        assert have == want, (team, month)
