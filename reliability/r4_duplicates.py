"""R4: every inbound message delivered twice, and more.

A caseworker app's producer that retries, a consumer that restarts before its commit, and an
operator who replays the topic all deliver a message again. Here every message reaches the worker
at least four times: on the topic twice in the first round (the second copy right behind the first,
a few messages later, or after everything else), once more after the worker was stopped and started
again, and then the whole topic is read again by a new consumer group. Among the messages are ones
that can never be stored, and one that reuses a stored fact's event id for another fact.

Nothing may be stored twice: the store holds each fact once (by its event id), the consumers'
`stored` counters add up to the facts, the relay publishes each stored event once per journey
version; every copy of a bad message is dead-lettered with its reason, at most once per time the
message was read (docs/kafka.md: "a redelivered batch can dead-letter a message twice; deduplicate
on `source`").
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from uuid import UUID

from reliability.r3_kafka import (
    Message,
    Sent,
    Topics,
    caught_up,
    check_dead_letters,
    check_published,
    check_stored,
    envelope,
    fresh_topics,
    producer,
    read_topic,
    store,
    stored_versions,
    wait_for,
    worker,
    worker_settings,
    workload,
)
from reliability.recipe import Env, Recipe, Result

COUNTED: tuple[str, ...] = ("inbound_consumed_total", "inbound_stored_total", "inbound_duplicate_total")
COUNTED += ("inbound_dead_lettered_total", "inbound_retries_total", "inbound_commit_failures_total")


def conflicting(original: Message) -> Message:
    """The same event id as a good ladder step, with another rung: a conflict, never a second fact."""
    event = json.loads(original.value)["event"]
    event["to_rung"] = 1 + event["to_rung"] % 6
    return Message(original.key, envelope(event), original.event_id, None, "event id reused for another fact")


def twice(messages: list[Message]) -> list[Message]:
    """Each message twice: right behind itself, a few messages later, or after all the others."""
    out: list[Message] = []
    later: dict[int, list[Message]] = {}
    last: list[Message] = []
    for i, m in enumerate(messages):
        out.append(m)
        out.extend(later.pop(i, []))
        if i % 3 == 0:
            out.append(m)
        elif i % 3 == 1:
            later.setdefault(i + 7, []).append(m)
        else:
            last.append(m)
    for rest in later.values():
        out.extend(rest)
    return out + last


def run(env: Env) -> Result:
    result = Result("R4", holds=True)
    try:
        deliver(env, result)
    except TimeoutError as never:  # the worker never caught up: a message is stuck
        result.failures.append(str(never))
    result.holds = not result.failures
    return result


def deliver(env: Env, result: Result) -> None:
    figures = result.figures
    messages = workload(*((20, 3, 5) if env.quick else (300, 5, 20)))
    step = next(m for m in messages if m.journey is not None and b'"ladder_step"' in m.value)
    messages.append(conflicting(step))
    schema = env.schema()
    sent = Sent()
    counts: Counter[str] = Counter()
    with fresh_topics(env.kafka_bootstrap, "R4") as topics, store(env, schema) as container:
        settings = worker_settings(env, schema, topics)
        again = Topics(topics.inbound, topics.dead_letter, topics.outbound, f"{topics.group}-again")
        rounds: list[tuple[str, list[Message], dict[str, str]]] = [
            ("each message twice, in three orders", twice(messages), settings),
            ("every message once more, after a worker restart", messages, settings),
            ("the whole topic again, read by a new consumer group", [], settings | again.settings()),
        ]
        for n, (what, deliveries, values) in enumerate(rounds, 1):
            if deliveries:
                p = producer(env.kafka_bootstrap)
                for m in deliveries:
                    sent.send(p, topics.inbound, m)
                p.flush(timeout=120)
                p.close(timeout=30)
            with worker(env, values, f"r4-worker-{n}") as w:
                group = values["TRAJECT_KAFKA_GROUP"]
                wait_for(lambda: caught_up(env, topics, container, group), 300, what)  # noqa: B023
                counters = w.metrics()
            counts.update({k: int(counters.get(k, 0)) for k in COUNTED})
            figures[f"round{n}_delivered"] = int(counters.get("inbound_consumed_total", 0))
        verify(env, topics, container, sent=sent, counts=counts, result=result)


def verify(
    env: Env, topics: Topics, container: Any, *, sent: Sent, counts: Counter[str], result: Result
) -> None:
    figures, failures = result.figures, result.failures
    for m, error in sent.failed:
        failures.append(f"the broker never acknowledged a message ({m.bad or 'good'}): {error}")
    good = [(m, p, o) for m, p, o in sent.acked if not m.bad]
    bad = [(m, p, o) for m, p, o in sent.acked if m.bad]
    expected: dict[UUID, list[str]] = {}
    for m, _, _ in good:
        assert m.journey is not None
        if m.event_id not in expected.setdefault(m.journey, []):
            expected[m.journey].append(m.event_id)
    facts = sum(len(ids) for ids in expected.values())
    figures["facts"] = facts
    figures["messages_on_topic"] = len(sent.acked)
    figures["messages_read"] = counts["inbound_consumed_total"]
    figures["stored"] = check_stored(container, expected, failures)
    held = events_in_store(container)
    figures["events_in_store"] = held
    if held != facts:
        failures.append(f"the store holds {held} events for {facts} distinct facts")
    if counts["inbound_stored_total"] != facts:
        failures.append(f"the consumers counted {counts['inbound_stored_total']} stored for {facts} facts")
    figures["reported_duplicate"] = counts["inbound_duplicate_total"]
    per_source = check_dead_letters(
        read_topic(env.kafka_bootstrap, topics.dead_letter), bad, topics.inbound, failures
    )
    figures["bad_messages_on_topic"] = len(bad)
    figures["dead_letter_records"] = sum(per_source.values())
    figures["dead_letter_records_per_message_max"] = max(per_source.values(), default=0)
    # Two groups read every offset once each; a batch retried or whose commit was lost adds a reading.
    allowed = 2 + counts["inbound_retries_total"] + counts["inbound_commit_failures_total"]
    for where, n in per_source.items():
        if n > allowed:
            failures.append(f"offset {where} dead-lettered {n} times; it was read at most {allowed} times")
    versions = stored_versions(container, expected)
    records, distinct = check_published(read_topic(env.kafka_bootstrap, topics.outbound), versions, failures)
    figures["published_records"] = records
    figures["published_repeats"] = records - distinct
    if distinct != facts:
        failures.append(f"the relay published {distinct} distinct events for {facts} facts")


def events_in_store(container: Any) -> int:
    """Every event in the store's log, counted page by page."""
    recorder = container.journeys.recorder
    count, start = 0, 1
    while page := recorder.select_notifications(start=start, limit=1000):
        count += len(page)
        start = page[-1].id + 1
    return count


RECIPE = Recipe(
    name="R4",
    fault="every inbound message delivered again and again: twice on the topic (back to back, "
    "interleaved, after newer facts of the same journey), once more after the worker restarted, and "
    "the whole topic read again by a new consumer group; bad messages and a reused event id among them",
    must_hold="nothing stored twice (the store, the consumers' counters and the outbound topic each hold "
    "every fact once); every copy of a bad message dead-lettered with its reason, at most once per reading",
    run=run,
    proves="the event id is an idempotency key that holds across every way Kafka repeats a message: "
    "within a batch, across batches, across a consumer restart and across consumer groups; a reused "
    "event id with other facts is refused (409), not stored and not silently dropped",
    does_not_prove="duplicates under a new event id (a client that mints a new id for the same fact "
    "records it twice: no store can tell); copies read at the same moment by two worker processes (one "
    "worker reads at a time here; a group gives each partition to one of them); exactly-once dead letters "
    "(a bad message read again is dead-lettered again, by design: readers deduplicate on `source`)",
)
