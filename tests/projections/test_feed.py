"""The feed mapping: what of each recorded event may leave the building."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from domain.journey import Journey, Provenance
from projections.feed import SHARED_FACTS, feed_item, notificatie, plain
from tests.conftest import days_ago

NEVER = {"client_ref", "actor_id", "actor_role", "source", "correlation_id", "event_id", "channel"}


def a_journey() -> Journey:
    by = Provenance(uuid4(), "cw-1", "caseworker", days_ago(0))
    journey = Journey.start(
        client_ref="pseudonym",
        municipality="Amersfoort",
        team="noord",
        initial_rung=2,
        effective_date=days_ago(30),
        by=by,
    )
    journey.close("moved", days_ago(20), Provenance(uuid4(), "cw-1", "caseworker", days_ago(0)))
    journey.reopen(
        "a note about her family", days_ago(10), Provenance(uuid4(), "cw-1", "caseworker", days_ago(0))
    )
    return journey


def test_every_journey_event_class_has_decided_what_it_shares() -> None:
    facts = {cls for cls in vars(Journey).values() if isinstance(cls, type) and issubclass(cls, Journey.Fact)}
    assert facts - {Journey.Fact} == set(SHARED_FACTS)


def test_nothing_personal_is_ever_shared() -> None:
    for cls, names in SHARED_FACTS.items():
        assert not set(names) & NEVER, cls
    assert SHARED_FACTS[Journey.Reopened] == ()  # free text
    assert SHARED_FACTS[Journey.EntryVoided] == ("voided_version",)  # its reason is free text


def test_the_plain_form_carries_journey_version_and_shared_facts_only() -> None:
    started, closed, reopened = (
        feed_item(n, e) for n, e in enumerate(a_journey().collect_events(), start=11)
    )
    assert started is not None
    assert closed is not None
    assert reopened is not None
    body = plain(started)
    assert body["facts"] == {"municipality": "Amersfoort", "team": "noord", "initial_rung": 2}
    assert (body["position"], body["version"], body["type"]) == (11, 1, "Started")
    assert body["effective_date"] == days_ago(30).isoformat()
    assert plain(closed)["facts"] == {"reason": "moved"}
    assert plain(reopened)["facts"] == {}
    assert "pseudonym" not in str([plain(started), plain(closed), plain(reopened)])


def test_the_notificaties_form_links_back_instead_of_carrying_data() -> None:
    item = feed_item(42, a_journey().collect_events()[1])
    assert item is not None
    body = notificatie(item, "https://traject.example/", "trajecten")
    assert body == {
        "kanaal": "trajecten",
        "hoofdObject": f"https://traject.example/v1/journeys/{item.journey_id}",
        "resource": "event",
        "resourceUrl": "https://traject.example/v1/events?after=41&limit=1",
        "actie": "create",
        "aanmaakdatum": item.recorded_at.isoformat(),
        "kenmerken": {"type": "Closed", "version": "2", "position": "42"},
    }
    assert item.recorded_at.tzinfo is not None
    assert item.recorded_at <= datetime.now(UTC)


def test_an_event_that_is_not_a_journey_fact_is_not_in_the_feed() -> None:
    assert feed_item(1, object()) is None
