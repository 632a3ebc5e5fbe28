"""The wire schemas of the event streams: inbound messages, dead letters, the outbound feed.

These models are the contract: docs/schemas/*.json are generated from them
(`python -m api.streams docs/schemas`), a test keeps the files current, and the Kafka tests check
every message that crosses the broker against them.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import BatchItemIn, Text
from projections.feed import SHARED_FACTS, FeedItem

SCHEMA_BASE = "https://traject.example/schemas/"


class InboundMessage(BaseModel):
    """One fact, as a caseworker app puts it on the inbound topic."""

    model_config = ConfigDict(extra="forbid", title="traject inbound message")

    actor_id: Text = Field(description="Who recorded the fact, as the caseworker app knows them.")
    actor_role: Literal["caseworker"]
    event: BatchItemIn = Field(description="One event body of the HTTP batch API (POST /v1/events).")


class InvalidParam(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    code: str
    reason: str


class Reason(BaseModel):
    """Why a message was dead-lettered, shaped like the HTTP API's problem details."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(description="The HTTP status the same event would have got: 400, 404, 409 or 422.")
    title: str
    detail: str
    code: str = Field(description="json_invalid, a schema error type, or the domain error's name.")
    field: str | None = Field(default=None, description="The failing field, e.g. event.to_rung.")
    invalidParams: list[InvalidParam] | None = Field(
        default=None, description="The schema errors: the first 20, or the domain error."
    )
    invalidParamsTotal: int | None = Field(default=None, description="How many schema errors there were.")


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str
    partition: int
    offset: int
    timestamp_ms: int


class DeadLetter(BaseModel):
    """A message the inbound consumer could not store, with the original bytes."""

    model_config = ConfigDict(extra="forbid", title="traject dead letter")

    reason: Reason
    source: Source = Field(description="Where the message was read: replaying starts here.")
    key: str | None = Field(description="The original key, base64; null if it had none.")
    original: str = Field(description="The original value, base64, byte for byte.")
    dead_lettered_at: datetime


_FACTS_BY_TYPE = "; ".join(
    f"{cls.__name__}: {', '.join(names) or '(none)'}" for cls, names in SHARED_FACTS.items()
)


class FeedItemOut(BaseModel):
    """One recorded event, pseudonymous: the journey id is the only handle on the client."""

    model_config = ConfigDict(extra="forbid", title="traject event (plain form)")

    position: int = Field(description="Position in the event log; the feed's cursor.")
    journey_id: UUID
    version: int = Field(
        description="The event's version within its journey; deduplicate on (journey_id, version)."
    )
    type: str = Field(description="The event class, e.g. LadderStepRecorded.")
    effective_date: date = Field(description="The date the fact is about (valid time).")
    recorded_at: datetime = Field(description="When traject recorded it (transaction time, UTC).")
    facts: dict[str, Any] = Field(description=f"The facts each type shares. {_FACTS_BY_TYPE}.")

    @classmethod
    def of(cls, item: FeedItem) -> FeedItemOut:
        return cls.model_validate(item, from_attributes=True)


class FeedOut(BaseModel):
    items: list[FeedItemOut]
    next_after: int = Field(
        description="Pass as `after` for the next page; equal to `after` when nothing new."
    )


class Kenmerken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    version: str
    position: str


class NotificatieOut(BaseModel):
    """A recorded event announced in the shape of the VNG Notificaties API: links, not data."""

    model_config = ConfigDict(extra="forbid", title="traject event (Notificaties form)")

    kanaal: str
    hoofdObject: str = Field(description="The journey's URL.")
    resource: Literal["event"]
    resourceUrl: str = Field(description="The event's page of GET /v1/events.")
    actie: Literal["create"]
    aanmaakdatum: datetime
    kenmerken: Kenmerken


SCHEMAS: dict[str, tuple[type[BaseModel], Literal["validation", "serialization"]]] = {
    "inbound-message.schema.json": (InboundMessage, "validation"),
    "dead-letter.schema.json": (DeadLetter, "serialization"),
    "outbound-plain.schema.json": (FeedItemOut, "serialization"),
    "outbound-notificaties.schema.json": (NotificatieOut, "serialization"),
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema documents under docs/schemas, by file name."""
    return {
        name: {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_BASE + name,
            **model.model_json_schema(mode=mode),
        }
        for name, (model, mode) in SCHEMAS.items()
    }


def write_schemas(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (directory / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"))
