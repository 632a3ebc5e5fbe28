"""R3: the Kafka broker stopped mid-ingest and killed mid-relay, then started again.

`traject worker` runs as a process of its own on a fresh PostgreSQL schema and fresh topics. A
producer (a caseworker app) sends journeys' facts and a few messages that can never be stored; the
broker is stopped cleanly (SIGTERM) while the consumer is storing them and the producer is still
sending, and started again; then, while the relay works through a backlog, the broker is killed
(SIGKILL) and started again. At the end every fact the broker acknowledged to the producer must be
stored exactly once or be on the dead-letter topic with its reason, and every stored event must be
on the outbound topic, each journey's versions in order at their first arrival.

The helpers here (topics, the worker process, producing, reading topics, the checks) serve R4 too.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from reliability.recipe import Env, Recipe, Result

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "infra/kafka/kafka.sh"
SECRET = secrets.token_urlsafe(32)  # the stores these recipes make sign no token anyone keeps


# --- what a caseworker app sends -------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    key: bytes
    value: bytes
    event_id: str  # "" for a message that is not even JSON
    journey: UUID | None  # the journey a good fact belongs to
    bad: str = ""  # why it can never be stored; "" for a good fact


def journey_uuid(start_event_id: str) -> UUID:
    """The journey a start creates (docs/kafka.md: name-based, from the start's event id)."""
    return uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "urn:traject:journey"), start_event_id)


def envelope(event: dict[str, Any]) -> bytes:
    return json.dumps({"actor_id": "cw-r", "actor_role": "caseworker", "event": event}).encode()


def journey(n: int, steps: int) -> list[Message]:
    """A start and `steps` ladder steps about one journey, in recording order."""
    start_id = str(uuid.uuid4())
    jid = journey_uuid(start_id)
    key = str(jid).encode()
    day = date.today() - timedelta(days=200)
    start = {
        "type": "start",
        "event_id": start_id,
        "client_reference": f"REL-{n:05d}",
        "team": "noord",
        "initial_rung": 2,
        "effective_date": day.isoformat(),
    }
    out = [Message(key, envelope(start), start_id, jid)]
    for s in range(1, steps + 1):
        event: dict[str, object] = {
            "type": "ladder_step",
            "event_id": str(uuid.uuid4()),
            "journey_id": str(jid),
            "to_rung": 1 + (n + s) % 6,
            "effective_date": (day + timedelta(days=s)).isoformat(),
        }
        out.append(Message(key, envelope(event), str(event["event_id"]), jid))
    return out


def bad_messages(about: UUID, n: int) -> list[Message]:
    """Messages that can never be stored, one of each kind per call: each must be dead-lettered."""
    key = str(about).encode()
    day = (date.today() - timedelta(days=100)).isoformat()
    rung: dict[str, object] = {"type": "ladder_step", "event_id": str(uuid.uuid4()), "journey_id": str(about)}
    rung |= {"to_rung": 9, "effective_date": day}
    lost: dict[str, object] = {
        "type": "ladder_step",
        "event_id": str(uuid.uuid4()),
        "journey_id": str(uuid.uuid4()),
    }
    lost |= {"to_rung": 3, "effective_date": day}
    extra: dict[str, object] = {
        "type": "start",
        "event_id": str(uuid.uuid4()),
        "client_reference": f"BAD-{n}",
        "team": "noord",
    }
    extra |= {"initial_rung": 2, "effective_date": day, "shoe_size": 44}
    return [
        Message(key, f"not json {uuid.uuid4()} \xff".encode("latin-1"), "", None, "not JSON"),
        Message(key, envelope(rung), str(rung["event_id"]), None, "invalid rung"),
        Message(key, envelope(lost), str(lost["event_id"]), None, "journey not found"),
        Message(key, envelope(extra), str(extra["event_id"]), None, "unknown field"),
    ]


def workload(journeys: int, steps: int, bad_every: int) -> list[Message]:
    """Journeys' facts, each journey in order, journeys interleaved; a set of bad ones now and then."""
    per_journey = [journey(n, steps) for n in range(journeys)]
    out: list[Message] = []
    for i in range(steps + 1):
        for n, messages in enumerate(per_journey):
            out.append(messages[i])
            if i == 1 and n % bad_every == 0:
                out.extend(bad_messages(messages[0].journey or uuid.uuid4(), n))
    return out


# --- topics, the worker, the broker -----------------------------------------------------------------


@dataclass
class Topics:
    inbound: str
    dead_letter: str
    outbound: str
    group: str

    def settings(self) -> dict[str, str]:
        return {
            "TRAJECT_KAFKA_INBOUND_TOPIC": self.inbound,
            "TRAJECT_KAFKA_DEAD_LETTER_TOPIC": self.dead_letter,
            "TRAJECT_KAFKA_OUTBOUND_TOPIC": self.outbound,
            "TRAJECT_KAFKA_GROUP": self.group,
        }


@contextmanager
def admin(bootstrap: str) -> Iterator[Any]:
    client = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="traject-reliability")
    try:
        yield client
    finally:
        client.close()


@contextmanager
def fresh_topics(bootstrap: str, recipe: str) -> Iterator[Topics]:
    """Topics no one else uses (inbound and outbound with 3 partitions), deleted afterwards."""
    tag = f"{recipe.lower()}-{uuid.uuid4().hex[:8]}"
    topics = Topics(f"{tag}-in", f"{tag}-dlq", f"{tag}-out", f"{tag}-group")
    sizes = {topics.inbound: 3, topics.dead_letter: 1, topics.outbound: 3}
    with admin(bootstrap) as client:
        client.create_topics(
            {name: {"num_partitions": n, "replication_factor": 1} for name, n in sizes.items()},
            wait_for_metadata=True,
        )
    try:
        yield topics
    finally:
        with suppress(Exception), admin(bootstrap) as client:  # the broker was restarted meanwhile
            client.delete_topics(list(sizes))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Worker:
    """`traject worker` in a process of its own; its counters are read from its /metrics."""

    process: subprocess.Popen[bytes]
    metrics_port: int
    log: Path

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name.removeprefix("traject_")] = float(value)
        return values

    def ready(self) -> bool:
        try:
            self.metrics()
        except OSError:
            return False
        return True

    def metric(self, name: str) -> float:
        try:
            return self.metrics().get(name, 0.0)
        except OSError:
            return 0.0


def store_settings(env: Env, schema: str) -> dict[str, str]:
    return {
        "TRAJECT_STORE": "postgres",
        "TRAJECT_DATABASE_URL": env.pg_url,
        "TRAJECT_PG_SCHEMA": schema,
        "TRAJECT_PG_POOL_SIZE": "4",
        "TRAJECT_DATA_DIR": str(env.work / f"var-{schema}"),
        "TRAJECT_JWT_SECRET": SECRET,
        "TRAJECT_PSEUDONYM_KEY": "reliability-pseudonyms",
        # The producer starts journeys in noord; the backlog written straight into the store is the
        # demo caseload, in all of its teams.
        "TRAJECT_TEAMS": "noord:Team Noord,zuid:Team Zuid,centrum:Team Centrum",
    }


def worker_settings(env: Env, schema: str, topics: Topics) -> dict[str, str]:
    """The worker's environment: tuned, as the Kafka tests are, to notice and recover within seconds."""
    return (
        store_settings(env, schema)
        | topics.settings()
        | {
            "TRAJECT_KAFKA_BOOTSTRAP": env.kafka_bootstrap,
            "TRAJECT_KAFKA_OUTBOUND_FORM": "plain",
            "TRAJECT_KAFKA_POLL_TIMEOUT_MS": "100",
            "TRAJECT_KAFKA_POLL_RECORDS": "100",
            "TRAJECT_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "TRAJECT_KAFKA_RELAY_BATCH": "50",
            "TRAJECT_KAFKA_IDLE_MS": "50",
            "TRAJECT_KAFKA_MAX_BACKOFF_MS": "1000",
        }
    )


@contextmanager
def worker(env: Env, settings: dict[str, str], name: str) -> Iterator[Worker]:
    """A worker process until the block ends; then SIGTERM, and it must stop on its own."""
    port = free_port()
    log = env.work / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker"],
            cwd=ROOT,
            env=os.environ | settings | {"TRAJECT_WORKER_METRICS_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    w = Worker(process, port, log)
    try:
        wait_for(lambda: process.poll() is not None or w.ready(), 60, "the worker's metrics")
        if process.poll() is not None:
            msg = f"traject worker exited with {process.returncode}; see {log}"
            raise RuntimeError(msg)
        yield w
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until `condition` holds; answers the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            msg = f"timed out after {timeout} s waiting for {what} (last seen: {LAST_SEEN})"
            raise TimeoutError(msg)
        time.sleep(0.05)
    return time.monotonic() - started


def kafka_sh(env: Env, action: str) -> None:
    subprocess.run([str(KAFKA_SH), action, str(env.kafka_dir)], check=True, capture_output=True, timeout=180)


def broker_pid(env: Env) -> int:
    return int((env.kafka_dir / "pid").read_text().strip())


def kill_broker(env: Env) -> None:
    """SIGKILL the broker (as a crash or an OOM kill would), and wait until it is gone."""
    pid = broker_pid(env)
    os.kill(pid, signal.SIGKILL)

    def gone() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        return state == "Z"

    wait_for(gone, 30, "the killed broker to go")


@contextmanager
def broker_restored(env: Env) -> Iterator[None]:
    """Whatever happens in the block, the broker is running when it ends (other work follows)."""
    try:
        yield
    finally:
        kafka_sh(env, "start")


def producer(bootstrap: str) -> KafkaProducer:
    """A caseworker app's producer: idempotent, acks=all, retrying through a broker outage."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        reconnect_backoff_max_ms=1000,
        delivery_timeout_ms=300_000,
        request_timeout_ms=10_000,
        max_block_ms=120_000,
    )


@dataclass
class Sent:
    """What the producer sent, and which of it the broker acknowledged (the record to check against)."""

    acked: list[tuple[Message, int, int]] = field(default_factory=list)  # message, partition, offset
    failed: list[tuple[Message, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, p: KafkaProducer, topic: str, message: Message) -> None:
        def ok(meta: Any) -> None:
            with self.lock:
                self.acked.append((message, meta.partition, meta.offset))

        def failed(error: Exception) -> None:
            with self.lock:
                self.failed.append((message, repr(error)))

        p.send(topic, key=message.key, value=message.value).add_callback(ok).add_errback(failed)


# --- reading the outcome -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str, timeout: float = 120) -> list[Read]:
    """Every message now on the topic, partition by partition, in offset order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        found: list[Read] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                msg = f"could not read {topic} to its end"
                raise TimeoutError(msg)
            for records in consumer.poll(timeout_ms=200).values():
                found.extend(Read(r.partition, r.offset, r.key, r.value) for r in records)
        return sorted(found, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def group_lag(bootstrap: str, group: str, topic: str) -> int:
    """Messages on the topic the group has not committed past."""
    with admin(bootstrap) as client:
        committed = client.list_group_offsets(group)[group]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
    finally:
        consumer.close()
    return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())


@contextmanager
def store(env: Env, schema: str) -> Iterator[Any]:
    """The recipe's own view of the worker's store (a Container on the same schema)."""
    from infra.container import build
    from infra.settings import Settings

    values: dict[str, Any] = {
        k.removeprefix("TRAJECT_").lower(): v for k, v in store_settings(env, schema).items()
    }
    container = build(Settings(**values))
    try:
        yield container
    finally:
        container.close()


def caught_up(env: Env, topics: Topics, container: Any, group: str = "") -> bool:
    """The group committed past every inbound message, and the relay past the head of the store."""
    try:
        lag = group_lag(env.kafka_bootstrap, group or topics.group, topics.inbound)
    except Exception as error:  # noqa: BLE001 - the broker is still coming back: not caught up yet
        LAST_SEEN["lag"] = repr(error)
        return False
    relay, head = relay_position(container), container.head_position()
    LAST_SEEN.update(lag=lag, relay=relay, head=head)
    return lag == 0 and relay >= head


def relay_position(container: Any) -> int:
    """The position the relay recorded in the store: everything up to it the broker has acknowledged."""
    from infra.kafka_outbound import NAME
    from infra.tracking import SqlTracking

    return SqlTracking(container.journeys.recorder).position(NAME)


LAST_SEEN: dict[str, Any] = {}  # what caught_up saw last, for the message when it never holds


def check_stored(container: Any, expected: dict[UUID, list[str]], failures: list[str]) -> int:
    """Each journey holds each of its facts exactly once, and nothing else; answers the events held."""
    from services.journeys import JourneyNotFound

    held = 0
    for jid, event_ids in expected.items():
        try:
            history = container.journeys.history(jid)
        except JourneyNotFound:
            failures.append(f"journey {jid} was never stored ({len(event_ids)} facts acknowledged)")
            continue
        got = Counter(str(e.event_id) for e in history)
        held += len(history)
        doubled = [e for e, n in got.items() if n > 1]
        missing = [e for e in event_ids if e not in got]
        extra = [e for e in got if e not in event_ids]
        if doubled or missing or extra:
            failures.append(
                f"journey {jid}: {len(doubled)} facts stored twice, {len(missing)} acknowledged facts "
                f"missing, {len(extra)} facts nobody sent"
            )
    return held


def check_dead_letters(
    reads: list[Read], bad: list[tuple[Message, int, int]], inbound: str, failures: list[str]
) -> Counter[tuple[int, int]]:
    """Every bad message is on the dead-letter topic with a reason; answers the records per source offset."""
    per_source: Counter[tuple[int, int]] = Counter()
    originals: dict[tuple[int, int], bytes] = {}
    for r in reads:
        record = json.loads(r.value)
        source = record["source"]
        if source["topic"] != inbound or not record.get("reason", {}).get("status"):
            failures.append(f"dead letter at offset {r.offset} without its source or reason: {record}")
            continue
        where = (source["partition"], source["offset"])
        per_source[where] += 1
        originals[where] = base64.b64decode(record["original"])
    for message, partition, offset in bad:
        if originals.get((partition, offset)) != message.value:
            failures.append(
                f"a message that is {message.bad} (offset {partition}/{offset}) was not dead-lettered"
            )
    bad_offsets = {(p, o) for _, p, o in bad}
    for where in per_source.keys() - bad_offsets:
        failures.append(f"a message that was not meant to fail was dead-lettered: {where}")
    return per_source


def check_published(
    reads: list[Read], expected_versions: dict[str, int], failures: list[str]
) -> tuple[int, int]:
    """Every stored event published, each journey's versions in order at first arrival; answers
    (records, distinct events)."""
    arrivals: dict[str, list[int]] = {}
    for r in reads:
        body = json.loads(r.value)
        arrivals.setdefault(body["journey_id"], []).append(body["version"])
    distinct = 0
    for jid, versions in arrivals.items():
        first = list(dict.fromkeys(versions))
        distinct += len(first)
        if jid not in expected_versions:
            failures.append(f"published events of journey {jid}, which the store does not hold")
        elif first != list(range(1, expected_versions[jid] + 1)):
            failures.append(
                f"journey {jid}: published versions at first arrival {first[:20]}, "
                f"stored 1..{expected_versions[jid]}"
            )
    for jid in expected_versions.keys() - arrivals.keys():
        failures.append(f"journey {jid}: none of its {expected_versions[jid]} events was published")
    return len(reads), distinct


def stored_versions(container: Any, journeys: Iterable[UUID]) -> dict[str, int]:
    """How many events each journey holds: what the relay must have published of it."""
    from services.journeys import JourneyNotFound

    out: dict[str, int] = {}
    for jid in journeys:
        with suppress(JourneyNotFound):
            out[str(jid)] = len(container.journeys.history(jid))
    return out


# --- the recipe --------------------------------------------------------------------------------------


def run(env: Env) -> Result:
    result = Result("R3", holds=True)
    try:
        outages(env, result)
    except TimeoutError as never:  # the worker never caught up: something was lost or stuck
        result.failures.append(str(never))
    result.holds = not result.failures
    return result


def outages(env: Env, result: Result) -> None:
    figures = result.figures
    sizes = (30, 3, 10) if env.quick else (400, 5, 25)  # journeys, steps each, a set of bad ones every n
    outage_s = 3.0 if env.quick else 15.0
    backlog_journeys = 60 if env.quick else 300
    messages = workload(*sizes)
    # The quick run has one outage: the broker killed mid-ingest and mid-relay at once (each restart
    # of the broker costs tens of seconds); the full run stops it cleanly mid-ingest, then kills it
    # mid-relay.
    half = len(messages) * 2 // 3
    plan = [("kill", messages)] if env.quick else [("stop", messages[:half]), ("kill", messages[half:])]
    schema = env.schema()
    sent = Sent()
    backlog: dict[UUID, int] = {}
    with (
        broker_restored(env),
        fresh_topics(env.kafka_bootstrap, "R3") as topics,
        store(env, schema) as container,
        worker(env, worker_settings(env, schema, topics), "r3-worker") as w,
    ):
        p = producer(env.kafka_bootstrap)
        for n, (how, batch) in enumerate(plan, 1):
            wait_for(lambda: caught_up(env, topics, container), 300, f"a calm start of outage {n}")
            stored, published = w.metric("inbound_stored_total"), relay_position(container)
            pace = (outage_s + 4) / len(batch)  # the sending spans the outage: the producer carries it over
            sender = threading.Thread(target=send_paced, args=(sent, p, topics.inbound, batch, pace))
            sender.start()
            wait_for(lambda: w.metric("inbound_stored_total") > stored, 60, "the consumer to store")  # noqa: B023
            if how == "kill":
                backlog |= record_backlog(container, backlog_journeys, seed=n)
                wait_for(lambda: relay_position(container) > published, 60, "the relay to publish")  # noqa: B023
            figures[f"outage{n}_relay_backlog"] = container.head_position() - relay_position(container)
            began = time.monotonic()
            if how == "kill":
                kill_broker(env)
            else:
                kafka_sh(env, "stop")
            figures[f"outage{n}_{how}_seconds"] = round(time.monotonic() - began, 1)
            time.sleep(outage_s)
            kafka_sh(env, "start")
            figures[f"outage{n}_seconds"] = round(time.monotonic() - began, 1)
            restarted = time.monotonic()
            sender.join()
            p.flush(timeout=300)
        p.close(timeout=30)
        wait_for(lambda: caught_up(env, topics, container), 300, "catch-up after the last outage")
        figures["catch_up_seconds"] = round(time.monotonic() - restarted, 1)
        counters = w.metrics()
        verify(env, topics, container, sent=sent, backlog=backlog, result=result)
    for name in ("inbound_retries_total", "inbound_commit_failures_total", "relay_retries_total"):
        figures[f"worker_{name}"] = int(counters.get(name, 0))


def send_paced(sent: Sent, p: KafkaProducer, topic: str, batch: list[Message], pause: float) -> None:
    for m in batch:
        sent.send(p, topic, m)
        time.sleep(pause)


def record_backlog(container: Any, journeys: int, seed: int) -> dict[UUID, int]:
    """Journeys recorded straight into the store (as over HTTP): a backlog for the relay to publish."""
    from services.caseload import caseload

    batch = [
        item for items in caseload(journeys=journeys, today=container.today(), seed=seed) for item in items
    ]
    written = container.journeys.record_batch(batch)
    counts: Counter[UUID] = Counter(w.journey_id for w in written)
    return dict(counts)


def verify(
    env: Env, topics: Topics, container: Any, *, sent: Sent, backlog: dict[UUID, int], result: Result
) -> None:
    figures, failures = result.figures, result.failures
    good = [(m, p, o) for m, p, o in sent.acked if not m.bad]
    bad = [(m, p, o) for m, p, o in sent.acked if m.bad]
    for m, error in sent.failed:
        failures.append(f"the broker never acknowledged a message ({m.bad or 'good'}): {error}")
    expected: dict[UUID, list[str]] = {}
    for m, _, _ in good:
        assert m.journey is not None
        expected.setdefault(m.journey, []).append(m.event_id)
    figures["produced"] = len(sent.acked)
    figures["produced_bad"] = len(bad)
    figures["stored"] = check_stored(container, expected, failures)
    per_source = check_dead_letters(
        read_topic(env.kafka_bootstrap, topics.dead_letter), bad, topics.inbound, failures
    )
    figures["dead_lettered"] = len(per_source)
    figures["dead_letter_records"] = sum(per_source.values())
    versions = stored_versions(container, expected) | {str(j): n for j, n in backlog.items()}
    records, distinct = check_published(read_topic(env.kafka_bootstrap, topics.outbound), versions, failures)
    figures["backlog_events"] = sum(backlog.values())
    figures["published_records"] = records
    figures["published_events"] = distinct
    figures["published_repeats"] = records - distinct


RECIPE = Recipe(
    name="R3",
    fault="the Kafka broker stopped (SIGTERM) mid-ingest while the producer keeps sending, then killed "
    "(SIGKILL) while the relay publishes a backlog; started again each time",
    must_hold="every fact the broker acknowledged to the producer is stored exactly once, or is on the "
    "dead-letter topic with its reason; every stored event is published, each journey's versions in "
    "order at their first arrival",
    run=run,
    proves="the worker rides out a broker outage without losing, doubling or reordering: the consumer "
    "rewinds and retries uncommitted batches, the idempotent store turns redeliveries into duplicates, "
    "and the relay records its position only after the broker acknowledged, so a kill mid-relay "
    "repeats (never skips) what was in flight",
    does_not_prove="anything about a cluster: one broker node, so no leader election, no replica lag, no "
    "unclean leader election; no network partition (the broker process goes away, the network does not "
    "split, hang or drop packets); a broker that loses data it acknowledged (its disk is trusted); one "
    "worker process (no group rebalance mid-outage); PostgreSQL stays up; outages longer than the "
    "producer's delivery timeout (300 s here), after which a caseworker app must send again",
)
