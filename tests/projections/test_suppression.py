"""Small-cell protection: no small count shows, and no hidden cell can be worked out from a sum.

The linear reasoning over everything a viewer sees (every sum at once, non-negativity, the months
around) is checked by the disclosure audit in test_disclosure.py; these are the month's rules.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.certificates import TABLES
from projections.outcomes import MonthFigures
from projections.suppression import MUNICIPALITY, cells, suppress

K = 5
TEAMS = ("noord", "zuid", "centrum", "oost")

small = st.integers(0, 12)


@st.composite
def month_table(draw: st.DrawFn) -> dict[str, MonthFigures]:
    table: dict[str, MonthFigures] = {}
    for team in draw(st.lists(st.sampled_from(TEAMS), min_size=1, max_size=4, unique=True)):
        f = MonthFigures("2026-03", True)
        f.rungs = {r: draw(small) for r in range(1, 7)}
        f.active = sum(f.rungs.values())
        f.work_exits = {"employment": draw(small), "wage_subsidy": draw(small)}
        exits = sum(f.work_exits.values())
        f.ended_within = draw(st.integers(0, exits))
        f.pending = draw(st.integers(0, exits - f.ended_within))
        f.sustained = exits - f.ended_within - f.pending
        f.moved_up = draw(st.integers(0, f.active - f.rungs[1]))
        f.flows = {(5, 6): f.moved_up}  # who moved up made a step up
        f.steps_up = f.moved_up
        table[team] = f
    total = MonthFigures("2026-03", True)
    for f in table.values():
        total.active += f.active
        total.moved_up += f.moved_up
        total.steps_up += f.steps_up
        total.flows[5, 6] = total.flows.get((5, 6), 0) + f.flows[5, 6]
        total.sustained += f.sustained
        total.ended_within += f.ended_within
        total.pending += f.pending
        for r, n in f.rungs.items():
            total.rungs[r] += n
        for kind, n in f.work_exits.items():
            total.work_exits[kind] = total.work_exits.get(kind, 0) + n
    table[MUNICIPALITY] = total
    return table


def groups(table: dict[str, MonthFigures]) -> list[list[tuple[str, str]]]:
    found = []
    for scope in table:
        for t in TABLES:
            if t.total:
                found.append([(scope, t.total), *((scope, p) for p in t.parts)])
    for name in cells(table[MUNICIPALITY]):
        found.append([(MUNICIPALITY, name), *((t, name) for t in table if t != MUNICIPALITY)])
    return found


@settings(max_examples=150, deadline=None)
@given(month_table(), st.sets(st.sampled_from(TEAMS), max_size=2))
def test_no_small_count_shows_and_no_sum_has_a_single_hidden_cell(
    table: dict[str, MonthFigures], known: set[str]
) -> None:
    hidden = suppress(table, K, frozenset(known))
    for scope, f in table.items():
        for name, n in cells(f).items():
            if scope in known:
                assert (scope, name) not in hidden, "the team's own figures are exact"
            elif 1 <= n < K:
                assert (scope, name) in hidden, (scope, name, n)
    # The pattern anyone sees is one pattern: what reporting sees, plus the viewer's own exact.
    common = suppress(table, K)
    if len(known) <= 1:
        assert hidden == {c for c in common if c[0] not in known}
    # Nobody who knows one team can work out a small count they do not know by one subtraction
    # (of a municipality cell, the part that is not their own).
    values = {(scope, name): n for scope, f in table.items() for name, n in cells(f).items()}
    for insider in [set(), *({t} for t in table if t != MUNICIPALITY)]:
        for group in groups(table):
            unknown_hidden = [c for c in group if c in common and c[0] not in insider]
            unknown_all = [c for c in group if c[0] not in insider]
            if len(unknown_hidden) == 1 and len(unknown_all) > 1:
                (scope, name) = cell = unknown_hidden[0]
                mine = sum(values.get((t, name), 0) for t in insider) if scope == MUNICIPALITY else 0
                if 1 <= values[cell] - mine < K:
                    raise AssertionError(f"someone in {insider} could work out {cell} from {group}")


def test_a_lone_small_rung_gets_a_complement_so_it_cannot_be_subtracted_out() -> None:
    f = MonthFigures("2026-03", True)
    f.rungs = {1: 0, 2: 3, 3: 9, 4: 7, 5: 0, 6: 0}
    f.active = 19
    hidden = suppress({"noord": f, MUNICIPALITY: f}, K)
    assert ("noord", "rung.2") in hidden
    assert ("noord", "rung.4") in hidden  # the smallest other non-zero cell
    assert ("noord", "active") not in hidden
    assert ("noord", "rung.3") not in hidden


def test_the_viewers_own_team_is_exact_and_every_viewer_sees_one_pattern() -> None:
    own, other = MonthFigures("2026-03", True), MonthFigures("2026-03", True)
    own.started, other.started = 2, 8
    total = MonthFigures("2026-03", True)
    total.started = 10
    table = {"noord": own, "zuid": other, MUNICIPALITY: total}
    hidden = suppress(table, K, frozenset({"noord"}))
    assert ("noord", "started") not in hidden  # noord sees its own 2
    as_reporting = suppress(table, K)
    assert ("noord", "started") in as_reporting
    assert ("zuid", "started") in as_reporting  # else 10 - 8 gives noord's 2
    assert ("zuid", "started") in hidden  # the same pattern for noord: no view undoes another


def test_a_flow_left_out_is_a_zero_shown_so_it_can_be_hidden_like_any_count() -> None:
    f = MonthFigures("2026-03", True)
    f.flows = {(3, 4): 2}
    shown = cells(f)
    assert shown["flow.3.4"] == 2
    assert shown["flow.4.5"] == 0
    assert sum(name.startswith("flow.") for name in shown) == 36
