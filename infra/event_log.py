"""Reading the application's notification log: every recorded event, in the order it was stored.

Positions are the store's notification ids. Both stores make them visible in order (SQLite has
one writer; the PostgreSQL recorder locks the table while it inserts), so reading "after N"
never skips an event that commits later with a smaller position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

# The largest position either store can hold (a signed 64-bit integer); nothing is stored after it.
LAST_POSITION = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Recorded:
    position: int
    event: Any  # a domain event of the application


def recorded_after(app: Application[UUID], after: int, limit: int) -> list[Recorded]:
    """Up to `limit` events stored after position `after`, oldest first."""
    if after >= LAST_POSITION:  # `after + 1` would not fit the store's integer
        return []
    notifications = app.recorder.select_notifications(after + 1, limit)
    return [Recorded(n.id, app.mapper.to_domain_event(n)) for n in notifications]
