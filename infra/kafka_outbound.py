"""The outbound relay: publish every recorded event, in order, keyed by journey id.

Each step reads the events after the relay's tracked position, publishes them, waits until the
broker has acknowledged every one (flush), and only then records the new position, in the same
database as the events. A crash between publishing and recording publishes the step again:
at-least-once, and each message carries journey id and version so consumers can drop repeats.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application

from infra import kafka_clients
from infra.event_log import recorded_after
from infra.metrics import Counters
from infra.settings import Settings
from infra.tracking import Tracking
from projections.feed import FeedItem, feed_item, notificatie, plain

log = logging.getLogger("traject.kafka.outbound")

NAME = "kafka-relay"
COUNTERS = ("relay_published_total", "relay_position", "relay_retries_total")
FLUSH_TIMEOUT_S = 60


class Relay:
    """Publishes the event log to the outbound topic(s); one instance per thread."""

    def __init__(
        self,
        settings: Settings,
        app: Application[UUID],
        tracking: Tracking,
        counters: Counters | None = None,
    ) -> None:
        self.settings = settings
        self.app = app
        self.tracking = tracking
        self.counters = counters or Counters(COUNTERS)
        self._producer = kafka_clients.producer(settings, "relay")

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set, then close; a failed step is retried with a growing pause."""
        backoff_ms = 100
        try:
            while not stop.is_set():
                try:
                    published = self.step()
                except Exception:  # the position did not move: the step is published again
                    log.exception("relay step failed; retrying in %d ms", backoff_ms)
                    self.counters.add("relay_retries_total")
                    stop.wait(backoff_ms / 1000)
                    backoff_ms = min(backoff_ms * 2, self.settings.kafka_max_backoff_ms)
                    continue
                backoff_ms = 100
                if not published:
                    stop.wait(self.settings.kafka_idle_ms / 1000)
        finally:
            self.close()

    def step(self) -> int:
        """Publish the next batch and record how far it got; answers how many events it published."""
        with self.tracking.claim(NAME) as claim:
            if claim is None:  # another worker's relay holds the position
                return 0
            batch = recorded_after(self.app, claim.position, self.settings.kafka_relay_batch)
            if not batch:
                return 0
            futures = []
            for recorded in batch:
                item = feed_item(recorded.position, recorded.event)
                if item is not None:
                    futures.extend(self._send(item))
            self._producer.flush(timeout=FLUSH_TIMEOUT_S)
            for future in futures:
                future.get(timeout=FLUSH_TIMEOUT_S)  # raises if the broker did not take it
            claim.advance(batch[-1].position)
        self.counters.add("relay_published_total", len(batch))
        self.counters.set("relay_position", batch[-1].position)
        return len(batch)

    def close(self) -> None:
        self._producer.close(timeout=10)

    def _send(self, item: FeedItem) -> list[Any]:
        settings = self.settings
        key = str(item.journey_id).encode()
        headers = [("journey_id", key), ("version", str(item.version).encode())]
        futures = []
        if settings.kafka_outbound_form in ("plain", "both"):
            value = orjson.dumps(plain(item))
            futures.append(
                self._producer.send(settings.kafka_outbound_topic, key=key, value=value, headers=headers)
            )
        if settings.kafka_outbound_form in ("notificaties", "both"):
            value = orjson.dumps(notificatie(item, settings.public_base_url, settings.kafka_kanaal))
            futures.append(
                self._producer.send(settings.kafka_notificaties_topic, key=key, value=value, headers=headers)
            )
        return futures
