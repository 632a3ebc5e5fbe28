"""The pseudonymous event feed: which facts of a recorded event may leave the building.

The journey id is the only handle on a client. Every event class names the facts it shares; an
event class missing from the table shares none, so a new event leaks nothing until someone
decides what it may say. Never shared: the client reference (`client_ref`), free-text reasons and
notes, and who recorded the fact (there is no caseworker dimension anywhere).

The same items go out over Kafka (plain and VNG Notificaties forms) and GET /v1/events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from domain.journey import Journey

SHARED_FACTS: dict[type[Journey.Fact], tuple[str, ...]] = {
    Journey.Started: ("municipality", "team", "initial_rung"),
    Journey.LadderStepRecorded: ("to_rung",),
    Journey.WorkExitRecorded: ("kind", "hours_per_week", "contract"),
    Journey.WorkEnded: (),  # its reason may be health: it stays inside
    Journey.SocialReconnectionRecorded: ("kind",),
    Journey.SelfRelianceAssessed: ("zrm_version",),  # scores touch health: they stay inside
    Journey.TeamChanged: ("from_team", "to_team"),
    Journey.Closed: ("reason",),  # a code, not free text
    Journey.Reopened: (),  # its reason is free text
    Journey.EntryVoided: ("voided_version",),  # its reason is free text
}


@dataclass(frozen=True, slots=True)
class FeedItem:
    position: int  # in the event log; the feed's cursor
    journey_id: UUID
    version: int  # within the journey; with journey_id, the key to deduplicate on
    type: str
    effective_date: date
    recorded_at: datetime
    facts: Mapping[str, Any]


def feed_item(position: int, event: object) -> FeedItem | None:
    """The shareable form of a recorded event; None for an event that is not a journey fact."""
    if not isinstance(event, Journey.Fact):
        return None
    names = SHARED_FACTS.get(type(event), ())
    return FeedItem(
        position=position,
        journey_id=event.originator_id,
        version=event.originator_version,
        type=type(event).__name__,
        effective_date=event.effective_date,
        recorded_at=event.timestamp,
        facts={name: getattr(event, name) for name in names},
    )


def plain(item: FeedItem) -> dict[str, Any]:
    """The plain form (docs/schemas/outbound-plain.schema.json), ready for JSON."""
    return {
        "position": item.position,
        "journey_id": str(item.journey_id),
        "version": item.version,
        "type": item.type,
        "effective_date": item.effective_date.isoformat(),
        "recorded_at": item.recorded_at.isoformat(),
        "facts": dict(item.facts),
    }


def notificatie(item: FeedItem, base_url: str, kanaal: str) -> dict[str, Any]:
    """The VNG Notificaties API form: links back to the API instead of data.

    `resourceUrl` is the event's own page of the feed, which the reporting role may read;
    `hoofdObject` is the journey, which only roles that may see the journey can follow.
    Events are never edited, so every notification announces a creation.
    """
    base = base_url.rstrip("/")
    return {
        "kanaal": kanaal,
        "hoofdObject": f"{base}/v1/journeys/{item.journey_id}",
        "resource": "event",
        "resourceUrl": f"{base}/v1/events?after={item.position - 1}&limit=1",
        "actie": "create",
        "aanmaakdatum": item.recorded_at.isoformat(),
        "kenmerken": {
            "type": item.type,
            "version": str(item.version),
            "position": str(item.position),
        },
    }
