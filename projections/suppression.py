"""Small-cell protection for figures that leave the team.

A count between 1 and k-1 is suppressed (primary). Wherever figures add up to a total (rungs to
active, kinds to all exits, teams to the municipality), a lone suppressed cell could be worked out
by subtraction, so another cell of that sum is suppressed too (complementary), until no sum has
exactly one hidden cell, not even for someone who knows one team's figures exactly (its own
members do). The pattern is the same for every viewer, computed over the whole month (every team
and the municipality, rows and columns alike), so answers cannot be combined across endpoints or
viewers to undo it; a viewer's own team is then shown exact, as they know it anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from projections.outcomes import MonthFigures

Cell = tuple[str, str]  # scope (a team, or "*" for the municipality), figure name
MUNICIPALITY = "*"


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
    flat |= {f"flow.{a}.{b}": n for (a, b), n in f.flows.items()}
    return flat


def _sums(names: Iterable[str]) -> list[tuple[str, list[str]]]:
    """The totals among a scope's figures and the parts they add up from."""
    names = list(names)

    def parts(prefix: str) -> list[str]:
        return [n for n in names if n.startswith(prefix) and not n.endswith(".total")]

    def flows(test: str) -> list[str]:
        chosen = []
        for n in parts("flow."):
            a, b = (int(x) for x in n.split(".")[1:])
            if {"up": a < b, "down": a > b, "same": a == b}[test]:
                chosen.append(n)
        return chosen

    return [
        ("active", parts("rung.")),
        ("work_exits.total", parts("work_exits.")),
        ("work_exits.total", ["sustained", "ended_within", "pending"]),
        ("reconnections.total", parts("reconnections.")),
        ("steps_up", flows("up")),
        ("steps_down", flows("down")),
        ("steps_same", flows("same")),
    ]


def suppress(month: Mapping[str, MonthFigures], k: int, known: frozenset[str] = frozenset()) -> set[Cell]:
    """The cells of one month to hide from a viewer who knows the teams in `known`.

    `month` maps each team, and MUNICIPALITY, to its figures for the month.
    """
    values: dict[Cell, int] = {}
    for scope, f in month.items():
        for name, n in cells(f).items():
            values[scope, name] = n
    groups: list[list[Cell]] = []
    for scope in month:
        names = [name for s, name in values if s == scope]
        for total, parts in _sums(names):
            if parts:
                groups.append([(scope, total), *((scope, p) for p in parts)])
    teams = [s for s in month if s != MUNICIPALITY]
    if MUNICIPALITY in month:
        for name in {name for _, name in values}:
            groups.append([(MUNICIPALITY, name), *((t, name) for t in teams if (t, name) in values)])
    for group in groups:
        for c in group:
            values.setdefault(c, 0)

    # One pattern for every viewer, safe against what any one team knows of itself; a viewer
    # who knows several teams gets more cells hidden on top, never fewer.
    insiders = [frozenset(), *(frozenset({t}) for t in teams)]
    if len(known) > 1:
        insiders.append(known)
    hidden = {c for c, n in values.items() if 1 <= n < k}
    changed = True
    while changed:
        changed = False
        for group in groups:
            for insider in insiders:
                unknown = [c for c in group if c[0] not in insider]
                if sum(c in hidden for c in unknown) != 1:
                    continue
                candidates = [c for c in unknown if c not in hidden]
                if not candidates:
                    continue  # all else is the insider's own: the hidden cell tells them nothing new
                # The smallest non-zero cell hides least; a zero only when nothing else is left.
                hidden.add(min(candidates, key=lambda c: (values[c] == 0, values[c], c)))
                changed = True
    return {c for c in hidden if c[0] not in known}  # the viewer's own figures are shown exact
