"""The container's read of the mirror's position: shared for a moment, never less than asked for."""

from __future__ import annotations

import pytest

from infra.container import POSITION_FRESH_S, Container
from services.commands import StartJourney
from tests.conftest import days_ago
from tests.services.test_journeys import by


def test_a_position_read_is_shared_for_a_moment_but_a_reader_waiting_for_more_gets_more(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    container.start_projections()
    reads: list[int] = []
    real = container.watch.read_tracking

    def counted() -> tuple[int, str | None]:
        reads.append(1)
        return real()

    monkeypatch.setattr(container.watch, "read_tracking", counted)
    clock = [1000.0]
    monkeypatch.setattr("infra.position_watch.time.monotonic", lambda: clock[0])

    first = container.await_position(None, 5)
    assert container.await_position(None, 5) == first
    assert len(reads) == 1  # the second reader was answered from the first one's read

    written = container.journeys.start(StartJourney("GEM-1", "noord", 2, days_ago(3)), by(container))
    assert written.position is not None
    assert container.await_position(written.position, 30) >= written.position  # waits: never less
    assert container.await_position(None, 5) >= written.position  # and others see that too

    clock[0] += 2 * POSITION_FRESH_S  # the moment has passed: read again
    before = len(reads)
    container.await_position(None, 5)
    assert len(reads) == before + 1


def test_a_reader_asking_for_a_position_the_mirror_never_reaches_is_told(container: Container) -> None:
    from infra.container import ProjectionBehind

    with pytest.raises(ProjectionBehind) as behind:
        container.await_position(10**9, 0.2)
    assert behind.value.wanted == 10**9
    assert behind.value.reached < 10**9
