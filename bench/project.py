"""Project rows: traject itself, built exactly as the service builds it (infra.container.build).

Each row is a small context manager: set up outside the clock, yield one timed run, tear down.
Add a row by writing one here and registering it in bench/rows.py.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import count, islice
from typing import Any
from uuid import UUID, uuid4

from api.auth import TokenCodec
from bench.core import Ctx, Run, Sample, for_ops, for_seconds, ms_per_op, percentile
from bench.http import REPO, free_port, profile_from_here, server, stop, wrk
from domain.journey import Provenance, journey_id_for
from domain.vocabulary import ZRM_DOMAINS
from infra.container import Container, build
from infra.settings import Settings
from services.caseload import caseload
from services.commands import (
    AssessSelfReliance,
    BatchItem,
    FactCommand,
    RecordReconnection,
    RecordStep,
    StartJourney,
)
from services.journeys import JourneysApp

JWT_SECRET = "bench-jwt-secret-of-sufficient-length-0123456789"
PSEUDONYM_KEY = "bench-pseudonym-key"
TEAM = "noord"
TEAMS = "noord,zuid,centrum"  # the registered teams: the caseload's (services/caseload.py)
BATCH = 500


def settings(ctx: Ctx, **overrides: object) -> Settings:
    """The service's settings on this row's PostgreSQL schema (what TRAJECT_* would say)."""
    values: dict[str, object] = {
        "store": "postgres",
        "database_url": ctx.dsn,
        "pg_schema": ctx.schema,
        "data_dir": ctx.work_dir / "var",
        "jwt_secret": JWT_SECRET,
        "pseudonym_key": PSEUDONYM_KEY,
        "teams": TEAMS,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@contextmanager
def container(ctx: Ctx, **overrides: object) -> Iterator[Container]:
    c = build(settings(ctx, **overrides))
    try:
        yield c
    finally:
        c.close()


def by(today: date) -> Provenance:
    """A caseworker recording over HTTP, with a fresh client event id."""
    return Provenance(uuid4(), "bench-cw", "caseworker", today, "bench", "http", "")


def start_journeys(app: JourneysApp, today: date, journeys: int, events_each: int) -> list[UUID]:
    """Store `journeys` journeys of `events_each` events (a start, then ladder steps), 500 items a batch."""
    started = today - timedelta(days=400)
    items: list[BatchItem] = []
    ids: list[UUID] = []
    for n in range(journeys):
        start = by(today)
        jid = journey_id_for(start.event_id)
        ids.append(jid)
        items.append(BatchItem(StartJourney(f"BENCH-{n:07d}", TEAM, 2, started), start))
        items.extend(
            BatchItem(RecordStep(2 + k % 3, started + timedelta(days=10 * (k + 1))), by(today), jid)
            for k in range(events_each - 1)
        )
    for i in range(0, len(items), BATCH):
        app.record_batch(items[i : i + BATCH])
    return ids


def warm(app: JourneysApp, ids: list[UUID]) -> None:
    """Load every journey once, so the runs see the aggregate cache as a long-running process has it."""
    for jid in ids:
        app.journey(jid)


# --- W1: one event through the service ----------------------------------------------------------


@contextmanager
def w1(ctx: Ctx) -> Iterator[Run]:
    """record() of one ladder step on an existing journey (10 prior events): load, act, save."""
    with container(ctx) as c:
        today = c.today()
        ids = start_journeys(c.journeys, today, ctx.scale(300, 2000), 10)
        warm(c.journeys, ids)
        ctx.notes.update({"journeys": len(ids), "prior_events": 10})
        effective = today - timedelta(days=10)
        turn = count()

        def one() -> int:
            n = next(turn)
            c.journeys.record(ids[n % len(ids)], RecordStep(1 + n % 6, effective), by(today))
            return 1

        yield lambda: for_seconds(ctx.seconds, one)


# --- W1c: 16 concurrent writers ------------------------------------------------------------------

WRITERS = 16


@contextmanager
def w1c(ctx: Ctx) -> Iterator[Run]:
    """16 threads, each doing W1's record() on journeys of its own (no conflicts), one process."""
    with container(ctx, pg_pool_size=WRITERS) as c:
        today = c.today()
        ids = start_journeys(c.journeys, today, ctx.scale(480, 4000), 10)
        warm(c.journeys, ids)
        ctx.notes.update({"journeys": len(ids), "prior_events": 10, "writers": WRITERS})
        effective = today - timedelta(days=10)
        shards = [ids[w::WRITERS] for w in range(WRITERS)]

        def run() -> Sample:
            latencies: list[list[float]] = [[] for _ in range(WRITERS)]
            errors: list[Exception] = []
            gate = threading.Barrier(WRITERS + 1)
            stop_at = [0.0]

            def writer(w: int) -> None:
                mine, seen = shards[w], latencies[w]
                gate.wait()
                n = 0
                try:
                    while time.perf_counter() < stop_at[0]:
                        t0 = time.perf_counter()
                        c.journeys.record(mine[n % len(mine)], RecordStep(1 + n % 6, effective), by(today))
                        seen.append(time.perf_counter() - t0)
                        n += 1
                except Exception as e:  # noqa: BLE001 - re-raised below: a failed writer fails the run
                    errors.append(e)

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
            for t in threads:
                t.start()
            cpu0 = time.process_time()
            start = time.perf_counter()
            stop_at[0] = start + ctx.seconds
            gate.wait()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            if errors:
                raise errors[0]
            flat = [x for per in latencies for x in per]
            return Sample(
                len(flat) / elapsed,
                {
                    "op_p50_ms": percentile(flat, 50) * 1000,
                    "op_p99_ms": percentile(flat, 99) * 1000,
                    "client_cpu_us_per_unit": (time.process_time() - cpu0) / len(flat) * 1e6,
                    "units": float(len(flat)),
                },
            )

        yield run


# --- W2: batch ingest, 500 items a batch ---------------------------------------------------------


@contextmanager
def w2(ctx: Ctx) -> Iterator[Run]:
    """record_batch() of 500 items from the synthetic caseload (starts, facts, late facts, voids)."""
    per_run = ctx.scale(4, 16)  # batches in one timed run
    with container(ctx) as c:
        today = c.today()
        needed = (ctx.runs + 1) * per_run * BATCH
        flat = list(
            islice((i for items in caseload(journeys=10**7, today=today, seed=11) for i in items), needed)
        )
        batches = [flat[i : i + BATCH] for i in range(0, len(flat), BATCH)]
        ctx.notes.update({"batch": BATCH, "batches_per_run": per_run})
        queue = iter(batches)

        def ingest(batch: list[BatchItem]) -> Callable[[], int]:
            return lambda: len(c.journeys.record_batch(batch))

        def run() -> Sample:
            return for_ops(ingest(next(queue)) for _ in range(per_run))

        yield run


# --- A1: an auditor replays a 1000-event journey ---------------------------------------------------


def long_journey(app: JourneysApp, today: date, events: int, seed: int = 5) -> UUID:
    """One journey of `events` events: steps, reconnections and ZRM assessments, dated out of order."""
    rng = random.Random(seed)
    started = today - timedelta(days=1200)
    start = by(today)
    jid = journey_id_for(start.event_id)
    items = [BatchItem(StartJourney("BENCH-LONG", TEAM, 2, started), start)]
    domains = list(ZRM_DOMAINS["2017"])
    for _ in range(events - 1):
        day = started + timedelta(days=rng.randint(1, 1190))
        roll = rng.random()
        command: FactCommand
        if roll < 0.7:
            command = RecordStep(rng.randint(1, 6), day)
        elif roll < 0.85:
            command = RecordReconnection("volunteering", day)
        else:
            command = AssessSelfReliance("2017", day, {d: rng.randint(1, 5) for d in domains})
        items.append(BatchItem(command, by(today), jid))
    app.record_batch(items)
    return jid


LONG_JOURNEY_EVENTS = 1000


@contextmanager
def a1(ctx: Ctx) -> Iterator[Run]:
    """An auditor's cold replay: state(id, on=date, known_at=now) with no aggregate cache.

    The service's own audit path (what GET .../state?known_at= calls): find the versions known at
    the moment, rebuild the journey at that version from the store, and read its state on a date
    from the timeline. The aggregate cache is switched off, so every replay starts from the store.
    The value is the median (p50) time of one replay in the run, in ms; RFETCH1000 fetches the same
    1000 rows raw.
    """
    events = LONG_JOURNEY_EVENTS
    with container(ctx) as c:
        today = c.today()
        jid = long_journey(c.journeys, today, events)
        c.journeys.repository.cache = None  # cold: nothing of the journey is kept between replays
        on = today - timedelta(days=600)  # a date in the middle of the journey's life
        ctx.notes.update({"events_per_journey": events, "aggregate_cache": "off", "state_on": str(on)})

        def replay() -> int:
            view = c.journeys.state(jid, on, known_at=datetime.now(UTC))
            assert view.version == events
            return 1

        yield lambda: ms_per_op(for_seconds(ctx.seconds, replay))


# --- W3: HTTP POSTs under load ---------------------------------------------------------------------


@contextmanager
def w3(ctx: Ctx) -> Iterator[Run]:
    """wrk POSTs ladder steps to `traject serve` on PostgreSQL; every request writes one new event.

    The production shape on PostgreSQL (README): the API process with TRAJECT_PROJECTIONS=worker
    and one `traject worker` beside it keeping the mirror current, both on this machine's cores.
    After each run the mirror's lag is noted, and the time the worker took to catch up.
    """
    with container(ctx) as c:
        today = c.today()
        ids = start_journeys(c.journeys, today, 256, 5)
    journeys_file = ctx.work_dir / "journeys.txt"
    journeys_file.write_text("".join(f"{jid}\n" for jid in ids))
    token = TokenCodec(JWT_SECRET.encode(), "HS256", "traject").issue("bench", "caseworker", [TEAM], 600)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(ctx) | {"TRAJECT_PROJECTIONS": "worker"}
    cmd = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    effective = (today - timedelta(days=10)).isoformat()
    seeds = count(1)
    worker_log = (ctx.work_dir / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker"],
        env=env,
        cwd=REPO,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    try:
        with server(ctx, cmd, env, f"{url}/healthz") as pid:
            wait_projected(url)
            ctx.notes.update({"journeys": len(ids), "connections": ctx.connections, "projections": "worker"})
            profile_from_here(ctx, pid)

            def run() -> Sample:
                args = ["steps", token, str(journeys_file), effective, str(next(seeds))]
                sample = wrk(ctx, url, args, expect=201)
                if worker.poll() is not None:
                    msg = f"traject worker exited ({worker.returncode}); see {worker_log.name}"
                    raise RuntimeError(msg)
                sample.extras["mirror_lag_after_run"] = float(lag(url))
                t0 = time.perf_counter()
                wait_projected(url)
                sample.extras["mirror_catch_up_s"] = time.perf_counter() - t0
                return sample

            yield run
    finally:
        stop(worker)
        worker_log.close()


# --- Q1: the team outcomes query under load ----------------------------------------------------------

Q1_JOURNEYS = 3000


def server_env(ctx: Ctx) -> dict[str, str]:
    """`traject serve` on this row's schema, with the suite's secrets (the service's own defaults else)."""
    return os.environ | {
        "TRAJECT_STORE": "postgres",
        "TRAJECT_DATABASE_URL": ctx.dsn,
        "TRAJECT_PG_SCHEMA": ctx.schema,
        "TRAJECT_DATA_DIR": str(ctx.work_dir / "var"),
        "TRAJECT_JWT_SECRET": JWT_SECRET,
        "TRAJECT_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "TRAJECT_TEAMS": TEAMS,
    }


def lag(url: str) -> int:
    """How many events the mirror is behind the log, as /readyz says."""
    with urllib.request.urlopen(f"{url}/readyz", timeout=10) as answer:  # noqa: S310 - our loopback
        return int(json.loads(answer.read())["projections"]["mirror"]["lag"])


def wait_projected(url: str, timeout: float = 300) -> int:
    """Wait until /readyz says the mirror has caught up (lag 0); answers the head position."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as answer:  # noqa: S310 - our loopback
            body = json.loads(answer.read())
        mirror = body["projections"]["mirror"]
        if mirror.get("failure"):
            msg = f"the mirror projection stopped: {mirror['failure']}"
            raise RuntimeError(msg)
        if mirror["lag"] == 0 and body["head_position"] > 0:
            return int(body["head_position"])
        time.sleep(0.05)
    msg = f"the mirror did not catch up within {timeout:.0f} s: {body}"
    raise RuntimeError(msg)


@contextmanager
def q1(ctx: Ctx) -> Iterator[Run]:
    """wrk GETs /v1/teams/noord/outcomes (default: the last 12 months) as noord's team lead.

    `traject serve` on PostgreSQL with a synthetic caseload of 3000 journeys (services.caseload,
    three teams, two years), projected by the server itself until /readyz shows lag 0. Same wrk
    load as WEB; the value is the run's p99 in ms, compared with WEB's p99.

    Before each run one journey is started (so the view moves on and no answer kept from an earlier
    position can serve the run's first requests) and, once projected, one GET is timed on its own:
    `uncached_ms`, the cost of computing the answer rather than finding it kept.
    """
    with container(ctx) as c:
        today = c.today()
        batch: list[BatchItem] = []
        stored = 0
        for items in caseload(journeys=Q1_JOURNEYS, today=today, seed=7):
            batch.extend(items)
            if len(batch) >= BATCH:
                stored += len(c.journeys.record_batch(batch))
                batch = []
        if batch:
            stored += len(c.journeys.record_batch(batch))
        token = TokenCodec(JWT_SECRET.encode(), "HS256", "traject").issue(
            "bench-lead", "teamlead", [TEAM], 600
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        path = f"/v1/teams/{TEAM}/outcomes"
        request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"Bearer {token}"})  # noqa: S310
        starts = count(1)

        def get_once() -> tuple[float, dict[str, Any]]:
            t0 = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - our loopback
                body: dict[str, Any] = json.loads(answer.read())
            return (time.perf_counter() - t0) * 1000, body

        with server(ctx, cmd, server_env(ctx), f"{url}/healthz") as pid:
            head = wait_projected(url)
            _, body = get_once()
            ctx.notes.update(
                {
                    "journeys": Q1_JOURNEYS,
                    "events": stored,
                    "head": head,
                    "months": len(body["months"]),
                    "path": path,
                    "connections": ctx.connections,
                }
            )
            profile_from_here(ctx, pid)

            def run() -> Sample:
                start = StartJourney(f"BENCH-Q1-{next(starts):05d}", TEAM, 2, today)
                c.journeys.start(start, by(today))
                wait_projected(url)
                uncached_ms, _ = get_once()
                sample = wrk(ctx, url, ["get", path, token])
                return Sample(
                    sample.extras["p99_ms"],
                    sample.extras | {"req_per_s": sample.value, "uncached_ms": uncached_ms},
                )

            yield run
