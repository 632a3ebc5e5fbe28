"""Small-cell protection for figures that leave the team (docs/disclosure.md has the method).

A count between 1 and k-1 is suppressed (primary). Figures of a month are tied by sums: rungs add
up to `active`, kinds and outcomes of exits to all exits, reconnections to theirs, flows to the
steps they make up, and every figure of the teams to the municipality's. Someone who sees the rest
can reason over those sums (subtract, carry a result into the next sum, use that no count is below
zero) and must still not be able to pin a hidden count to 1..k-1.

So every hidden count that is small, for each viewer we protect against (an outsider; a member of
one team, or of several, who knows those teams exactly), gets a *certificate*: another set of counts, differing
only in cells that are hidden from that viewer, that keeps every sum and every other relation
between the figures (docs/disclosure.md), has no count below zero, and puts the small count at 0
or at k and over. Then what the viewer sees is as consistent with that other table as with the
true one, so they cannot tell which; linear reasoning (even with integers) cannot pin the cell.
Where no certificate exists among the hidden cells, the cheapest move that would make one is
hidden too (complementary suppression), until every small hidden count has one: the audit-and-
repair loop of tau-ARGUS's modular and hypercube methods, with the certificates written down
instead of solved for.

The municipality's months are tied by its stock and flow (a rung's count follows from the month
before, the steps, starts and closures): a certificate must fit the months around. Where a month
has nothing to absorb the change (no start, closure or step), the move spans a run of months: the
same change in each, hidden in each, up to months that can absorb it. So the pattern of a month can
depend on other months; it is computed over the whole history up to today (`suppress_history`),
never over the window asked.

The pattern is computed over the whole month (every team with a count in it, and the
municipality), the same for every viewer, so answers cannot be combined across endpoints or
viewers; a viewer who belongs to several teams has more cells hidden on top, never fewer. A
viewer's own teams are then shown exact, as they know them anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from projections.certificates import MUNICIPALITY, NONE, Cell, MonthTable, Move, cells, rung_change
from projections.outcomes import MonthFigures

__all__ = ["MUNICIPALITY", "Cell", "cells", "suppress", "suppress_history"]


def suppress(
    month: Mapping[str, MonthFigures],
    k: int,
    known: frozenset[str] = frozenset(),
    *,
    before: MonthFigures | None = None,
    after: MonthFigures | None = None,
    nearby: frozenset[str] = frozenset(),
) -> set[Cell]:
    """The cells of one month to hide from a viewer who knows the teams in `known`.

    `month` maps each team, and MUNICIPALITY, to its figures for the month; `before` and `after`
    are the municipality's figures of the months around it (`after` None when that month has not
    begun), which a move of the municipality's rungs, flows, starts or closures must still fit;
    `nearby` the teams that count in either (they may take a share of a hidden count).
    """
    table = MonthTable(month, k, before, after, nearby)
    return _Protection([table], k, known).run()[0]


def suppress_history(
    history: Sequence[Mapping[str, MonthFigures]], k: int, known: frozenset[str] = frozenset()
) -> list[set[Cell]]:
    """The cells to hide in each month of a history, from a viewer who knows the teams in `known`.

    `history` holds consecutive months, each mapping every team and MUNICIPALITY to its figures:
    every month from the first with a count to the month of today, so that a month's pattern is the
    same whatever window is asked. Before the first month nothing was counted; the month after the
    last has not begun.
    """
    tables = []
    for i, month in enumerate(history):
        around = [history[j] for j in (i - 1, i + 1) if 0 <= j < len(history)]
        nearby = frozenset(
            t for m in around for t, f in m.items() if t != MUNICIPALITY and any(cells(f).values())
        )
        before = history[i - 1].get(MUNICIPALITY) if i else None
        after = history[i + 1].get(MUNICIPALITY) if i + 1 < len(history) else None
        tables.append(MonthTable(month, k, before, after, nearby))
    return _Protection(tables, k, known).run()


class _Protection:
    """The audit-and-repair loop over consecutive months, until every small hidden count has a
    certificate for every viewer model."""

    def __init__(self, months: list[MonthTable], k: int, known: frozenset[str]) -> None:
        self.months = months
        self.k = k
        self.known = known
        self.hidden = [{c for c, n in m.values.items() if 1 <= n < k and c[0] in m.rows} for m in months]
        # Certificates found, by month, cell and viewer: the teams each touches. More hidden cells
        # never undo one, and one for a team's cell serves every viewer whose teams it does not touch.
        self.found: list[dict[tuple[Cell, frozenset[str]], list[frozenset[str]]]] = [{} for _ in months]

    def run(self) -> list[set[Cell]]:
        # A month is done again only when cells of it were hidden since (a run from another month).
        waiting = set(range(len(self.months)))
        while waiting:
            i = min(waiting)
            waiting.discard(i)
            waiting |= self._month(i)
        # The viewer's own figures are shown exact.
        return [{c for c in hidden if c[0] not in self.known} for hidden in self.hidden]

    def _month(self, i: int) -> set[int]:
        """Certify every small hidden count of month i, for every viewer model, hiding more where
        needed; the other months in which cells were hidden."""
        m, hidden, found = self.months[i], self.hidden[i], self.found[i]
        insiders = [frozenset(), *(frozenset({t}) for t in m.teams)]
        if len(self.known) > 1:
            insiders.append(self.known & frozenset(m.teams))
        others: set[int] = set()
        changed = True
        while changed:
            changed = False
            for cell in sorted(hidden):
                if cell[0] != MUNICIPALITY and not 1 <= m.value(cell) < self.k:
                    continue  # not small: nothing to certify, for anyone
                for insider in insiders:
                    if cell[0] in insider or not 1 <= m.stake(cell, insider) < self.k:
                        continue
                    key = (cell, insider if cell[0] == MUNICIPALITY else frozenset())
                    if any(insider.isdisjoint(touched) for touched in found.get(key, ())):
                        continue
                    move = m.certificate(cell, insider, hidden) or m.cheapest(cell, insider, hidden)
                    if move is None:
                        run = self._run(i, cell, insider)
                        if run is not None:
                            first, last, move = run
                            for j in range(first, last + 1):
                                if j != i and any(c not in self.hidden[j] for c in move):
                                    others.add(j)
                                    self.hidden[j].update(move)
                        else:
                            move = m.fallback(cell, insider, hidden)
                    if move is None:
                        continue  # nothing can protect it: the audit reports such a cell
                    changed = changed or any(c not in hidden for c in move)
                    hidden.update(move)
                    found.setdefault(key, []).append(frozenset(s for s, _ in move) - {MUNICIPALITY})
        return others

    def _run(self, i: int, cell: Cell, insider: frozenset[str]) -> tuple[int, int, Move] | None:
        """The cheapest move of month i made in each month of a run around it, so that the
        municipality's stock carries it from the run's first month to the month after its last:
        each month inside keeps its own relation (both ends of it move alike), the first must fit
        the true month before it, the month after the run the true month after. Fewest new hidden
        cells, then the shortest run (ties: the first found)."""
        best: tuple[int, int, int, int, int, Move] | None = None
        for n, move in enumerate(self.months[i].plain_moves(cell, insider)):
            rungs = rung_change(move)
            if rungs is None or not any(rungs) or not self._possible(i, move):
                continue
            first = next(
                (j for j in self._reach(i, move, -1) if self.months[j].fits_from_before(rungs)), None
            )
            last = next((j for j in self._reach(i, move, 1) if self.months[j].fits_into_after(rungs)), None)
            if first is None or last is None:
                continue
            new = sum(c not in self.hidden[j] for j in range(first, last + 1) for c in move)
            found = (new, last - first, n, first, last, move)
            if best is None or found[:3] < best[:3]:
                best = found
        return None if best is None else best[3:]

    def _reach(self, i: int, move: Move, step: int) -> list[int]:
        """Month i and the months on from it (step -1: before it) where the move can be made."""
        reach = [i]
        j = i + step
        while 0 <= j < len(self.months) and self._possible(j, move):
            reach.append(j)
            j += step
        return reach

    def _possible(self, j: int, move: Move) -> bool:
        """Whether the move can be made in month j: its teams are the municipality's (with no count
        in the month, a team still may have one: the answer then lists it, its cells hidden), and
        it keeps the month's own relations (no count below zero, the bounds on who moved up)."""
        m = self.months[j]
        return all((s, "active") in m.values for s, _ in move) and m.valid(move, across=NONE)
