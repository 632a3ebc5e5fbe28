"""No viewer can pin another team's hidden cell to 1..k-1 from everything the mirror shows them.

The audit (reliability/disclosure.py) is checked first: every relation it models holds for the true
figures of generated caseloads (a relation that does not hold would make the audit wrong). Then the
suppression is checked by it: on generated caseloads over their whole span, on the filed attack, on
a caseload whose months pass with nothing happening, and on the demo caseload, for an outsider, a
member of each team, and a member of several teams (of all teams but one).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.journey import Journey
from projections import mirror
from projections.months import month_of, months
from projections.outcomes import Row
from projections.queries import Outcomes, Viewer
from reliability.disclosure import audit_viewer, published, solvable, viewers
from reliability.r8_disclosure import Rows, audit_all, demo_rows
from tests.domain.factories import START, TODAY, by
from tests.projections.test_mirror_properties import build, journey_spec

K = 5
FIRST, LAST = month_of(START), month_of(TODAY)


def rows_of(journeys: list[Journey]) -> list[Row]:
    counts: Counter[mirror.Key] = Counter()
    for j in journeys:
        counts.update(mirror.fold(j.timeline))
    return [(*key, n) for key, n in counts.items() if n]


def outcomes_of(rows: list[Row], today: date = TODAY) -> Outcomes:
    return Outcomes(Rows(rows), k=K, sustained_months=2, today=today)


caseloads = st.lists(journey_spec, min_size=1, max_size=12)
QUIET: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@settings(max_examples=30, **QUIET)
@given(caseloads)
def test_every_relation_the_audit_models_holds_for_the_true_figures(
    specs: list[tuple[str, int, int, list[tuple[str, int, Any]]]],
) -> None:
    outcomes = outcomes_of(rows_of([build(*spec) for spec in specs]))
    truth = published(outcomes, FIRST, LAST, Viewer(sees_all_exact=True))
    # Every cell known, only the unpublished counts (starts, reopenings and closures by rung) free:
    # the relations have a solution (a relation broken by known cells alone raises).
    assert solvable(truth, FIRST, LAST)
    # And a relation that did not hold would be caught: one step too many in a flow.
    m = LAST
    wrong = dict(truth) | {("*", m, "flow.1.2"): (truth["*", m, "flow.1.2"] or 0) + 1}
    assert not solvable(wrong, FIRST, LAST)


@settings(max_examples=30, **QUIET)
@given(caseloads)
def test_no_viewer_can_pin_a_hidden_cell_of_a_generated_caseload_over_its_whole_span(
    specs: list[tuple[str, int, int, list[tuple[str, int, Any]]]],
) -> None:
    outcomes = outcomes_of(rows_of([build(*spec) for spec in specs]))
    teams = {spec[0] for spec in specs}
    # The attacker models: an outsider, a member of one team, and a member of several teams short
    # of all (of all teams but one: the municipality less their own is the remaining team). The
    # whole span at once, with every relation inside a month and between months: every window is a
    # part of it, with less to reason over, and a month's pattern is the same in every window.
    for viewer in viewers(teams, several=True):
        report = audit_viewer(outcomes, FIRST, LAST, viewer, each_team=False)
        assert not report.pinned, (viewer, report.pinned)


def test_a_team_member_cannot_pin_the_municipalitys_stock_through_months_where_nothing_happens() -> None:
    # Found by the whole-span audit: noord's member knows noord's five clients; in the months after
    # January nothing starts or closes, so the municipality's rungs carry over month to month. A
    # change of its stock in one month that the months around cannot absorb pinned `active` in
    # March (its part not noord's: 2) through the months shown beside it.
    specs: list[tuple[str, int, int, list[tuple[str, int, Any]]]] = [
        ("noord", 6, 0, []),
        ("noord", 3, 0, []),
        ("noord", 5, 0, []),
        ("centrum", 4, 0, [("step", 0, 0), ("step", 62, 3)]),
        ("noord", 1, 0, []),
        ("noord", 2, 0, []),
        ("zuid", 1, 0, []),
    ]
    outcomes = outcomes_of(rows_of([build(*spec) for spec in specs]))
    for viewer in viewers({"noord", "zuid", "centrum"}, several=True):
        report = audit_viewer(outcomes, FIRST, LAST, viewer, each_team=False)
        assert report.checked > 0
        assert report.pinned == [], viewer


def test_a_team_member_cannot_pin_a_count_of_a_team_that_has_no_figures_in_the_months_after() -> None:
    # Found by the whole-span audit: one journey starts in noord, spends January in zuid and comes
    # back. noord's member knows noord started it; zuid's January can only be moved together with
    # the municipality's months after, in which zuid counts nothing: the run of months takes zuid
    # along (its zeros hidden there) rather than stopping at it.
    specs: list[tuple[str, int, int, list[tuple[str, int, Any]]]] = [
        ("noord", 1, 0, [("team", 1, "zuid"), ("team", 31, "noord")]),
    ]
    outcomes = outcomes_of(rows_of([build(*spec) for spec in specs]))
    for viewer in viewers({"noord", "zuid", "centrum"}, several=True):
        report = audit_viewer(outcomes, FIRST, LAST, viewer, each_team=False)
        assert report.pinned == [], viewer


@settings(max_examples=15, **QUIET)
@given(caseloads)
def test_a_months_pattern_is_the_same_in_every_window_that_holds_it(
    specs: list[tuple[str, int, int, list[tuple[str, int, Any]]]],
) -> None:
    # Else answers for two windows could be laid side by side to undo each other's suppression.
    outcomes = outcomes_of(rows_of([build(*spec) for spec in specs]))
    for viewer in viewers({spec[0] for spec in specs}, several=True):
        whole = published(outcomes, FIRST, LAST, viewer, each_team=False)
        for month in months(FIRST, LAST):
            alone = published(outcomes, month, month, viewer, each_team=False)
            shared = {c: v for c, v in whole.items() if c[1] == month and c[0] in {s for s, _, _ in alone}}
            assert {c: v for c, v in alone.items() if c[0] in {s for s, _, _ in shared}} == shared


def journey(team: str, rung: int, *steps: int) -> Journey:
    j = Journey.start(
        client_ref="p",
        municipality="A",
        team=team,
        initial_rung=rung,
        effective_date=date(2026, 1, 5),
        by=by(),
    )
    for i, to in enumerate(steps):
        j.record_step(to, date(2026, 3, 10 + i), by())
    return j


def test_a_team_lead_cannot_work_out_another_teams_flows_from_the_municipality_and_their_own() -> None:
    # The filed attack: centrum's lead knows centrum's flows exactly, sees the municipality's
    # steps_up (9, shown) and every team's flows as published; flows that were left out said
    # "zero", and what one sum gave away was carried into the next.
    caseload = [
        journey("noord", 3, 4, 5),
        journey("noord", 3, 4, 5),
        journey("noord", 4),
        journey("zuid", 4, 5),
        journey("zuid", 3, 4, 5),
        journey("centrum", 3),
        journey("centrum", 3, 4, 5),
    ]
    outcomes = outcomes_of(rows_of(caseload))
    lead = Viewer(exact_teams=frozenset({"centrum"}))
    truth = published(outcomes, "2026-03", "2026-03", Viewer(sees_all_exact=True))
    assert truth["*", "2026-03", "steps_up"] == 9
    assert truth["noord", "2026-03", "flow.3.4"] == 2
    report = audit_viewer(outcomes, "2026-03", "2026-03", lead)
    assert report.checked > 0
    assert report.pinned == []


def test_every_flow_is_shown_even_a_zero_so_that_no_absent_key_says_zero() -> None:
    outcomes = outcomes_of(rows_of([journey("noord", 3, 4)]))
    months = outcomes.team("noord", "2026-03", "2026-03", Viewer())
    flows = [name for name in months[0].figures if name.startswith("flow.")]
    assert len(flows) == 36


def test_no_viewer_can_pin_a_hidden_cell_of_the_demo_caseload(tmp_path: Path) -> None:
    today = date(2026, 6, 30)
    source = demo_rows(tmp_path, journeys=600, years=2, today=today)
    outcomes = outcomes_of(source.all, today)
    teams = sorted({r[0] for r in source.all})
    first = min(r[1] for r in source.all)
    last = month_of(today)
    # A team's own answer is the municipality's row for it (checked once, not per viewer: slow).
    assert (
        outcomes.team("zuid", first, last, Viewer()) == outcomes.municipality(first, last, Viewer())["zuid"]
    )
    count, report = audit_all(outcomes, first, last, teams, each_team=False)
    assert count == 7  # an outsider, each of three teams, each two of them
    assert report.checked > 500
    assert report.pinned == []
