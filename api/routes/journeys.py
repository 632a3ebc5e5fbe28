"""Journeys: start one, record facts about it, read its state and its history."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request, Response

from api.auth import Caller, needs
from api.deps import Wiring, provenance, writers
from api.schemas import (
    BatchIn,
    BatchOut,
    FactIn,
    HistoryEntryOut,
    HistoryOut,
    JourneyOut,
    StartIn,
    WrittenOut,
)
from services.commands import BatchItem
from services.journeys import Written

router = APIRouter(prefix="/v1", tags=["journeys"])
# A retried write (the same event_id and facts) answers as the first time, with 200 and duplicate: true.
REPEAT: dict[int | str, dict[str, Any]] = {
    200: {"model": WrittenOut, "description": "A repeat of an earlier write: its original answer."}
}


def _status(response: Response, duplicate: bool) -> None:
    response.status_code = 200 if duplicate else 201


def _settle(future: asyncio.Future[Written | BaseException], result: Written | BaseException) -> None:
    if not future.done():  # a request whose client went away was cancelled meanwhile
        future.set_result(result)


def _written(w: Written) -> Response:
    """A write's answer, serialised directly: the hot path skips the response model's validation
    (the route still declares WrittenOut, so the OpenAPI document and the shape are unchanged)."""
    body = {
        "journey_id": str(w.journey_id),
        "version": w.version,
        "position": w.position,
        "duplicate": w.duplicate,
    }
    return Response(orjson.dumps(body), 200 if w.duplicate else 201, media_type="application/json")


@router.post("/journeys", status_code=201, openapi_extra=needs("journeys:write"), responses=REPEAT)
def start_journey(body: StartIn, caller: Caller, wiring: Wiring, response: Response) -> WrittenOut:
    """Start a journey. Retrying with the same `event_id` answers with the same journey (200)."""
    written = wiring.journeys.start(body.command(), provenance(body, caller, wiring), caller.scope)
    _status(response, written.duplicate)
    return WrittenOut.of(written)


@router.post(
    "/journeys/{journey_id}/events",
    status_code=201,
    response_model=WrittenOut,
    openapi_extra=needs("journeys:write"),
    responses=REPEAT,
)
async def record_event(
    journey_id: UUID, body: FactIn, caller: Caller, wiring: Wiring, request: Request
) -> Response:
    """Record one fact about a journey; `type` says which. Safe to retry with the same `event_id`."""
    by = provenance(body, caller, wiring)
    command = body.command()
    # The common case (a journey this process has cached, no other writer on it) is decided here
    # and awaits the next shared commit without a thread of its own; anything else goes to a
    # writer thread, as does a write whose shared commit failed (it is then decided afresh).
    loop = asyncio.get_running_loop()
    stored: asyncio.Future[Written | BaseException] = loop.create_future()
    if wiring.journeys.record_soon(
        journey_id,
        command,
        by,
        caller.scope,
        lambda result: loop.call_soon_threadsafe(_settle, stored, result),
    ):
        result = await stored
        if isinstance(result, Written):
            return _written(result)
    record = partial(wiring.journeys.record, journey_id, command, by, caller.scope)
    return _written(await writers(request).run(record))


@router.post("/events", status_code=201, openapi_extra=needs("journeys:write"))
def record_batch(body: BatchIn, caller: Caller, wiring: Wiring) -> BatchOut:
    """Record many facts about many journeys in one transaction: all are stored, or none."""
    items = [
        BatchItem(e.command(), provenance(e, caller, wiring), getattr(e, "journey_id", None))
        for e in body.events
    ]
    return BatchOut(results=[WrittenOut.of(w) for w in wiring.journeys.record_batch(items, caller.scope)])


@router.get("/journeys/{journey_id}", openapi_extra=needs("journeys:read"))
def get_journey(
    journey_id: UUID,
    caller: Caller,
    wiring: Wiring,
    as_of: Annotated[date | None, Query(description="State on this date (valid time).")] = None,
    known_at: Annotated[
        datetime | None,
        Query(description="As it was known at this moment (transaction time)."),
    ] = None,
) -> JourneyOut:
    """The journey's state: team, rung, status, work exits and latest ZRM per version."""
    return JourneyOut.of(wiring.journeys.state(journey_id, as_of or wiring.today(), caller.scope, known_at))


@router.get("/journeys/{journey_id}/history", openapi_extra=needs("journeys:read"))
def get_history(
    journey_id: UUID,
    caller: Caller,
    wiring: Wiring,
    known_at: Annotated[
        datetime | None, Query(description="Only what was recorded up to this moment.")
    ] = None,
) -> HistoryOut:
    """Every entry in recording order: who recorded it, when, about which date; voids marked."""
    entries = wiring.journeys.history(journey_id, caller.scope, known_at)
    return HistoryOut(
        journey_id=journey_id,
        known_at=known_at,
        entries=[HistoryEntryOut.of(e) for e in entries],
    )
