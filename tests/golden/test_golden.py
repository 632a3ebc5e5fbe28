"""Events readable forever: every stored form an event class ever had still reads, through every
read path, as the current class (docs/architecture.md, "Events readable forever").

The fixtures under tests/golden/events are the bytes the code of their day stored; they are never
rewritten (tests/golden/make_fixtures.py adds a fixture when a class gets a new version).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from domain.errors import IdempotencyConflict
from domain.journey import Journey, Provenance
from infra.codec import OrjsonTranscoder, TypedMapper, entry_of, upcast
from infra.event_log import recorded_after
from infra.projection_runner import _fold_part
from projections import mirror
from projections.feed import feed_item, plain
from services.commands import ReopenJourney
from services.journeys import JourneysApp
from tests.golden.fixtures import MANIFEST, event_classes, fixtures, journey_of

MAPPER = TypedMapper(OrjsonTranscoder())
NOTE = "back on support after the move fell through"


@pytest.fixture
def app(in_memory: Callable[[], JourneysApp]) -> JourneysApp:
    return in_memory()


def stored_in(app: JourneysApp, events: list[StoredEvent]) -> UUID:
    app.recorder.insert_events(events)
    return UUID(str(events[0].originator_id))


def test_no_fixture_was_rewritten_or_removed() -> None:
    manifest: dict[str, str] = json.loads(MANIFEST.read_text())
    on_disk = {f.path.name: f for f in fixtures()}
    assert set(on_disk) == set(manifest)
    for name, digest in manifest.items():
        fixture = on_disk[name]
        assert hashlib.sha256(fixture.path.read_bytes()).hexdigest() == digest, name
        assert hashlib.sha256(fixture.stored.state).hexdigest() == fixture.data["state_sha256"], name
        assert fixture.data["class_version"] == fixture.class_version, name


def test_every_event_class_has_a_fixture_at_every_version_up_to_its_current_one() -> None:
    held = {(f.kind, f.class_version) for f in fixtures()}
    wanted = {
        (cls.__name__, v) for cls in event_classes() for v in range(1, getattr(cls, "class_version", 1) + 1)
    }
    assert len(event_classes()) == 10
    assert wanted <= held, f"run tests/golden/make_fixtures.py for {sorted(wanted - held)}"
    assert {kind for kind, _ in held} <= {cls.__name__ for cls in event_classes()}


@pytest.mark.parametrize("fixture", fixtures(), ids=lambda f: f.path.name)
def test_every_fixture_reads_as_its_current_class_on_every_read_path(fixture: Any) -> None:
    stored = fixture.stored
    event = MAPPER.to_domain_event(stored)
    cls = type(event)
    assert cls.__name__ == fixture.kind
    assert set(vars(event)) == {f.name for f in fields(cls)}  # the current fields, nothing left over
    entry = event.entry()
    assert entry_of(stored.topic, stored.originator_version, stored.state) == entry  # rebuild
    assert MAPPER.to_entry(stored) == (entry, event.timestamp)  # audit replay
    item = feed_item(stored.originator_version, event)  # GET /v1/events and the Kafka relay
    assert item is not None
    assert plain(item)["type"] == fixture.kind
    restored = MAPPER.to_domain_event(MAPPER.to_stored_event(event))  # stored again: current version
    assert vars(restored) == vars(event)


def test_a_reopening_stored_at_version_1_reads_with_its_note() -> None:
    (v1,) = (f for f in fixtures() if (f.kind, f.class_version) == ("Reopened", 1))
    assert b'"reason"' in v1.stored.state
    event = MAPPER.to_domain_event(v1.stored)
    assert isinstance(event, Journey.Reopened)
    assert event.note == NOTE
    assert event.entry().facts == {"note": NOTE}
    assert entry_of(v1.stored.topic, 9, v1.stored.state).facts == {"note": NOTE}


def test_a_state_newer_than_the_code_is_refused_not_misread() -> None:
    with pytest.raises(ValueError, match="stored at version 3"):
        upcast(Journey.Reopened, {"class_version": 3, "note": "x"})


def test_a_journey_of_old_events_reads_as_the_same_journey_of_current_ones(app: JourneysApp) -> None:
    old, new = journey_of("oldest"), journey_of("newest")
    assert [s.state for s in old] != [s.state for s in new]  # one class did change
    journey_id = stored_in(app, old)
    journey = app.journey(journey_id)
    assert (journey.version, journey.team, journey.is_open, journey.rung) == (10, "zuid", True, 3)
    assert [MAPPER.to_domain_event(s).entry() for s in new] == list(journey.entries.values())
    reopened = next(h for h in app.history(journey_id) if h.kind == "Reopened")
    assert reopened.facts == {"note": NOTE}


def test_an_audit_replay_of_old_events_reads_them_upcast(app: JourneysApp) -> None:
    journey_id = stored_in(app, journey_of("oldest"))
    before_void = datetime(2025, 6, 30, 9, 9, 30, tzinfo=UTC)  # the reopening known, the void not yet
    state = app.state(journey_id, date(2025, 6, 1), known_at=before_void)
    assert (state.version, state.state.is_open) == (9, True)
    then = app.journey(journey_id, known_at=before_void)
    assert then.entries[9].facts == {"note": NOTE}
    assert [h.facts for h in app.history(journey_id, known_at=before_void) if h.kind == "Reopened"] == [
        {"note": NOTE}
    ]


def test_the_feed_reads_old_events_as_current_ones(in_memory: Callable[[], JourneysApp]) -> None:
    def feed(stored: list[StoredEvent]) -> list[dict[str, Any]]:  # as GET /v1/events and the relay read
        app = in_memory()
        stored_in(app, stored)
        return [plain(i) for r in recorded_after(app, 0, 100) if (i := feed_item(r.position, r.event))]

    old, new = feed(journey_of("oldest")), feed(journey_of("newest"))
    assert old == new
    assert len(old) == 10


def test_the_mirror_folds_old_events_as_current_ones_live_and_in_a_rebuild() -> None:
    def live(stored: list[StoredEvent]) -> tuple[Any, Any]:  # as MirrorRunner._step reads a batch
        delta, touched = mirror.process([MAPPER.to_domain_event(s) for s in stored], {})
        return delta, {str(j): f.dump() for j, f in touched.items()}

    def rebuilt(stored: list[StoredEvent]) -> tuple[Any, Any]:  # as a rebuild (or its workers) reads
        rows = [
            (str(s.originator_id), s.originator_version, s.topic, s.state, n) for n, s in enumerate(stored)
        ]
        kept: list[tuple[str, str]] = []
        tally, _ = _fold_part([rows], kept.extend)
        return tally.counts(), dict(kept)

    old, new = journey_of("oldest"), journey_of("newest")
    assert live(old) == live(new)
    assert rebuilt(old) == rebuilt(new)
    assert NOTE not in str(live(old)) + str(rebuilt(old))  # free text stays out of the view


def test_a_reopening_stored_at_version_1_and_retried_now_is_the_same_fact(app: JourneysApp) -> None:
    journey_id = stored_in(app, journey_of("oldest"))
    retry = Provenance(UUID(int=0x601DE0 + 9), "cw-golden", "caseworker", date(2025, 6, 30), "golden")
    written = app.record(journey_id, ReopenJourney(date(2025, 5, 19), NOTE), retry)
    assert (written.version, written.duplicate) == (9, True)
    with pytest.raises(IdempotencyConflict):
        app.record(journey_id, ReopenJourney(date(2025, 5, 19), "another note"), retry)
