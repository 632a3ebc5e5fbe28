"""Certificates for small-cell protection: the moves that show a hidden count is not pinned.

A *move* changes hidden counts only and keeps every relation between the figures of a month
(docs/disclosure.md lists them); one that takes a small count to 0, or to k and over, is that count's
*certificate*. `MonthTable` holds one month of every team and the municipality, and finds moves for a
cell: among the hidden cells (a certificate), or the cheapest to hide (complementary suppression).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from domain.vocabulary import RUNGS
from projections.outcomes import EXIT_KINDS, RECONNECTION_KINDS, MonthFigures

Cell = tuple[str, str]  # scope (a team, or "*" for the municipality), figure name
MUNICIPALITY = "*"
FLOWS = tuple(f"flow.{a}.{b}" for a in RUNGS for b in RUNGS)


def cells(f: MonthFigures) -> dict[str, int]:
    """Every figure of a month as a flat name -> count map."""
    flat = {
        "active": f.active,
        "moved_up": f.moved_up,
        "steps_up": f.steps_up,
        "steps_down": f.steps_down,
        "steps_same": f.steps_same,
        "work_exits.total": f.work_exits_total,
        "sustained": f.sustained,
        "ended_within": f.ended_within,
        "pending": f.pending,
        "reconnections.total": f.reconnections_total,
        "started": f.started,
        "closed": f.closed,
    }
    flat |= {f"rung.{r}": n for r, n in f.rungs.items()}
    flat |= {f"work_exits.{k}": n for k, n in f.work_exits.items()}
    flat |= {f"reconnections.{k}": n for k, n in f.reconnections.items()}
    # Every flow, zeros too: a flow left out would say "zero" all the same, and could not be hidden.
    flat |= {f"flow.{a}.{b}": f.flows.get((a, b), 0) for a in RUNGS for b in RUNGS}
    return flat


@dataclass(frozen=True)
class Table:
    """Figures whose parts add up to a total (None: a single figure, summed over teams only)."""

    parts: tuple[str, ...]
    total: str | None = None
    group: str = ""  # tables of one group share their total: a move changes them together

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.parts, self.total) if self.total else self.parts


def _flows(test: str) -> tuple[str, ...]:
    chosen = []
    for n in FLOWS:
        a, b = (int(x) for x in n.split(".")[1:])
        if {"up": a < b, "down": a > b, "same": a == b}[test]:
            chosen.append(n)
    return tuple(chosen)


TABLES = (
    Table(tuple(f"rung.{r}" for r in RUNGS), "active", "rungs"),
    Table(tuple(f"work_exits.{k}" for k in EXIT_KINDS), "work_exits.total", "exits"),
    Table(("sustained", "ended_within", "pending"), "work_exits.total", "exits"),
    Table(tuple(f"reconnections.{k}" for k in RECONNECTION_KINDS), "reconnections.total", "reconnections"),
    Table(_flows("up"), "steps_up", "up"),
    Table(_flows("down"), "steps_down", "down"),
    Table(_flows("same"), "steps_same", "same"),
    Table(("moved_up",), None, "moved_up"),
    Table(("started",), None, "started"),
    Table(("closed",), None, "closed"),
)
GROUPS: dict[str, tuple[Table, ...]] = {}
for _t in TABLES:
    GROUPS[_t.group] = (*GROUPS.get(_t.group, ()), _t)
TABLES_OF: dict[str, tuple[Table, ...]] = {}
for _t in TABLES:
    for _c in _t.columns:
        TABLES_OF[_c] = (*TABLES_OF.get(_c, ()), _t)
# A figure that also takes part in a relation across months, for the municipality (a journey's
# rung changes by a step, it opens by a start or a reopening, shuts by a closure): a move that
# changes it must fit the months around, so moves that change it least come first.
ACROSS_MONTHS = frozenset({"active", *(f"rung.{r}" for r in RUNGS), "started", "closed"}) | frozenset(
    n for n in FLOWS if n.split(".")[1] != n.split(".")[2]
)

FLOW_NAMES = frozenset(FLOWS)
RUNG_NAMES = frozenset(f"rung.{r}" for r in RUNGS)
BOUNDING = frozenset({"moved_up", "active", "rung.1", "steps_up"})  # who moved up is bounded by them
Move = dict[Cell, int]  # a change to hidden counts that keeps every relation of the month
# How much of the municipality's stock and flow a move must fit: the months around, the month alone
# (the month before unknown), or none (its sums only).
AROUND, ALONE, NONE = 2, 1, 0


class MonthTable:
    def __init__(
        self,
        month: Mapping[str, MonthFigures],
        k: int,
        before: MonthFigures | None = None,
        after: MonthFigures | None = None,
        nearby: frozenset[str] = frozenset(),
    ) -> None:
        self.k = k
        self.values: dict[Cell, int] = {}
        for scope, f in month.items():
            for name, n in cells(f).items():
                self.values[scope, name] = n
        # A team takes part if it counts in the month or in a month beside it (`nearby`): then the
        # month's pattern is the same in every window that holds it. Another shows only zeros.
        self.teams = sorted(
            s
            for s in month
            if s != MUNICIPALITY and (s in nearby or any(self.values[s, n] for n in cells(month[s])))
        )
        self.rows = [*self.teams, MUNICIPALITY]
        self._transfers: dict[tuple[tuple[str, ...], str, str], Move] = {}
        self._removals: dict[tuple[tuple[str, ...], str, frozenset[str]], Move] = {}
        here = cells(month[MUNICIPALITY]) if MUNICIPALITY in month else {}
        self.alone = _stock(here, {})
        self.stock: tuple[Stock, Stock | None] = (
            _stock(here, cells(before) if before else {}),
            _stock(cells(after), here) if after else None,
        )

    def value(self, cell: Cell) -> int:
        return self.values.get(cell, 0)

    def stake(self, cell: Cell, known: frozenset[str]) -> int:
        """What a viewer who knows the teams `known` does not know of the cell."""
        scope, name = cell
        if scope != MUNICIPALITY:
            return self.value(cell)
        return self.value(cell) - sum(self.value((t, name)) for t in known)

    def moves(self, cell: Cell, known: frozenset[str], within: set[Cell] | None = None) -> Iterator[Move]:
        """Changes that take the cell's stake to 0 or to k and over, touching no team in `known`
        (and, given `within`, mostly only cells in it: the quick way to look for a certificate)."""
        plain = []
        for move in self._moves(cell, known, within):
            yield move
            plain.append(move)
        if cell[1] in FLOW_NAMES:
            # Undo (or make) steps as the journeys would: their rungs at month end move with them,
            # so the municipality's rungs still follow from the month before.
            for move in plain:
                if within is not None and not all(c in within for c in move):
                    continue
                kept = _with_rungs(move)
                if kept is not None and (within is None or all(c in within for c in kept)):
                    yield kept

    def _moves(self, cell: Cell, known: frozenset[str], within: set[Cell] | None) -> Iterator[Move]:
        scope, name = cell
        stake = self.stake(cell, known)
        others = [r for r in self.rows if r != scope and r not in known]
        for table in TABLES_OF.get(name, ()):
            shared = len(GROUPS[table.group]) > 1
            if shared and name == table.total:
                continue  # a shared total moves with a whole row (below)
            columns: list[str | None] = [
                c for c in table.columns if c != name and not (shared and c == table.total)
            ]
            for d in (-stake, self.k - stake):
                if scope != MUNICIPALITY or d > 0:
                    for other in others:
                        if within is not None and (other, name) not in within:
                            continue
                        for column in columns or [None]:
                            if (
                                within is None
                                or column is None
                                or ((scope, column) in within and (other, column) in within)
                            ):
                                yield _rectangle(table, scope, other, name=name, column=column, d=d)
                elif d < 0:
                    for column in columns:
                        if column is not None:
                            yield self._spread(table, name, column, known)
        if name in FLOW_NAMES and name[5] != name[7]:
            # As many steps back as the extra ones: every rung ends the month as it did.
            back = f"flow.{name[7]}.{name[5]}"
            for other in others:
                if MUNICIPALITY in (scope, other):
                    d = self.k - stake
                    yield {(r, n): d for r in (scope, other) for n in (name, back, "steps_up", "steps_down")}
        for bundle in BUNDLES[TABLES_OF[name][0].group]:
            if scope != MUNICIPALITY:
                for other in others:
                    if within is None or (other, name) in within:
                        yield self._transfer(bundle, scope, other)
            else:
                yield self._removal(bundle, name, known)

    def _spread(self, table: Table, name: str, column: str, known: frozenset[str]) -> Move:
        """Down to zero in the municipality's column, spread over every team not known."""
        sign = _sign(table, name) * _sign(table, column)
        move: Move = {}
        for t in self.teams:
            n = self.value((t, name))
            if n and t not in known:
                _add(move, (t, name), -n)
                _add(move, (t, column), sign * n)
                _add(move, (MUNICIPALITY, name), -n)
                _add(move, (MUNICIPALITY, column), sign * n)
        return move

    def _transfer(self, bundle: tuple[str, ...], scope: str, other: str) -> Move:
        """A team's whole row of some figures moved to another team (or out of the municipality).
        Kept: a move is never changed in place."""
        found = self._transfers.get((bundle, scope, other))
        if found is None:
            sign = -1 if other == MUNICIPALITY else 1
            found = {}
            for name in bundle:
                n = self.values.get((scope, name), 0)
                if n:
                    found[scope, name] = -n
                    found[other, name] = sign * n
            self._transfers[bundle, scope, other] = found
        return found

    def _removal(self, tables: tuple[str, ...], name: str, known: frozenset[str]) -> Move:
        """Every team not known that counts in the column loses its row of the group, and so does the
        municipality."""
        move = self._removals.get((tables, name, known))
        if move is None:
            move = {}
            for t in self.teams:
                if t not in known and self.value((t, name)):
                    for column, change in self._transfer(tables, t, MUNICIPALITY).items():
                        _add(move, column, change)
            self._removals[tables, name, known] = move
        return move

    def valid(self, move: Move, *, across: int = AROUND) -> bool:
        """Whether the true table plus the move is a table the viewer cannot tell apart from it:
        with the municipality's months AROUND, with this month ALONE, or by its sums only (NONE)."""
        """No count below zero; who moved up stays among the active above rung 1 and (for the
        municipality) among the steps up."""
        if not move:
            return False
        get = self.values.get
        for c, d in move.items():
            if get(c, 0) + d < 0:
                return False
        for scope in {s for s, n in move if n in BOUNDING}:

            def at(name: str, scope: str = scope) -> int:
                return get((scope, name), 0) + move.get((scope, name), 0)

            if at("moved_up") > at("active") - at("rung.1"):
                return False
            if scope == MUNICIPALITY and at("moved_up") > at("steps_up"):
                return False
        if across != NONE and any(s == MUNICIPALITY and n in ACROSS_MONTHS for s, n in move):
            return self._stock_and_flow(move, around=across == AROUND)
        return True

    def _stock_and_flow(self, move: Move, *, around: bool) -> bool:
        """Whether the municipality's rungs still follow from the month before and the steps,
        starts, reopenings and closures, and lead to the month after (docs/disclosure.md).

        Per rung r, Y_r = rung.r - rung.r a month earlier - steps into r + steps out of r is what
        starts (S_r), reopenings (R_r) and closures (C_r) at rung r made: S_r + R_r - C_r. Counts
        S, R, C >= 0 adding up to `started` and `closed` exist exactly when the closures cover every
        fall (sum of max(0, -Y_r) <= closed) and the rest covers the starts (sum Y + closed >= started).
        """
        rungs = [0] * 7  # the move's change to the municipality's rung r on this month's last day
        net = [0] * 7  # and to the steps into r less the steps out of r
        started = closed = 0
        for (scope, name), d in move.items():
            if scope != MUNICIPALITY or name not in ACROSS_MONTHS:
                continue
            if name.startswith("rung."):
                rungs[int(name[5:])] += d
            elif name.startswith("flow."):
                net[int(name[7])] += d
                net[int(name[5])] -= d
            elif name == "started":
                started += d
            elif name == "closed":
                closed += d
        # Alone, the month before is unknown, any count (a window that starts with this month).
        now = self.stock[0] if around else self.alone
        if not fits([now[0][r] + rungs[r] - net[r] for r in RUNGS], now[1] + started, now[2] + closed):
            return False
        later = self.stock[1]
        return (
            not around or later is None or fits([later[0][r] - rungs[r] for r in RUNGS], later[1], later[2])
        )

    def certificate(self, cell: Cell, known: frozenset[str], hidden: set[Cell]) -> Move | None:
        """A move among hidden cells that certifies the cell for a viewer who knows `known`."""
        for mv in self.moves(cell, known, hidden):
            if all(c in hidden for c in mv) and self.valid(mv):
                return mv
        return None

    def cheapest(self, cell: Cell, known: frozenset[str], hidden: set[Cell]) -> Move | None:
        """The cheapest move that would certify the cell once its cells are hidden: fewest changes
        to the municipality's figures that link months, then fewest new cells, then the smallest
        (ties: the first found, so the choice is the same every time)."""
        plain = list(self._moves(cell, known, None))
        best = self._first_valid(plain, hidden)
        if (best is None or best[0] > 0) and cell[1] in FLOW_NAMES:
            # Only a move of the municipality's steps would do: try them with the rungs they change.
            kept = [mv for mv in map(_with_rungs, plain) if mv is not None]
            more = self._first_valid(kept, hidden)
            if more is not None and (best is None or more[:3] < best[:3]):
                best = more
        return None if best is None else best[-1]

    def fallback(self, cell: Cell, known: frozenset[str], hidden: set[Cell]) -> Move | None:
        """Where no move fits the months around, not even over a run of months: at least what the
        month alone gives away is closed (a window that starts with it), else what its sums give
        away (docs/disclosure.md says what is left)."""
        plain = list(self._moves(cell, known, None))
        for weaker in (ALONE, NONE):
            best = self._first_valid(plain, hidden, across=weaker)
            if best is not None:
                return best[-1]
        return None

    def plain_moves(self, cell: Cell, known: frozenset[str]) -> list[Move]:
        """Every move tried for the cell, whether or not it fits the months around."""
        return list(self._moves(cell, known, None))

    def fits_from_before(self, rungs: list[int]) -> bool:
        """Whether the municipality's month still follows from the month before (its true figures)
        when its rungs at month end change by `rungs` (index 0 unused)."""
        y, started, closed = self.stock[0]
        return fits([y[r] + rungs[r] for r in RUNGS], started, closed)

    def fits_into_after(self, rungs: list[int]) -> bool:
        """Whether the month after (if begun) still follows from this one with its rungs changed."""
        later = self.stock[1]
        return later is None or fits([later[0][r] - rungs[r] for r in RUNGS], later[1], later[2])

    def _first_valid(
        self, moves: list[Move], hidden: set[Cell], *, across: int = AROUND
    ) -> tuple[int, int, int, int, Move] | None:
        costed = []
        values = self.values
        for i, mv in enumerate(moves):
            linked = _across(mv)
            new = total = 0
            for c in mv:
                if c not in hidden:
                    new += 1
                    total += values.get(c, 0)
            costed.append((linked, new, total, i, mv))
        costed.sort(key=lambda found: found[:4])
        return next((found for found in costed if self.valid(found[-1], across=across)), None)


Stock = tuple[list[int], int, int]  # Y by rung (index 0 unused), started, closed


def _stock(this: Mapping[str, int], earlier: Mapping[str, int]) -> Stock:
    """What starts, reopenings and closures made of the municipality's rungs in a month (Y)."""
    y = [0] * 7
    for r in RUNGS:
        flows = sum(this.get(f"flow.{s}.{r}", 0) - this.get(f"flow.{r}.{s}", 0) for s in RUNGS if s != r)
        y[r] = this.get(f"rung.{r}", 0) - earlier.get(f"rung.{r}", 0) - flows
    return y, this.get("started", 0), this.get("closed", 0)


def fits(y: list[int], started: int, closed: int) -> bool:
    """Whether counts S, R, C >= 0 by rung exist with S + R - C = Y, S adding to `started`, C to `closed`."""
    return sum(max(0, -n) for n in y) <= closed and sum(y) + closed >= started


def _bundles(group: str) -> list[tuple[str, ...]]:
    """The figures a row moves together: its own group; with who moved up, or who started, which
    bound it (across the municipality's months too); and, last, the whole month."""
    found: list[tuple[str, ...]] = [(group,)]
    for more in (("moved_up",), ("started",), ("moved_up", "started")):
        if group not in more:
            found.append((group, *more))
    found.append(tuple(GROUPS))
    return [tuple(sorted({c for g in groups for t in GROUPS[g] for c in t.columns})) for groups in found]


BUNDLES = {group: _bundles(group) for group in GROUPS}


def _across(move: Move) -> int:
    """How much a move changes what ties the municipality's months together."""
    change: list[int] | None = None  # per rung: its count less its net steps in; then the rest
    for (scope, name), d in move.items():
        if scope != MUNICIPALITY or name not in ACROSS_MONTHS:
            continue
        if change is None:
            change = [0] * 8
        if name[0] == "r":
            change[int(name[5])] += d
        elif name[0] == "f":
            change[int(name[7])] -= d
            change[int(name[5])] += d
        else:
            change[0] += abs(d)
    return 0 if change is None else sum(map(abs, change))


def _with_rungs(move: Move) -> Move | None:
    """The move with each row's rungs changed by the steps it adds into and out of them (None: no
    step between rungs changes)."""
    net: dict[Cell, int] = {}
    if any(name in RUNG_NAMES for _, name in move) or not _across(move):
        return None  # its rows' rungs move already, or the municipality's steps stay as they were
    for (scope, name), d in move.items():
        if name in FLOW_NAMES and name[5] != name[7]:
            _add(net, (scope, f"rung.{name[7]}"), d)
            _add(net, (scope, f"rung.{name[5]}"), -d)
    if not net:
        return None
    kept = dict(move)
    for c, d in net.items():
        _add(kept, c, d)
    return kept


def _sign(table: Table, name: str) -> int:
    return -1 if name == table.total else 1


def _add(move: Move, cell: Cell, change: int) -> None:
    n = move.get(cell, 0) + change
    if n:
        move[cell] = n
    else:
        move.pop(cell, None)


def _rectangle(table: Table, row: str, other: str, *, name: str, column: str | None, d: int) -> Move:
    """A change of d in (row, name), balanced over another row and column so every sum stays."""
    rows = -(-1 if row == MUNICIPALITY else 1) * (-1 if other == MUNICIPALITY else 1)
    move: Move = {(row, name): d, (other, name): rows * d}
    if column is not None:
        columns = -_sign(table, name) * _sign(table, column)
        move[row, column] = columns * d
        move[other, column] = rows * columns * d
    return move


def rung_change(move: Move) -> list[int] | None:
    """The move's change to the municipality's rungs (index 0 unused), if that is all it changes of
    what links its months (no step between rungs, start or closure); else None."""
    rungs = [0] * 7
    for (scope, name), d in move.items():
        if scope != MUNICIPALITY or name not in ACROSS_MONTHS or name == "active":
            continue
        if name not in RUNG_NAMES:
            return None
        rungs[int(name[5:])] += d
    return rungs
