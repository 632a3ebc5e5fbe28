"""The Kafka clients traject makes, configured in one place from Settings."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from infra.settings import Settings

# kafka-python backs off up to 30 s between reconnects; the Java client's 1 s gets a worker
# going again within a second of the broker's return.
RECONNECT_BACKOFF_MAX_MS = 1000


def bootstrap_servers(settings: Settings) -> list[str]:
    return [server.strip() for server in settings.kafka_bootstrap.split(",") if server.strip()]


def producer(settings: Settings, role: str) -> Any:
    """An idempotent producer that waits for every in-sync replica (acks=all).

    Idempotence keeps a retried send from writing a message twice and keeps the order within a
    partition; acks=all means an acknowledged message survives the loss of the leader.
    """
    return KafkaProducer(
        bootstrap_servers=bootstrap_servers(settings),
        client_id=f"{settings.kafka_client_id}-{role}",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,  # per partition: a burst goes out in a few requests, not hundreds
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )


def consumer(settings: Settings) -> Any:
    """A consumer in the inbound group that commits only what the caller tells it to."""
    session = settings.kafka_session_timeout_ms
    return KafkaConsumer(
        settings.kafka_inbound_topic,
        bootstrap_servers=bootstrap_servers(settings),
        client_id=f"{settings.kafka_client_id}-inbound",
        group_id=settings.kafka_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # a new group starts at the beginning: nothing is skipped
        max_poll_records=settings.kafka_poll_records,
        session_timeout_ms=session,
        heartbeat_interval_ms=max(session // 3, 100),
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )
