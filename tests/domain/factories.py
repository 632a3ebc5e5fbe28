"""Helpers that make domain tests read as scenarios."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

from domain.journey import Journey, Provenance

TODAY = date(2026, 6, 30)
START = date(2026, 1, 1)


def by(event_id: UUID | None = None, today: date = TODAY) -> Provenance:
    return Provenance(
        event_id=event_id or uuid4(),
        actor_id="cw-7",
        actor_role="caseworker",
        today=today,
        source="tests",
        correlation_id="c-1",
    )


def day(n: int) -> date:
    """The n-th day after the journey's start."""
    return START + timedelta(days=n)


def started(rung: int = 2, team: str = "noord", on: date = START) -> Journey:
    return Journey.start(
        client_ref="pseudonym-1",
        municipality="Amersfoort",
        team=team,
        initial_rung=rung,
        effective_date=on,
        by=by(),
    )
