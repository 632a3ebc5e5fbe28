"""The worker process: long-running loops (Kafka in, Kafka out, ...) in threads until told to stop."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application

from infra.kafka_inbound import COUNTERS as INBOUND_COUNTERS
from infra.kafka_inbound import Handler, InboundConsumer
from infra.kafka_outbound import COUNTERS as RELAY_COUNTERS
from infra.kafka_outbound import Relay
from infra.metrics import Counters, serve_metrics
from infra.settings import Settings
from infra.tracking import SqlTracking


class Loop(Protocol):
    """Runs until `stop` is set, then releases what it holds."""

    def run(self, stop: threading.Event) -> None: ...


def kafka_loops(
    settings: Settings, app: Application[UUID], handler: Handler, counters: Counters
) -> list[Loop]:
    """The inbound consumer and the outbound relay, when Kafka is configured."""
    if not settings.kafka_bootstrap:
        return []
    return [
        InboundConsumer(settings, handler, counters),
        Relay(settings, app, SqlTracking(app.recorder), counters),
    ]


def run_worker(
    settings: Settings,
    app: Application[UUID],
    handler: Handler,
    stop: threading.Event,
    *,
    more: Sequence[Loop] = (),
    counters: Counters | None = None,
) -> None:
    """Kafka in and out (when configured) and any other loops, until `stop` is set."""
    counters = counters or Counters((*INBOUND_COUNTERS, *RELAY_COUNTERS))
    loops = [*kafka_loops(settings, app, handler, counters), *more]
    if not loops:
        msg = "the worker has nothing to run: set TRAJECT_KAFKA_BOOTSTRAP"
        raise ValueError(msg)
    port = settings.worker_metrics_port
    metrics = serve_metrics(counters, settings.host, port) if port else None
    try:
        run_loops(loops, stop)
    finally:
        if metrics is not None:
            metrics.shutdown()


def run_loops(loops: Sequence[Loop], stop: threading.Event) -> None:
    """Run each loop in a thread until `stop` is set or one of them ends."""

    def guarded(loop: Loop) -> None:
        try:
            loop.run(stop)
        finally:
            stop.set()  # a loop that ends on its own takes the worker down, to be restarted whole

    threads = [threading.Thread(target=guarded, args=(loop,), name=type(loop).__name__) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        while not stop.wait(1.0):  # a timed wait lets the main thread run its signal handlers
            pass
    finally:
        stop.set()
        for thread in threads:
            thread.join()
