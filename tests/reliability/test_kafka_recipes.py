"""R3 and R4 in their quick form: the worker against a real broker and PostgreSQL, faults injected."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter

import pytest

from reliability import r3_kafka, r4_duplicates
from reliability.recipe import Env


@pytest.mark.kafka
@pytest.mark.postgres
def test_a_broker_killed_mid_ingest_and_mid_relay_loses_doubles_and_reorders_nothing(
    quick_recipe_env: Env,
) -> None:
    result = r3_kafka.RECIPE.run(quick_recipe_env)
    assert result.holds, "\n".join(result.failures)
    assert result.figures["stored"] > 0
    assert result.figures["dead_lettered"] == result.figures["produced_bad"] > 0


@pytest.mark.kafka
@pytest.mark.postgres
def test_messages_delivered_again_and_again_are_stored_once(quick_recipe_env: Env) -> None:
    result = r4_duplicates.RECIPE.run(quick_recipe_env)
    assert result.holds, "\n".join(result.failures)
    assert result.figures["messages_read"] >= 4 * result.figures["facts"] > 0


def published(journey: str, *versions: int) -> list[r3_kafka.Read]:
    return [
        r3_kafka.Read(0, n, journey.encode(), json.dumps({"journey_id": journey, "version": v}).encode())
        for n, v in enumerate(versions)
    ]


def test_the_publication_check_passes_repeats_and_catches_gaps_reorders_and_silence() -> None:
    failures: list[str] = []
    assert r3_kafka.check_published(published("a", 1, 2, 1, 2, 3), {"a": 3}, failures) == (5, 3)
    assert failures == []  # a repeat after a kill is allowed: readers drop versions they have seen
    r3_kafka.check_published(published("a", 1, 3) + published("b", 2, 1), {"a": 3, "b": 2, "c": 1}, failures)
    assert len(failures) == 3  # a gap in a, b out of order, c never published


def test_the_dead_letter_check_catches_a_bad_message_missing_and_a_good_one_dead_lettered() -> None:
    bad = r3_kafka.bad_messages(uuid.uuid4(), 1)
    on_topic = [(m, 0, n) for n, m in enumerate(bad)]
    letters = [r3_kafka.Read(0, n, m.key, dead_letter("in", n, m.value)) for n, m in enumerate(bad[:-1])] + [
        r3_kafka.Read(0, 9, b"k", dead_letter("in", 7, b"good"))
    ]
    failures: list[str] = []
    per_source = r3_kafka.check_dead_letters(letters, on_topic, "in", failures)
    assert sum(per_source.values()) == len(bad)
    assert len(failures) == 2  # the last bad message is missing; offset 7 was good


def dead_letter(topic: str, offset: int, original: bytes) -> bytes:
    reason = {"status": 422, "title": "Invalid"}
    source = {"topic": topic, "partition": 0, "offset": offset}
    return json.dumps(
        {"reason": reason, "source": source, "original": base64.b64encode(original).decode()}
    ).encode()


def test_the_double_delivery_plan_sends_every_message_twice_and_keeps_first_copies_in_order() -> None:
    messages = r3_kafka.workload(journeys=5, steps=3, bad_every=2)
    plan = r4_duplicates.twice(messages)
    assert Counter(plan) == Counter(messages * 2)
    firsts = list(dict.fromkeys(plan))
    assert firsts == messages
