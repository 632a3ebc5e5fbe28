"""The synthetic caseload is valid journey data, and loading it twice changes nothing."""

from __future__ import annotations

from infra.container import Container
from services.caseload import caseload


def test_the_demo_caseload_is_accepted_whole_and_is_idempotent(container: Container) -> None:
    items = [item for journey in caseload(journeys=40, today=container.today(), seed=3) for item in journey]
    written = container.journeys.record_batch(items)
    assert len(written) == len(items)
    assert not any(w.duplicate for w in written)
    head = container.head_position()
    assert head == len(items)
    again = container.journeys.record_batch(items)
    assert all(w.duplicate for w in again)
    assert [w.position for w in again] == [w.position for w in written]
    assert container.head_position() == head
    kinds = {type(item.command).__name__ for item in items}
    assert {"StartJourney", "RecordStep", "RecordWorkExit", "CloseJourney", "ChangeTeam"} <= kinds
