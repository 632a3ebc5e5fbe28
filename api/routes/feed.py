"""The event feed over HTTP, for reporting systems without Kafka: the relay's plain form, paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Caller, needs
from api.deps import Wiring
from api.streams import FeedItemOut, FeedOut
from infra.event_log import LAST_POSITION, recorded_after
from projections.feed import feed_item

MAX_LIMIT = 1000
router = APIRouter(prefix="/v1", tags=["feed"])


@router.get("/events", openapi_extra=needs("events:read"))
def read_events(
    caller: Caller,
    wiring: Wiring,
    after: Annotated[
        int, Query(ge=0, le=LAST_POSITION, description="The position to read after; 0 from the start.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> FeedOut:
    """Recorded events after a position, oldest first, pseudonymous (no client reference, no notes,
    no one who recorded them). Deduplicate on (`journey_id`, `version`); page on with `next_after`."""
    recorded = recorded_after(wiring.journeys, after, limit)
    items = [item for r in recorded if (item := feed_item(r.position, r.event)) is not None]
    return FeedOut(
        items=[FeedItemOut.of(i) for i in items], next_after=recorded[-1].position if recorded else after
    )
