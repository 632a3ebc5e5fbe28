"""The disclosure audit: can a viewer pin a hidden cell to 1..k-1 from everything they see?

For the tables one viewer can see together (every team's outcomes and flows, the municipality
beside its teams, every month of a window), the audit writes down every relation that holds
between the published figures by definition (docs/disclosure.md lists them, and the tests check
each against the true figures of generated caseloads), fixes the cells the viewer sees to what they
see, and asks an integer program (HiGHS, through scipy's `milp`) for the least and the greatest
value each hidden cell can take. A hidden cell whose true count is 1..k-1 is *pinned* when every
solution keeps it inside 1..k-1: no solution makes it 0, none reaches k. A hidden cell whose true
count is 0 or at least k cannot be pinned (the truth is one solution), so only those are solved.

The system falls apart into independent pieces (cells linked by no chain of relations); each piece
is solved on its own, which keeps the programs small.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp  # type: ignore[import-untyped]

from projections.months import months as month_range
from projections.queries import Month, Outcomes, Viewer
from projections.suppression import MUNICIPALITY

Cell = tuple[str, str, str]  # scope (a team, or MUNICIPALITY), month, figure
Var = Cell | tuple[str, str, str, int]  # a cell, or an unpublished count: ("aux", month, what, rung)
RUNGS = range(1, 7)
FLOWS = [f"flow.{a}.{b}" for a in RUNGS for b in RUNGS]


@dataclass(frozen=True)
class Relation:
    """sum(coef * term) == rhs (or <= rhs): a fact every true set of figures obeys."""

    terms: tuple[tuple[Var, int], ...]
    rhs: int = 0
    equal: bool = True


def published(
    outcomes: Outcomes, first: str, last: str, viewer: Viewer, *, each_team: bool = True
) -> dict[Cell, int | None]:
    """Every cell the viewer can be shown for months first..last (None: shown as suppressed).

    The municipality answer holds every team beside it; with `each_team`, each team's own answer
    (its flows are a part of it) is asked too, and a difference between the two would show up as
    two values for one cell.
    """
    seen: dict[Cell, int | None] = {}

    def take(scope: str, answer: list[Month]) -> None:
        for m in answer:
            for name, f in m.figures.items():
                value = None if f.suppressed else f.value
                cell = (scope, m.month, name)
                if cell in seen and seen[cell] != value:
                    raise AssertionError(f"{cell} is shown as {seen[cell]} and as {value}")
                seen[cell] = value

    everything = outcomes.municipality(first, last, viewer)
    for scope, answer in everything.items():
        take(scope, answer)
    for scope in everything if each_team else ():
        if scope != MUNICIPALITY:
            take(scope, outcomes.team(scope, first, last, viewer))
    return seen


def relations(scopes: Iterable[str], first: str, last: str, names: Iterable[str]) -> list[Relation]:
    """Every relation the audit models among the cells of these scopes and months."""
    scopes = sorted(set(scopes))
    teams = [s for s in scopes if s != MUNICIPALITY]
    names = sorted(set(names) | set(FLOWS))
    span = list(month_range(first, last))
    found: list[Relation] = []

    def total(scope: str, month: str, whole: str, parts: Iterable[str]) -> None:
        terms = [((scope, month, whole), -1), *(((scope, month, p), 1) for p in parts)]
        found.append(Relation(tuple(terms)))

    def kinds(prefix: str) -> list[str]:
        return [n for n in names if n.startswith(prefix) and not n.endswith(".total")]

    def flows(test: str) -> list[str]:
        chosen = []
        for n in FLOWS:
            a, b = (int(x) for x in n.split(".")[1:])
            if {"up": a < b, "down": a > b, "same": a == b}[test]:
                chosen.append(n)
        return chosen

    for scope, month in itertools.product(scopes, span):
        total(scope, month, "active", [f"rung.{r}" for r in RUNGS])
        total(scope, month, "work_exits.total", kinds("work_exits."))
        total(scope, month, "work_exits.total", ["sustained", "ended_within", "pending"])
        total(scope, month, "reconnections.total", kinds("reconnections."))
        for direction in ("up", "down", "same"):
            total(scope, month, f"steps_{direction}", flows(direction))
        # Who moved up is active at month end, on a rung above the one they left: not on rung 1.
        moved = ((scope, month, "moved_up"), 1), ((scope, month, "active"), -1), ((scope, month, "rung.1"), 1)
        found.append(Relation(moved, 0, equal=False))
    if MUNICIPALITY in scopes:
        for month, name in itertools.product(span, names):
            terms = [((MUNICIPALITY, month, name), -1), *(((t, month, name), 1) for t in teams)]
            found.append(Relation(tuple(terms)))
        for month in span:
            found.extend(_across_months(month, first))
    return found


def _across_months(month: str, first: str) -> list[Relation]:
    """The municipality's stock and flow between one month's end and the next.

    A journey's rung changes only by a step, and only while it is open; it opens by a start or a
    reopening and shuts by a closure, each at the rung it holds then. So per rung r, summed over the
    municipality (team changes cancel out there):
        rung.r(m) = rung.r(m-1) + steps into r - steps out of r + S_r + R_r - C_r
    with S, R, C >= 0 the starts, reopenings and closures at rung r in m (not published), the S_r
    adding up to `started`, the C_r to `closed`. Before the first month of a window, rung.r(m-1) is
    not shown: it becomes one more unknown count. And a journey that moved up made a step up in the
    month, so moved_up <= steps_up (for the municipality: the step may be another team's).
    """
    m = MUNICIPALITY
    prev = _previous(month)
    found = [Relation((((m, month, "moved_up"), 1), ((m, month, "steps_up"), -1)), 0, equal=False)]
    for what, total_name in (("S", "started"), ("C", "closed")):
        counts: list[tuple[Var, int]] = [(("aux", month, what, r), 1) for r in RUNGS]
        found.append(Relation((*counts, ((m, month, total_name), -1))))
    for r in RUNGS:
        terms: list[tuple[Var, int]] = [((m, month, f"rung.{r}"), 1)]
        terms.append(((m, prev, f"rung.{r}"), -1) if month > first else (("aux", month, "P", r), -1))
        for s in RUNGS:
            if s != r:
                terms += [((m, month, f"flow.{s}.{r}"), -1), ((m, month, f"flow.{r}.{s}"), 1)]
        terms += [(("aux", month, "S", r), -1), (("aux", month, "R", r), -1), (("aux", month, "C", r), 1)]
        found.append(Relation(tuple(terms)))
    return found


def _previous(month: str) -> str:
    y, mo = int(month[:4]), int(month[5:])
    return f"{y - (mo == 1):04d}-{(mo - 2) % 12 + 1:02d}"


@dataclass(frozen=True)
class Pinned:
    cell: Cell
    value: int
    low: float
    high: float


@dataclass
class Report:
    published: int = 0  # cells shown to the viewer, as a value or as suppressed
    suppressed: int = 0
    checked: int = 0  # suppressed cells whose true count is 1..k-1: the ones that could be pinned
    pinned: list[Pinned] = field(default_factory=list)

    def add(self, other: Report) -> None:
        self.published += other.published
        self.suppressed += other.suppressed
        self.checked += other.checked
        self.pinned += other.pinned


def audit(
    seen: Mapping[Cell, int | None],
    truth: Mapping[Cell, int],
    k: int,
    *,
    first: str,
    last: str,
    known: frozenset[str] = frozenset(),
) -> Report:
    """Which hidden cells the viewer who sees `seen` can pin to 1..k-1.

    `truth` holds every true count; `known` the teams the viewer sees exactly. What is at stake in a
    hidden municipality cell is the part the viewer does not know already: the cell less their own
    teams' counts (for an outsider, the cell itself). That part is what must not be pinned.
    """
    report = Report(published=len(seen), suppressed=sum(v is None for v in seen.values()))
    unknown, system = _system(seen, {s for s, _, _ in truth}, {n for _, _, n in truth}, first, last)
    targets: dict[Cell, int] = {}
    for cell, value in seen.items():
        if value is None:
            scope, month, name = cell
            mine = sum(truth.get((t, month, name), 0) for t in known) if scope == MUNICIPALITY else 0
            if 1 <= truth.get(cell, 0) - mine < k:
                targets[cell] = mine
    report.checked = len(targets)
    for piece, rows in _pieces(unknown, system):
        members = set(piece)
        stake = {c: mine for c, mine in targets.items() if c in members}
        for cell, low, high in _Piece(piece, rows).pinned(stake, k):
            report.pinned.append(Pinned(cell, truth[cell] - stake[cell], low, high))
    return report


Row = tuple[dict[Var, int], int, bool]  # coefficients of the unknowns, right-hand side, equal (else <=)


def _system(
    seen: Mapping[Cell, int | None], scopes: set[str], names: set[str], first: str, last: str
) -> tuple[set[Var], list[Row]]:
    """The relations with every shown cell put in: what is left to solve, over the unknowns."""
    unknown: set[Var] = set()
    system: list[Row] = []
    for rel in relations(scopes, first, last, names):
        free: dict[Var, int] = {}
        rhs = rel.rhs
        for term, coef in rel.terms:
            value = None if term[0] == "aux" else seen.get(term, 0)  # type: ignore[arg-type]
            # A cell not shown at all is a zero: its absence says so.
            if value is None:
                free[term] = free.get(term, 0) + coef
            else:
                rhs -= coef * value
        free = {v: c for v, c in free.items() if c}
        if free:
            system.append((free, rhs, rel.equal))
            unknown |= free.keys()
        elif (rhs != 0) if rel.equal else (rhs < 0):
            raise AssertionError(f"the published figures break a relation: {rel}")
    return unknown, system


def solvable(seen: Mapping[Cell, int | None], first: str, last: str) -> bool:
    """Whether the relations have a solution in non-negative integers, given what is shown."""
    try:
        unknown, system = _system(seen, {s for s, _, _ in seen}, {n for _, _, n in seen}, first, last)
        for piece, rows in _pieces(unknown, system):
            _Piece(piece, rows).solve({})
    except AssertionError:
        return False
    return True


def _pieces(unknown: set[Var], system: list[Row]) -> list[tuple[list[Var], list[Row]]]:
    """Split the system into pieces that share no unknown."""
    parent: dict[Var, Var] = {v: v for v in unknown}

    def root(v: Var) -> Var:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for free, _, _ in system:
        first, *rest = free
        for v in rest:
            parent[root(v)] = root(first)
    members: dict[Var, list[Var]] = {}
    for v in sorted(unknown, key=repr):
        members.setdefault(root(v), []).append(v)
    rows: dict[Var, list[Row]] = {}
    for row in system:
        rows.setdefault(root(next(iter(row[0]))), []).append(row)
    return [(vs, rows.get(r, [])) for r, vs in members.items()]


CAP = 10**6  # no count comes near: a bound that keeps every program bounded


class _Piece:
    """One independent piece of the system, as an integer program over its unknowns."""

    def __init__(self, piece: list[Var], rows: list[Row]) -> None:
        self.index = {v: i for i, v in enumerate(piece)}
        a = np.zeros((len(rows), len(piece)))
        lower, upper = np.empty(len(rows)), np.empty(len(rows))
        for i, (free, rhs, equal) in enumerate(rows):
            for v, c in free.items():
                a[i, self.index[v]] = c
            lower[i] = rhs if equal else -np.inf
            upper[i] = rhs
        self.constraints = [LinearConstraint(a, lower, upper)] if rows else []
        self.bounds = Bounds(np.zeros(len(piece)), np.full(len(piece), CAP))
        self.integral = np.ones(len(piece))

    def solve(self, objective: Mapping[Var, int]) -> np.ndarray:
        c = np.zeros(len(self.index))
        for v, coef in objective.items():
            c[self.index[v]] = coef
        found = milp(c, constraints=self.constraints, bounds=self.bounds, integrality=self.integral)
        if found.status != 0 or found.x is None:
            raise AssertionError(f"the audit's system has no solution: {found.message}")
        solution: np.ndarray = np.round(found.x)
        return solution

    def pinned(self, stake: Mapping[Cell, int], k: int) -> list[tuple[Cell, float, float]]:
        """The cells whose stake (the cell less `stake[cell]`) stays within 1..k-1 in every solution.

        One solution clears every cell it shows at 0 or at k and over, so a first solve drives them
        all down together, and each solve after it clears what it can besides its own cell.
        """
        open_low = set(stake)  # not yet seen at 0
        open_high = set(stake)  # not yet seen at k or over

        def learn(x: np.ndarray) -> None:
            for cell in list(open_low | open_high):
                v = x[self.index[cell]] - stake[cell]
                if v <= 0:
                    open_low.discard(cell)
                if v >= k:
                    open_high.discard(cell)

        if stake:
            learn(self.solve(dict.fromkeys(stake, 1)))
        found = []
        for cell in sorted(stake):
            if cell in open_low and cell in open_high:
                learn(self.solve({cell: -1}))
            if cell in open_low and cell in open_high:
                x = self.solve({cell: 1})
                learn(x)
                if cell in open_low:
                    high = self.solve({cell: -1})[self.index[cell]]
                    found.append((cell, x[self.index[cell]] - stake[cell], high - stake[cell]))
        return found


def audit_viewer(
    outcomes: Outcomes, first: str, last: str, viewer: Viewer, *, each_team: bool = True
) -> Report:
    """The audit for one viewer over months first..last, as `Outcomes` publishes them."""
    seen = published(outcomes, first, last, viewer, each_team=each_team)
    exact = published(outcomes, first, last, Viewer(sees_all_exact=True))
    truth = {c: v for c, v in exact.items() if v is not None}
    return audit(seen, truth, outcomes.k, first=first, last=last, known=viewer.exact_teams)


def viewers(teams: Iterable[str], *, pairs: bool = True, several: bool = False) -> list[Viewer]:
    """The attacker models: an outsider, a member of each team, of every two teams (`pairs`), and
    (`several`) of every set of teams short of all (a member of all teams but one learns the
    remaining team as the municipality less their own)."""
    teams = sorted(set(teams) - {MUNICIPALITY})
    found = [Viewer()]
    found += [Viewer(exact_teams=frozenset({t})) for t in teams]
    sizes = range(2, len(teams)) if several else range(2, 3) if pairs else range(0)
    for size in sizes:
        found += [Viewer(exact_teams=frozenset(chosen)) for chosen in itertools.combinations(teams, size)]
    return found
