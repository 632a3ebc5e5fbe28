"""Kafka fixtures: the real broker the test command starts, and fresh topics for every test.

scripts/test starts the broker and exports TRAJECT_TEST_KAFKA_BOOTSTRAP (its address) and
TRAJECT_TEST_KAFKA_DIR (for restarting it). A test that needs them and does not find them fails:
a missing broker is a broken run, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from infra.settings import Settings


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: run the suite with `make test`, which starts Kafka", pytrace=False)
    return value


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required("TRAJECT_TEST_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
def kafka_dir() -> Path:
    return Path(_required("TRAJECT_TEST_KAFKA_DIR"))


@contextmanager
def admin_client(bootstrap: str) -> Iterator[Any]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="traject-tests")
    try:
        yield admin
    finally:
        admin.close()


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Create topics no other test uses; they are deleted afterwards to keep the broker quick to restart."""
    made: list[str] = []
    with admin_client(kafka_bootstrap) as admin:

        def create(purpose: str, partitions: int = 1) -> str:
            name = f"t-{purpose}-{uuid.uuid4().hex[:10]}"
            admin.create_topics(
                {name: {"num_partitions": partitions, "replication_factor": 1}}, wait_for_metadata=True
            )
            made.append(name)
            return name

        yield create
    if made:
        with admin_client(kafka_bootstrap) as admin:  # a fresh client: the test may have restarted the broker
            admin.delete_topics(made)


@pytest.fixture
def kafka_settings(
    make_settings: Callable[..., Settings], kafka_bootstrap: str, new_topic: Callable[..., str]
) -> Callable[..., Settings]:
    """Settings for this test's store and its own topics and group, tuned for fast tests."""
    values = {
        "kafka_bootstrap": kafka_bootstrap,
        "kafka_group": f"g-{uuid.uuid4().hex[:10]}",
        "kafka_inbound_topic": new_topic("in", 3),
        "kafka_dead_letter_topic": new_topic("dlq"),
        "kafka_outbound_topic": new_topic("out", 3),
        "kafka_notificaties_topic": new_topic("ntf", 3),
        "kafka_outbound_form": "both",
        "kafka_poll_timeout_ms": 100,
        "kafka_session_timeout_ms": 6000,  # the broker's minimum: a rebalance settles in seconds
        "kafka_idle_ms": 50,
        "kafka_max_backoff_ms": 500,
        "public_base_url": "https://traject.example",
    }

    def make(**overrides: Any) -> Settings:
        return make_settings(**(values | overrides))

    return make
