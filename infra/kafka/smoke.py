"""End-to-end smoke test of kafka-python against the local broker.

usage: python smoke.py BOOTSTRAP [N_MESSAGES]

Creates a fresh 3-partition topic with KafkaAdminClient, produces N (default
100) keyed messages with an idempotent producer (acks='all',
enable_idempotence=True), consumes them back in a consumer group with manual
commits, and checks: every message arrived exactly once, all 3 partitions were
used, the committed group offsets add up to N, and the producer really got a
producer id from the broker (i.e. idempotence is active, not silently off).
api_version is left to auto-detection (ApiVersions negotiation).

Exit 0 only if everything checks out.
"""

from __future__ import annotations

import sys
import time
import uuid

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition


def fail(msg: str) -> None:
    print(f"smoke: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class Clock:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def lap(self, what: str) -> None:
        print(f"smoke: {what} (+{time.monotonic() - self.t0:.2f}s)")


def create_topic(bootstrap: str, topic: str, clock: Clock) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="traject-smoke")
    try:
        admin.create_topics(
            {topic: {"num_partitions": 3, "replication_factor": 1}},
            wait_for_metadata=True,
        )
        parts = admin.describe_topics([topic])[0]["partitions"]
        if len(parts) != 3:
            fail(f"expected 3 partitions, got {len(parts)}")
        clock.lap(
            f"created topic {topic} with 3 partitions "
            f"(broker version seen by kafka-python: {admin._manager.broker_version})"
        )
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, n: int, clock: Clock) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="traject-smoke-producer",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )
    try:
        futures = [producer.send(topic, key=f"k{i % 7}".encode(), value=f"m{i}".encode()) for i in range(n)]
        producer.flush(timeout=30)
        metas = [f.get(timeout=30) for f in futures]
        tm = producer._transaction_manager
        pid = tm.producer_id_and_epoch.producer_id if tm is not None else None
    finally:
        producer.close(timeout=10)
    if pid is None or pid < 0:
        fail(f"idempotent producer has no producer id (transaction manager={tm!r})")
    used = sorted({m.partition for m in metas})
    clock.lap(f"produced {n} messages, acks=all, idempotent producer id={pid}, partitions={used}")
    if used != [0, 1, 2]:
        fail(f"messages did not spread over 3 partitions: {used}")


def consume(bootstrap: str, topic: str, group: str, n: int, clock: Clock) -> None:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        client_id="traject-smoke-consumer",
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    seen: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 60
        while len(seen) < n and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    v = r.value.decode()
                    seen[v] = seen.get(v, 0) + 1
            if batch:
                consumer.commit()
        clock.lap(f"consumed {len(seen)} distinct messages in group {group}")
        committed = sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(3))
    finally:
        consumer.close()

    missing = {f"m{i}" for i in range(n)} - set(seen)
    dups = {v: c for v, c in seen.items() if c > 1}
    if missing:
        fail(f"{len(missing)} messages missing, e.g. {sorted(missing)[:5]}")
    if dups:
        fail(f"duplicates: {dups}")
    if committed != n:
        fail(f"committed offsets add up to {committed}, expected {n}")
    clock.lap(f"OK: {n}/{n} messages, no duplicates, committed offsets = {committed}")


def main() -> None:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    bootstrap = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 100
    run = uuid.uuid4().hex[:8]
    topic, group = f"traject-smoke-{run}", f"traject-smoke-group-{run}"
    clock = Clock()
    create_topic(bootstrap, topic, clock)
    produce(bootstrap, topic, n, clock)
    consume(bootstrap, topic, group, n, clock)


if __name__ == "__main__":
    main()
