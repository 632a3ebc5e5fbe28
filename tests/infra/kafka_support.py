"""Helpers for the Kafka tests: inbound messages as a caseworker app writes them, and topic readers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from domain.journey import journey_id_for
from tests.conftest import days_ago


@dataclass(frozen=True)
class Read:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    def json(self) -> Any:
        return json.loads(self.value)


def envelope(event: dict[str, Any], actor_id: str = "cw-7") -> bytes:
    return json.dumps({"actor_id": actor_id, "actor_role": "caseworker", "event": event}).encode()


def start_event(reference: str = "GEM-1001", team: str = "noord", **overrides: Any) -> dict[str, Any]:
    return {
        "type": "start",
        "event_id": str(uuid.uuid4()),
        "client_reference": reference,
        "team": team,
        "initial_rung": 2,
        "effective_date": days_ago(100).isoformat(),
    } | overrides


def fact_event(type_: str, journey_id: UUID, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "event_id": str(uuid.uuid4()), "journey_id": str(journey_id)} | fields


def journey_of(start: dict[str, Any]) -> UUID:
    """The journey id a start message creates: what a caseworker app keys the journey's messages by."""
    return journey_id_for(UUID(start["event_id"]))


def journey_messages(reference: str, steps: int = 2) -> tuple[UUID, list[bytes]]:
    """A start and a few ladder steps about one journey, in recording order."""
    start = start_event(reference)
    jid = journey_of(start)
    events = [start] + [
        fact_event("ladder_step", jid, to_rung=2 + n % 3, effective_date=days_ago(90 - n).isoformat())
        for n in range(1, steps + 1)
    ]
    return jid, [envelope(e) for e in events]


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> list[int]:
    """Send keyed messages and wait until the broker has them; answers their offsets."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in messages]
        producer.flush(timeout=30)
        return [f.get(timeout=30).offset for f in futures]
    finally:
        producer.close(timeout=10)


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str, timeout: float = 30) -> list[Read]:
    """Every message now on the topic, partition by partition, in offset order."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        found: list[Read] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for records in consumer.poll(timeout_ms=200).values():
                found.extend(Read(r.partition, r.offset, r.key, r.value, dict(r.headers)) for r in records)
        return sorted(found, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def wait_until(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def versions_by_journey(reads: Iterable[Read]) -> dict[str, list[int]]:
    """The versions published per journey, in the order they arrived (repeats included)."""
    seen: dict[str, list[int]] = {}
    for r in reads:
        body = r.json()
        seen.setdefault(body["journey_id"], []).append(body["version"])
    return seen


def first_arrivals(versions: list[int]) -> list[int]:
    """Each version at its first arrival: what a consumer that drops repeats sees."""
    out: list[int] = []
    for v in versions:
        if v not in out:
            out.append(v)
    return out
