"""The inbound Kafka handler: message bytes become commands, a whole poll batch one transaction.

A message (docs/kafka.md, docs/schemas/inbound-message.schema.json) wraps one event body of the
HTTP batch API (`POST /v1/events`) in an envelope that says who recorded it; write access to the
topic is what authorises the producer, as a token does over HTTP.

A message that can never be stored (undecodable, off-schema, against a journey rule, about an
unknown journey, an event id reused for another fact) is judged a dead letter with a
problem-details reason shaped like the HTTP API's errors; the rest of the batch is stored
without it. Any other failure propagates, so the consumer retries the batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from pydantic import ValidationError

from api.reasons import invalid_members, refusal_members
from api.streams import InboundMessage
from domain.errors import JourneyError
from domain.journey import Provenance
from infra.kafka_inbound import Message, Verdict
from services.commands import BatchItem
from services.journeys import BatchItemError, JourneyNotFound, JourneysApp

CHANNEL = "kafka"


def decode(message: Message, today: date) -> BatchItem:
    """The command a message asks for; raises pydantic's ValidationError if it is not one."""
    inbound = InboundMessage.model_validate_json(message.value)
    body = inbound.event
    by = Provenance(
        event_id=body.event_id,
        actor_id=inbound.actor_id,
        actor_role=inbound.actor_role,
        today=today,
        source=body.source,
        channel=CHANNEL,
        # Without one of its own, the fact points back at the message it came in.
        correlation_id=body.correlation_id or f"{message.topic}/{message.partition}/{message.offset}",
    )
    return BatchItem(body.command(), by, getattr(body, "journey_id", None))


class Ingest:
    """The handler the inbound consumer calls with each poll batch."""

    def __init__(self, journeys: JourneysApp, today: Callable[[], date]) -> None:
        self.journeys = journeys
        self.today = today

    def __call__(self, messages: Sequence[Message]) -> list[Verdict]:
        verdicts: dict[int, Verdict] = {}
        pending: list[tuple[int, BatchItem]] = []
        today = self.today()
        for index, message in enumerate(messages):
            try:
                pending.append((index, decode(message, today)))
            except ValidationError as error:
                verdicts[index] = Verdict("dead_lettered", invalid(error))
        # Nothing of a failed batch is stored. The items before the one at fault were all judged
        # good, so they are stored as one batch next, then the items after it: each bad message
        # costs one more pass over its own segment, not over the whole poll.
        segments: deque[list[tuple[int, BatchItem]]] = deque([pending])
        while segments:
            segment = segments.popleft()
            if not segment:
                continue
            try:
                written = self.journeys.record_batch([item for _, item in segment])
            except BatchItemError as failed:
                index, _ = segment[failed.index]
                verdicts[index] = Verdict("dead_lettered", refused(failed.error))
                segments.appendleft(segment[failed.index + 1 :])
                segments.appendleft(segment[: failed.index])
                continue
            for (index, _), w in zip(segment, written, strict=True):
                verdicts[index] = Verdict("duplicate" if w.duplicate else "stored")
        return [verdicts[i] for i in range(len(messages))]


def invalid(error: ValidationError) -> dict[str, Any]:
    """Why a message could not be read: not JSON at all (400), or not our schema (422)."""
    errors = error.errors(include_url=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        members = invalid_members(errors[:1])
        return {
            "status": 400,
            "title": "Undecodable message",
            "detail": members["detail"],
            "code": "json_invalid",
        }
    return _present({"status": 422, "title": "Invalid message"} | invalid_members(errors))


def refused(error: Exception) -> dict[str, Any]:
    """Why the journeys application refused an event, as the HTTP API would answer it."""
    if isinstance(error, (JourneyError, JourneyNotFound)):
        return _present(refusal_members(error, "event."))
    raise error  # no scope is applied to the topic, so nothing else is the message's fault


def _present(members: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in members.items() if v is not None}
