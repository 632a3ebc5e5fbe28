"""A synthetic caseload: realistic journeys for demos, tests and benchmarks. No real person in it.

Each journey is simulated forward in time; some facts are then recorded late (backdated) and some
steps are voided afterwards, as happens in practice.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from uuid import UUID

from domain.journey import Provenance, journey_id_for
from domain.vocabulary import ZRM_DOMAINS
from services.commands import (
    AssessSelfReliance,
    BatchItem,
    ChangeTeam,
    CloseJourney,
    FactCommand,
    RecordReconnection,
    RecordStep,
    RecordWorkEnded,
    RecordWorkExit,
    ReopenJourney,
    StartJourney,
    VoidEntry,
)

_MOVABLE = (RecordStep, RecordReconnection, AssessSelfReliance)
TEAMS = ("noord", "zuid", "centrum")  # the demo's teams: `traject demo` registers them


def caseload(
    *,
    journeys: int = 600,
    teams: tuple[str, ...] = TEAMS,
    today: date,
    years: int = 2,
    seed: int = 7,
) -> Iterator[list[BatchItem]]:
    """Yield, per journey, the items to record in recording order."""
    rng = random.Random(seed)
    first = today - timedelta(days=365 * years)
    for n in range(journeys):
        yield list(_journey(rng, n, teams, first, today))


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _journey(  # noqa: PLR0915 - one simulation loop reads best whole
    rng: random.Random, n: int, teams: tuple[str, ...], first: date, today: date
) -> Iterator[BatchItem]:
    team = rng.choice(teams)
    actor = f"cw-{team}-{rng.randint(1, 4)}"
    start = first + timedelta(days=rng.randint(0, (today - first).days - 30))
    start_id = _uuid(rng)
    jid = journey_id_for(start_id)
    rung = rng.choices((1, 2, 3, 4), weights=(2, 4, 3, 1))[0]

    def by(event_id: UUID | None = None) -> Provenance:
        return Provenance(event_id or _uuid(rng), actor, "caseworker", today, "demo", "http", f"demo-{n}")

    yield BatchItem(StartJourney(f"DEMO-{n:05d}", team, rung, start), by(start_id))
    facts: list[tuple[date, FactCommand]] = []
    day, is_open, in_work = start, True, False
    while True:
        day += timedelta(days=rng.randint(10, 75))
        if day > today:
            break
        roll = rng.random()
        if not is_open:
            if roll < 0.3:
                facts.append((day, ReopenJourney(day, "back on support")))
                is_open = True
            continue
        if roll < 0.40:
            rung = max(1, min(6, rung + rng.choice((1, 1, 1, -1, 0))))
            facts.append((day, RecordStep(rung, day)))
        elif roll < 0.50 and not in_work and rung >= 4:
            kind = rng.choice(("employment", "employment", "wage_subsidy", "self_employed", "sheltered_work"))
            contract = rng.choice(("temporary", "temporary", "permanent"))
            facts.append((day, RecordWorkExit(kind, float(rng.choice((12, 20, 24, 32, 36))), contract, day)))
            in_work = True
        elif roll < 0.55 and in_work:
            facts.append((day, RecordWorkEnded(rng.choice(("contract_ended", "dismissed", "health")), day)))
            in_work = False
        elif roll < 0.68:
            kinds = ("volunteering", "club", "neighbourhood", "course", "family_or_friends", "other")
            facts.append((day, RecordReconnection(rng.choice(kinds), day)))
        elif roll < 0.78:
            version = rng.choice(("2013", "2017"))
            scores = {d: rng.randint(1, 5) for d in ZRM_DOMAINS[version]}
            facts.append((day, AssessSelfReliance(version, day, scores)))
        elif roll < 0.82:
            to_team = rng.choice([t for t in teams if t != team])
            facts.append((day, ChangeTeam(to_team, day)))
            team = to_team
        elif roll < 0.87:
            facts.append((day, CloseJourney("work" if in_work else rng.choice(("moved", "other")), day)))
            is_open = False
    # Some facts are recorded weeks after the facts that follow them: backdated on arrival.
    order = list(range(len(facts)))
    for i in range(len(facts)):
        if isinstance(facts[i][1], _MOVABLE) and rng.random() < 0.15:
            j = min(len(order) - 1, order.index(i) + rng.randint(1, 4))
            order.remove(i)
            order.insert(j, i)
    for i in order:
        day, command = facts[i]
        yield BatchItem(command, by(), jid)
    # A few steps turn out to be wrong and are voided.
    steps = [pos + 2 for pos, i in enumerate(order) if isinstance(facts[i][1], RecordStep)]
    if steps and rng.random() < 0.1:
        yield BatchItem(VoidEntry(rng.choice(steps), "wrong rung"), by(), jid)
