"""The inbound handler without a broker: bytes -> commands, one transaction per poll batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from api.ingest import Ingest
from infra.container import Container
from infra.kafka_inbound import Message
from services.commands import BatchItem
from services.journeys import Written
from tests.conftest import days_ago
from tests.infra.kafka_support import envelope, fact_event, journey_of, start_event


def messages(*values: bytes) -> list[Message]:
    return [Message("in", 0, offset, None, value, 0) for offset, value in enumerate(values)]


class CountingCalls:
    """Counts the application's record_batch calls: each is one transaction."""

    def __init__(self, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[int] = []
        original = container.journeys.record_batch

        def record_batch(items: Sequence[BatchItem], scope: Any = None) -> list[Written]:
            self.calls.append(len(items))
            return original(items, scope)

        monkeypatch.setattr(container.journeys, "record_batch", record_batch)


def test_a_clean_batch_is_stored_in_one_transaction(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = CountingCalls(container, monkeypatch)
    start = start_event()
    jid = journey_of(start)
    batch = messages(
        envelope(start, actor_id="cw-9"),
        envelope(fact_event("ladder_step", jid, to_rung=3, effective_date=days_ago(40).isoformat())),
        envelope(
            fact_event("social_reconnection", jid, kind="club", effective_date=days_ago(30).isoformat())
        ),
    )
    verdicts = Ingest(container.journeys, container.today)(batch)
    assert [v.outcome for v in verdicts] == ["stored"] * 3
    assert calls.calls == [3]
    history = container.journeys.history(jid)
    assert (history[0].channel, history[0].actor_id, history[0].actor_role) == ("kafka", "cw-9", "caseworker")
    assert [e.correlation_id for e in history] == ["in/0/0", "in/0/1", "in/0/2"]


def test_a_poison_message_is_judged_and_the_rest_stored_without_it(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = CountingCalls(container, monkeypatch)
    start = start_event()
    jid = journey_of(start)
    batch = messages(
        envelope(start),
        envelope(fact_event("ladder_step", jid, to_rung=3, effective_date=days_ago(40).isoformat())),
        envelope(fact_event("ladder_step", jid, to_rung=2, effective_date=days_ago(-3).isoformat())),
        b"{}",
        envelope(fact_event("closure", jid, reason="work", effective_date=days_ago(2).isoformat())),
    )
    verdicts = Ingest(container.journeys, container.today)(batch)
    assert [v.outcome for v in verdicts] == ["stored", "stored", "dead_lettered", "dead_lettered", "stored"]
    # The schema error never reaches the application; the items before the refused one are stored
    # as one batch, then those after it.
    assert calls.calls == [4, 2, 1]
    future = verdicts[2].reason or {}
    assert (future["status"], future["code"], future["field"]) == (
        422,
        "FutureDateError",
        "event.effective_date",
    )
    empty = verdicts[3].reason or {}
    assert (empty["status"], empty["title"]) == (422, "Invalid message")
    assert {p["name"] for p in empty["invalidParams"]} == {"actor_id", "actor_role", "event"}
    assert container.journeys.journey(jid).version == 3


def test_a_start_and_its_facts_in_one_batch_share_the_journey_and_a_repeat_is_a_duplicate(
    container: Container,
) -> None:
    start = start_event()
    jid = journey_of(start)
    step = envelope(fact_event("ladder_step", jid, to_rung=4, effective_date=days_ago(10).isoformat()))
    ingest = Ingest(container.journeys, container.today)
    assert [v.outcome for v in ingest(messages(envelope(start), step, step))] == [
        "stored",
        "stored",
        "duplicate",
    ]
    assert [v.outcome for v in ingest(messages(envelope(start), step))] == ["duplicate", "duplicate"]
    assert container.journeys.journey(jid).version == 2


def test_only_a_caseworker_may_be_named_as_the_recorder(container: Container) -> None:
    raw = json.dumps({"actor_id": "tl-1", "actor_role": "teamlead", "event": start_event()}).encode()
    (verdict,) = Ingest(container.journeys, container.today)(messages(raw))
    assert verdict.outcome == "dead_lettered"
    assert (verdict.reason or {})["field"] == "actor_role"


def test_invisible_characters_and_bsns_on_the_topic_are_dead_lettered_with_their_field(
    container: Container,
) -> None:
    start = start_event()
    jid = journey_of(start)
    step = fact_event("ladder_step", jid, to_rung=3, effective_date=days_ago(4).isoformat())
    batch = messages(
        envelope(start, actor_id="cw\x1b[2J"),
        envelope(start_event(source="ap\u2028p")),
        envelope(start_event(correlation_id="c\x00")),
        envelope(start_event(reference="BSN 111-222-333")),
        envelope(start_event(reference="GEM\u202e1")),
        envelope(fact_event("void", jid, voided_version=1, reason="his BSN is 111.222.333")),
        envelope(step, actor_id="111222333"),
    )
    verdicts = Ingest(container.journeys, container.today)(batch)
    reasons = [(v.outcome, (v.reason or {}).get("status"), (v.reason or {}).get("field")) for v in verdicts]
    assert reasons == [
        ("dead_lettered", 422, "actor_id"),
        ("dead_lettered", 422, "event.source"),
        ("dead_lettered", 422, "event.correlation_id"),
        ("dead_lettered", 422, "event.client_reference"),
        ("dead_lettered", 422, "event.client_reference"),
        ("dead_lettered", 422, "event.reason"),
        ("dead_lettered", 422, "actor_id"),
    ]
    assert container.head_position() == 0
