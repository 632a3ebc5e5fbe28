"""A relay in a process of its own, for the test that kills it: `python -m tests.infra.relay_process`."""

from __future__ import annotations

import threading

from infra.container import build
from infra.kafka_outbound import Relay
from infra.settings import Settings
from infra.tracking import SqlTracking

if __name__ == "__main__":
    container = build(Settings())
    relay = Relay(container.settings, container.journeys, SqlTracking(container.journeys.recorder))
    relay.run(threading.Event())  # until killed
