"""Request-scoped helpers shared by the routes: the container, and who is recording."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from api.auth import Caller
from api.schemas import In
from domain.journey import Provenance
from infra.container import Container


async def container(request: Request) -> Container:  # async: no threadpool hop for a lookup
    c: Container = request.app.state.container
    return c


Wiring = Annotated[Container, Depends(container)]


def provenance(body: In, caller: Caller, wiring: Container, channel: str = "http") -> Provenance:
    """Who records this fact, from where, and on which day (the municipality's today)."""
    return Provenance(
        event_id=body.event_id,
        actor_id=caller.subject,
        actor_role=caller.role,
        today=wiring.today(),
        source=body.source,
        channel=channel,
        correlation_id=body.correlation_id,
    )


JourneyId = Annotated[UUID, "journey id"]
