"""The Kafka clients traject makes, configured in one place from Settings."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from infra.settings import Settings


def producer(settings: Settings, role: str) -> Any:
    """An idempotent producer that waits for every in-sync replica (acks=all).

    Idempotence keeps a retried send from writing a message twice and keeps the order within a
    partition; acks=all means an acknowledged message survives the loss of the leader.
    """
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id=f"{settings.kafka_client_id}-{role}",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )


def consumer(settings: Settings) -> Any:
    """A consumer in the inbound group that commits only what the caller tells it to."""
    session = settings.kafka_session_timeout_ms
    return KafkaConsumer(
        settings.kafka_inbound_topic,
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id=f"{settings.kafka_client_id}-inbound",
        group_id=settings.kafka_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # a new group starts at the beginning: nothing is skipped
        max_poll_records=settings.kafka_poll_records,
        session_timeout_ms=session,
        heartbeat_interval_ms=max(session // 3, 100),
    )
