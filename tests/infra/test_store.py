"""The store's setup: processes that start together on a fresh database all come up."""

from __future__ import annotations

import threading
from collections.abc import Callable

from infra.container import Container, build
from infra.settings import Settings
from services.commands import StartJourney
from tests.conftest import days_ago
from tests.services.test_journeys import by


def test_processes_starting_together_on_a_fresh_store_all_come_up(
    make_settings: Callable[..., Settings],
) -> None:
    """API processes and a worker started at once each create what is missing; on PostgreSQL
    they take turns (an advisory lock), where they would otherwise race on the same CREATEs."""
    settings = make_settings()
    starters = 6
    gate = threading.Barrier(starters)
    built: list[Container] = []
    failures: list[BaseException] = []

    def start() -> None:
        gate.wait()
        try:
            built.append(build(settings))
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            failures.append(e)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert len(built) == starters
    written = built[0].journeys.start(StartJourney("GEM-1", "noord", 2, days_ago(3)), by(built[0]))
    assert all(c.journeys.journey(written.journey_id).version == 1 for c in built)
    for c in built:
        c.close()
