"""K1: Kafka ingest. Produce N events to the inbound topic; the clock stops when all are stored.

A real broker (infra/kafka/kafka.sh) is started for the row, like PostgreSQL for the suite, and
stopped afterwards. The consumer is the service's own: `infra.kafka_inbound.InboundConsumer` with
`api.ingest.Ingest` as its handler, in a process of its own (`python -m bench.inbound consume`,
configured through TRAJECT_* like `traject worker`, but running the inbound consumer alone: no
outbound relay, no projection). The producer is the service's producer configuration
(`infra.kafka_clients.producer`: acks=all, idempotent) in the worker process.

The messages are the synthetic caseload (starts and facts about many journeys, keyed by journey
id), encoded outside the clock as a caseworker app would send them (docs/kafka.md). A run sends N
of them and polls the event store's head until it has grown by N.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bench.core import Ctx, Run, Sample
from bench.http import profile_from_here, profiled, report_profile, stop
from bench.project import container, server_env, settings
from domain.journey import journey_id_for
from services.caseload import caseload
from services.commands import (
    AssessSelfReliance,
    BatchItem,
    ChangeTeam,
    CloseJourney,
    RecordReconnection,
    RecordStep,
    RecordWorkEnded,
    RecordWorkExit,
    ReopenJourney,
    StartJourney,
    VoidEntry,
)

REPO = Path(__file__).resolve().parent.parent
KAFKA_SH = REPO / "infra" / "kafka" / "kafka.sh"
PARTITIONS = 3
STORED_TIMEOUT = 240.0  # seconds a run may take to see all its events stored

TYPES: dict[type, str] = {
    StartJourney: "start",
    RecordStep: "ladder_step",
    RecordWorkExit: "work_exit",
    RecordWorkEnded: "work_ended",
    RecordReconnection: "social_reconnection",
    AssessSelfReliance: "self_reliance_assessment",
    ChangeTeam: "team_change",
    CloseJourney: "closure",
    ReopenJourney: "reopening",
    VoidEntry: "void",
}


def message(item: BatchItem) -> tuple[bytes, bytes]:
    """An inbound message (key: the journey id) for one caseload item, as docs/kafka.md describes."""
    command = item.command
    assert is_dataclass(command)
    body: dict[str, Any] = {"type": TYPES[type(command)], "event_id": str(item.by.event_id)}
    body |= {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(command).items()}
    if isinstance(command, StartJourney):
        if not body.get("municipality"):
            body.pop("municipality", None)
        journey = journey_id_for(item.by.event_id)
    else:
        assert item.journey_id is not None
        journey = item.journey_id
        body["journey_id"] = str(journey)
    body["source"] = item.by.source
    body["correlation_id"] = item.by.correlation_id
    envelope = {"actor_id": item.by.actor_id, "actor_role": "caseworker", "event": body}
    return str(journey).encode(), json.dumps(envelope).encode()


def _kafka_sh(action: str, directory: Path) -> str:
    done = subprocess.run(
        ["bash", str(KAFKA_SH), action, str(directory)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-2:]
        msg = f"infra/kafka/kafka.sh {action} failed: {' | '.join(tail)}"
        raise RuntimeError(msg)
    return done.stdout.strip()


@contextmanager
def broker(ctx: Ctx) -> Iterator[str]:
    """A throwaway single-node broker for the row; stopped (and its data left to the scratch dir)."""
    directory = ctx.work_dir / "kafka"
    try:
        yield _kafka_sh("start", directory)
    finally:
        subprocess.run(["bash", str(KAFKA_SH), "stop", str(directory)], capture_output=True, check=False)


@contextmanager
def k1(ctx: Ctx) -> Iterator[Run]:
    """Produce N caseload events to the inbound topic; events/s from the first send to the last stored."""
    from kafka import KafkaAdminClient  # the Kafka client the service uses (kafka-python)

    from infra import kafka_clients

    per_run = ctx.scale(1_000, 20_000)
    suffix = uuid.uuid4().hex[:8]
    with broker(ctx) as bootstrap:
        overrides: dict[str, object] = {
            "kafka_bootstrap": bootstrap,
            "kafka_group": f"bench-{suffix}",
            "kafka_inbound_topic": f"bench.inbound-{suffix}",
            "kafka_dead_letter_topic": f"bench.dead-letter-{suffix}",
            "kafka_poll_timeout_ms": 100,
        }
        s = settings(ctx, **overrides)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="traject-bench")
        try:
            admin.create_topics(
                {
                    s.kafka_inbound_topic: {"num_partitions": PARTITIONS, "replication_factor": 1},
                    s.kafka_dead_letter_topic: {"num_partitions": 1, "replication_factor": 1},
                },
                wait_for_metadata=True,
            )
        finally:
            admin.close()
        with container(ctx, **overrides) as c:
            items = (i for journey in caseload(journeys=10**7, today=c.today(), seed=31) for i in journey)
            recorder = c.journeys.recorder

            def head() -> int:
                return int(recorder.max_notification_id() or 0)

            env = server_env(ctx) | {f"TRAJECT_{k.upper()}": str(v) for k, v in overrides.items()}
            log_path = ctx.work_dir / "consumer.log"
            cmd, profile = profiled(ctx, [sys.executable, "-m", "bench.inbound", "consume"], "consumer")
            with log_path.open("wb") as log:
                consumer = subprocess.Popen(
                    cmd,
                    cwd=REPO,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            producer = kafka_clients.producer(s, "bench")
            try:

                def send_and_wait(batch: list[tuple[bytes, bytes]]) -> dict[str, float]:
                    start_head = head()
                    t0 = time.perf_counter()
                    for key, value in batch:
                        producer.send(s.kafka_inbound_topic, key=key, value=value)
                    producer.flush(timeout=120)
                    produced = time.perf_counter() - t0
                    stored_by_then = head() - start_head
                    deadline = t0 + STORED_TIMEOUT
                    while head() < start_head + len(batch):
                        if consumer.poll() is not None:
                            msg = f"the consumer exited ({consumer.returncode}): {_tail(log_path)}"
                            raise RuntimeError(msg)
                        if time.perf_counter() > deadline:
                            msg = (
                                f"only {head() - start_head} of {len(batch)} events stored after "
                                f"{STORED_TIMEOUT:.0f} s (dead letters?): {_tail(log_path)}"
                            )
                            raise RuntimeError(msg)
                        time.sleep(0.005)
                    seconds = time.perf_counter() - t0
                    tail = len(batch) - stored_by_then
                    return {
                        "seconds": seconds,
                        "produce_s": produced,
                        "stored_when_produced": stored_by_then,
                        # the consumer alone, once the producer is done: what it stores per second
                        "tail_events_per_s": tail / (seconds - produced)
                        if tail and seconds > produced
                        else 0.0,
                    }

                # The consumer joins its group and stores a first few journeys before the clock runs.
                send_and_wait([message(next(items)) for _ in range(200)])
                profile_from_here(ctx, consumer.pid)
                ctx.notes.update(
                    {
                        "events_per_run": per_run,
                        "partitions": PARTITIONS,
                        "poll_records": s.kafka_poll_records,
                        "consumer": "InboundConsumer + Ingest, own process",
                    }
                )

                def run() -> Sample:
                    batch = [message(next(items)) for _ in range(per_run)]  # encoded outside the clock
                    timing = send_and_wait(batch)
                    return Sample(
                        per_run / timing["seconds"],
                        {
                            "produce_s": timing["produce_s"],
                            "stored_s": timing["seconds"],
                            "stored_when_produced": timing["stored_when_produced"],
                            "tail_events_per_s": timing["tail_events_per_s"],
                            "units": float(per_run),
                        },
                    )

                yield run
            finally:
                producer.close(timeout=10)
                stop(consumer)
                report_profile(profile, "the consumer process")


def _tail(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-3:])[:400] if lines else "(no output)"


def _consume() -> int:
    """The inbound consumer alone, on the service's container, until SIGTERM."""
    from api.ingest import Ingest
    from infra.container import build
    from infra.kafka_inbound import InboundConsumer
    from infra.runtime import tune_gc
    from infra.settings import Settings

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    tune_gc()  # as `traject worker` starts
    settings = Settings()
    c = build(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        InboundConsumer(settings, Ingest(c.journeys, c.today)).run(stop)
    finally:
        c.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.inbound")
    parser.add_argument("action", choices=["consume"])
    parser.parse_args(argv)
    return _consume()


if __name__ == "__main__":
    sys.exit(main())
