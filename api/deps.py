"""Request-scoped helpers shared by the routes: the container, and who is recording."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.auth import Caller
from api.schemas import In
from domain.journey import Provenance
from domain.teams import InvalidTeamError, team_slug
from infra.container import Container

T = TypeVar("T")


class Writers:
    """Threads that run blocking writes for the event loop: handed work with `run_in_executor`,
    which costs a request less than Starlette's threadpool (no capacity limiter or cancel scope)."""

    def __init__(self, threads: int = 40) -> None:
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[[], T]) -> T:
        if self._pool is None:  # made on first use, again after `close` (an app served twice)
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="writer")
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def writers(request: Request) -> Writers:
    w: Writers = request.app.state.writers
    return w


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


class TeamNotFound(Exception):
    """A team path names no registered team: not found, whatever bytes it holds."""


async def known_team(team: str, caller: Caller, wiring: Wiring) -> str:
    """The registered team a path names, as its slug; asked only once the caller's token checked out
    (`caller`), so an anonymous caller learns nothing of which teams exist."""
    try:
        slug = team_slug(team)
    except InvalidTeamError:
        raise TeamNotFound("no such team") from None  # never echoed: it may hold any bytes
    if slug not in wiring.teams.cached() and not await run_in_threadpool(wiring.teams.known, slug):
        raise TeamNotFound(f"the municipality has no team {slug}")
    return slug


KnownTeam = Annotated[str, Depends(known_team)]
