"""The worker end to end on the real broker: produced -> stored -> published, also across a broker restart."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import pytest
from kafka import KafkaProducer

from api.ingest import Ingest
from api.streams import FeedItemOut
from infra.container import Container, build
from infra.kafka_inbound import COUNTERS as INBOUND
from infra.kafka_outbound import COUNTERS as RELAY
from infra.metrics import Counters
from infra.settings import Settings
from infra.worker import run_worker
from tests.infra.kafka_support import (
    end_offsets,
    first_arrivals,
    journey_messages,
    read_all,
    versions_by_journey,
    wait_until,
)

pytestmark = pytest.mark.kafka
Make = Callable[..., Settings]
KAFKA_SH = Path(__file__).resolve().parents[2] / "infra/kafka/kafka.sh"


@contextmanager
def worker(settings: Settings, container: Container) -> Iterator[Counters]:
    """`traject worker` in a thread: the consumer and the relay, until the block ends."""
    counters = Counters((*INBOUND, *RELAY))
    stop = threading.Event()
    handler = Ingest(container.journeys, container.today)
    thread = threading.Thread(
        target=run_worker,
        args=(settings, container.journeys, handler, stop),
        kwargs={"counters": counters},
    )
    thread.start()
    try:
        yield counters
    finally:
        stop.set()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the worker did not stop"


def published(bootstrap: str, topic: str) -> int:
    return sum(end_offsets(bootstrap, topic).values())


def assert_every_journey_complete(container: Container, journeys: dict[UUID, int]) -> None:
    """Stored exactly once: each journey holds each of its facts once, nothing more."""
    for jid, count in journeys.items():
        history = container.journeys.history(jid)
        assert len(history) == count
        assert len({e.event_id for e in history}) == count


def test_produced_events_are_stored_and_published_in_order(
    kafka_settings: Make, kafka_bootstrap: str
) -> None:
    settings = kafka_settings()
    container = build(settings)
    journeys = [journey_messages(f"GEM-{n}", steps=3) for n in range(12)]
    expected = {jid: len(messages) for jid, messages in journeys}
    total = sum(expected.values())
    with worker(settings, container) as counters:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
        for jid, messages in journeys:
            for m in messages:
                producer.send(settings.kafka_inbound_topic, key=str(jid).encode(), value=m)
        producer.flush(timeout=30)
        producer.close()
        wait_until(
            lambda: published(kafka_bootstrap, settings.kafka_outbound_topic) >= total, what="all published"
        )
    counts = counters.snapshot()
    assert (counts["inbound_consumed_total"], counts["inbound_stored_total"]) == (total, total)
    assert counts["relay_published_total"] == counts["relay_position"] == total
    assert_every_journey_complete(container, expected)

    reads = read_all(kafka_bootstrap, settings.kafka_outbound_topic)
    assert len(reads) == total
    assert versions_by_journey(reads) == {str(j): list(range(1, n + 1)) for j, n in expected.items()}
    assert all(FeedItemOut.model_validate_json(r.value).journey_id == UUID(r.key.decode()) for r in reads)
    assert published(kafka_bootstrap, settings.kafka_notificaties_topic) == total
    container.close()


def test_a_broker_restart_mid_stream_loses_nothing_and_doubles_nothing(
    kafka_settings: Make, kafka_bootstrap: str, kafka_dir: Path
) -> None:
    settings = kafka_settings(kafka_outbound_form="plain")
    container = build(settings)
    journeys = [journey_messages(f"GEM-{n}", steps=2) for n in range(40)]
    expected = {jid: len(messages) for jid, messages in journeys}
    total = sum(expected.values())
    flat = [(str(jid).encode(), m) for jid, messages in journeys for m in messages]
    half = len(flat) // 2
    with worker(settings, container) as counters:
        producer = KafkaProducer(
            bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5, reconnect_backoff_max_ms=1000
        )
        for key, m in flat[:half]:
            producer.send(settings.kafka_inbound_topic, key=key, value=m)
        producer.flush(timeout=30)
        wait_until(lambda: counters.snapshot()["inbound_stored_total"] > 0, what="the stream to start")

        def rest() -> None:  # the producer keeps sending while the broker is away
            for key, m in flat[half:]:
                producer.send(settings.kafka_inbound_topic, key=key, value=m)
                time.sleep(0.03)  # spread over the restart

        sender = threading.Thread(target=rest)
        sender.start()
        subprocess.run(
            [str(KAFKA_SH), "restart", str(kafka_dir)], check=True, capture_output=True, timeout=120
        )
        sender.join()
        producer.flush(timeout=120)
        producer.close()
        wait_until(
            lambda: published(kafka_bootstrap, settings.kafka_outbound_topic) >= total,
            timeout=120,
            what="every event published after the restart",
        )
    assert_every_journey_complete(container, expected)
    counts = counters.snapshot()
    # A commit lost with the broker redelivers its batch: what it stored comes back as duplicates.
    assert counts["inbound_stored_total"] == total
    assert (
        counts["inbound_stored_total"] + counts["inbound_duplicate_total"] == counts["inbound_consumed_total"]
    )
    assert counts["inbound_dead_lettered_total"] == 0
    by_journey = versions_by_journey(read_all(kafka_bootstrap, settings.kafka_outbound_topic))
    assert {j: first_arrivals(v) for j, v in by_journey.items()} == {
        str(j): list(range(1, n + 1)) for j, n in expected.items()
    }
    container.close()
