"""The inbound consumer against the real broker, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from kafka import TopicPartition

from api.ingest import Ingest
from api.streams import DeadLetter
from infra.container import Container, build
from infra.kafka_inbound import InboundConsumer
from infra.settings import Settings
from services.commands import RecordStep
from tests.conftest import days_ago
from tests.infra.kafka_support import (
    envelope,
    fact_event,
    journey_messages,
    journey_of,
    produce,
    read_all,
    start_event,
    wait_until,
)
from tests.services.test_journeys import by

pytestmark = pytest.mark.kafka
Make = Callable[..., Settings]


@contextmanager
def consuming(settings: Settings, container: Container) -> Iterator[InboundConsumer]:
    consumer = InboundConsumer(settings, Ingest(container.journeys, container.today))
    try:
        yield consumer
    finally:
        consumer.close()


def drain(consumer: InboundConsumer, total: int) -> None:
    """Poll until the consumer has seen `total` messages through to their commit."""

    def done() -> bool:
        consumer.poll_once()
        return consumer.counters.snapshot()["inbound_consumed_total"] >= total

    wait_until(done, what=f"{total} messages consumed")


def committed(consumer: InboundConsumer, topic: str, partition: int = 0) -> int:
    return int(consumer._consumer.committed(TopicPartition(topic, partition)) or 0)


def test_poison_messages_are_dead_lettered_and_the_rest_of_their_batch_is_stored(
    kafka_settings: Make, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    settings = kafka_settings(kafka_inbound_topic=new_topic("in"))
    container = build(settings)
    start = start_event()
    jid = journey_of(start)
    key = str(jid).encode()
    step = fact_event("ladder_step", jid, to_rung=3, effective_date=days_ago(50).isoformat())
    reused = step | {"to_rung": 4}
    messages = [
        ("stored", envelope(start)),
        ("stored", envelope(step)),
        (400, b"\xff\xfe not even text"),
        (400, b'{"actor_id": "cw-7", "actor_role": '),
        (422, envelope(step | {"event_id": str(uuid.uuid4()), "to_rung": "high"})),
        (422, envelope(step | {"event_id": str(uuid.uuid4()), "to_rung": 7})),
        (
            404,
            envelope(
                fact_event("ladder_step", uuid.uuid4(), to_rung=3, effective_date=days_ago(5).isoformat())
            ),
        ),
        (409, envelope(reused)),
        ("duplicate", envelope(start)),
        (
            "stored",
            envelope(fact_event("closure", jid, reason="work", effective_date=days_ago(10).isoformat())),
        ),
    ]
    offsets = produce(kafka_bootstrap, settings.kafka_inbound_topic, [(key, m) for _, m in messages])

    with consuming(settings, container) as consumer:
        drain(consumer, len(messages))
        assert committed(consumer, settings.kafka_inbound_topic) == len(messages)
        counts = consumer.counters.snapshot()

    assert counts["inbound_consumed_total"] == len(messages)
    assert (counts["inbound_stored_total"], counts["inbound_duplicate_total"]) == (3, 1)
    assert counts["inbound_dead_lettered_total"] == 6
    history = container.journeys.history(jid)
    assert [e.kind for e in history] == ["Started", "LadderStepRecorded", "Closed"]
    assert all(e.channel == "kafka" for e in history)

    letters = [
        DeadLetter.model_validate_json(r.value)
        for r in read_all(kafka_bootstrap, settings.kafka_dead_letter_topic)
    ]
    expected = [
        (offsets[i], status, raw) for i, (status, raw) in enumerate(messages) if isinstance(status, int)
    ]
    assert [(d.source.offset, d.reason.status, base64.b64decode(d.original)) for d in letters] == expected
    assert all(d.source.topic == settings.kafka_inbound_topic and d.source.partition == 0 for d in letters)
    assert [d.reason.code for d in letters] == [
        "json_invalid",
        "json_invalid",
        "int_type",  # numbers are strict: "high" (or "3") is not a rung
        "InvalidRungError",
        "JourneyNotFound",
        "IdempotencyConflict",
    ]
    assert letters[5].reason.field == "event.event_id"
    assert all(base64.b64decode(d.key or "") == key for d in letters)
    container.close()


def test_a_redelivered_or_repeated_event_is_stored_once(
    kafka_settings: Make, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    settings = kafka_settings(kafka_inbound_topic=new_topic("in"))
    container = build(settings)
    jid, messages = journey_messages("GEM-2", steps=2)
    key = str(jid).encode()
    # The same fact recorded over HTTP first: Kafka must see it as the same event.
    over_http = fact_event("ladder_step", jid, to_rung=4, effective_date=days_ago(20).isoformat())
    produce(kafka_bootstrap, settings.kafka_inbound_topic, [(key, m) for m in messages])
    with consuming(settings, container) as consumer:
        drain(consumer, 3)
        container.journeys.record(
            jid, RecordStep(4, days_ago(20)), by(container, uuid.UUID(over_http["event_id"]))
        )
        again = [*messages, messages[1], envelope(over_http)]
        produce(kafka_bootstrap, settings.kafka_inbound_topic, [(key, m) for m in again])
        drain(consumer, 3 + len(again))
        counts = consumer.counters.snapshot()

    assert (counts["inbound_stored_total"], counts["inbound_duplicate_total"]) == (3, 5)
    assert counts["inbound_dead_lettered_total"] == 0
    assert container.journeys.journey(jid).version == 4
    assert len(container.journeys.history(jid)) == 4
    container.close()


def test_two_consumers_in_one_group_share_the_partitions_and_process_each_message_once(
    kafka_settings: Make, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    settings = kafka_settings(kafka_inbound_topic=new_topic("in", 4))
    containers = [build(settings), build(settings)]  # two processes' worth: own app, own clients
    consumers = [InboundConsumer(settings, Ingest(c.journeys, c.today)) for c in containers]
    stop = threading.Event()
    threads = [threading.Thread(target=c.run, args=(stop,)) for c in consumers]
    for t in threads:
        t.start()
    try:
        wait_until(
            lambda: (
                all(c.assignment for c in consumers)
                and sum(len(c.assignment) for c in consumers) == 4
                and not consumers[0].assignment & consumers[1].assignment
            ),
            what="the group to settle on two members",
        )
        journeys = [journey_messages(f"GEM-{n}", steps=2) for n in range(30)]
        produce(
            kafka_bootstrap,
            settings.kafka_inbound_topic,
            [(str(jid).encode(), m) for jid, messages in journeys for m in messages],
        )
        total = 3 * len(journeys)
        wait_until(
            lambda: sum(c.counters.snapshot()["inbound_consumed_total"] for c in consumers) >= total,
            what="every message consumed",
        )
    finally:
        stop.set()
        for t in threads:
            t.join()
    counts = [c.counters.snapshot() for c in consumers]
    assert all(c["inbound_stored_total"] > 0 for c in counts), counts
    assert sum(c["inbound_stored_total"] for c in counts) == total
    assert sum(c["inbound_duplicate_total"] + c["inbound_dead_lettered_total"] for c in counts) == 0
    assert all(containers[0].journeys.journey(jid).version == 3 for jid, _ in journeys)
    for c in containers:
        c.close()


def test_the_dead_letter_record_keeps_a_key_less_message_as_it_was(
    kafka_settings: Make, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    settings = kafka_settings(kafka_inbound_topic=new_topic("in"))
    container = build(settings)
    raw = json.dumps({"actor_id": "cw", "actor_role": "teamlead", "event": start_event()}).encode()
    produce(kafka_bootstrap, settings.kafka_inbound_topic, [(None, raw)])
    with consuming(settings, container) as consumer:
        drain(consumer, 1)
    (letter,) = [
        DeadLetter.model_validate_json(r.value)
        for r in read_all(kafka_bootstrap, settings.kafka_dead_letter_topic)
    ]
    assert (letter.key, base64.b64decode(letter.original)) == (None, raw)
    assert (letter.reason.status, letter.reason.field) == (422, "actor_role")
    container.close()


def test_offsets_are_committed_after_storing_and_a_restarted_consumer_resumes_after_them(
    kafka_settings: Make, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    """Commits are asynchronous (the next poll goes out meanwhile); closing commits the last ones
    and waits, so the next consumer of the group starts after everything stored, and repeats nothing."""
    settings = kafka_settings(kafka_inbound_topic=new_topic("in"))
    container = build(settings)
    first = [journey_messages(f"GEM-A{n}", steps=2) for n in range(5)]
    produce(
        kafka_bootstrap, settings.kafka_inbound_topic, [(str(j).encode(), m) for j, ms in first for m in ms]
    )
    with consuming(settings, container) as consumer:
        drain(consumer, 15)
    with consuming(settings, container) as consumer:  # a new member of the same group
        assert committed(consumer, settings.kafka_inbound_topic) == 15
        second = [journey_messages(f"GEM-B{n}", steps=2) for n in range(3)]
        produce(
            kafka_bootstrap,
            settings.kafka_inbound_topic,
            [(str(j).encode(), m) for j, ms in second for m in ms],
        )
        drain(consumer, 9)
        counts = consumer.counters.snapshot()
    assert (counts["inbound_stored_total"], counts["inbound_duplicate_total"]) == (9, 0)
    assert counts["inbound_commit_failures_total"] == 0
    assert all(container.journeys.journey(j).version == 3 for j, _ in [*first, *second])
    container.close()
