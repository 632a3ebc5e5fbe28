"""Old stored events in a real store (SQLite and PostgreSQL) read as current ones: over HTTP (the
history and the feed), by the mirror's live runner, and by a rebuild (in worker processes on
PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from infra.codec import OrjsonTranscoder, TypedMapper
from infra.container import Container
from infra.projection_runner import rebuild
from projections.feed import feed_item, plain
from tests.golden.fixtures import journey_of
from tests.projections.test_mirror_rebuild import folds
from tests.projections.test_mirror_view import counts

NOTE = "back on support after the move fell through"
Headers = Callable[..., dict[str, str]]


def test_old_stored_events_read_as_current_ones_in_a_real_store(
    container: Container, client: TestClient, token_for: Headers, backend: str
) -> None:
    old = journey_of("oldest")
    container.journeys.recorder.insert_events(old)
    journey_id = old[0].originator_id

    history = client.get(f"/v1/journeys/{journey_id}/history", headers=token_for("caseworker", "zuid"))
    assert history.status_code == 200, history.text
    assert [e["facts"] for e in history.json()["entries"] if e["kind"] == "Reopened"] == [{"note": NOTE}]

    feed = client.get("/v1/events", params={"after": 0, "limit": 100}, headers=token_for("reporting"))
    assert feed.status_code == 200, feed.text
    mapper = TypedMapper(OrjsonTranscoder())
    current = [feed_item(n, mapper.to_domain_event(s)) for n, s in enumerate(journey_of("newest"), 1)]
    expected = [plain(i) for i in current if i is not None]
    got = feed.json()["items"]
    assert [(i["type"], i["version"], i["facts"]) for i in got] == [
        (i["type"], i["version"], i["facts"]) for i in expected
    ]

    container.mirror.catch_up()
    live = counts(container.mirror.view), folds(container.mirror.view)
    assert live[0]
    rebuild(container.journeys, container.mirror.view, workers=2 if backend == "postgres" else None)
    assert (counts(container.mirror.view), folds(container.mirror.view)) == live
    assert NOTE not in str(live)
