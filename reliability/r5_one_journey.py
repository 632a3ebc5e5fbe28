"""R5: 16 writers on one journey, each with a cache of its own (as 16 processes would be), then 16
HTTP clients on one journey through two API processes: versions stay gapless, every loser of a race
is either stored by its retry (same event id) or answered 409, and nothing acknowledged is lost."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson

from domain.journey import Provenance
from infra.container import Container, build
from reliability.recipe import Env, Recipe, Result
from reliability.support import (
    TEAM,
    Stored,
    Traject,
    drop_schema,
    free_port,
    repeated_event_ids,
    settings,
    stored_events,
    token,
    version_gaps,
    wait_http,
)
from services.commands import RecordStep, StartJourney
from services.journeys import ConcurrencyConflict

WRITERS = 16
RETRIES = 50  # a loser retries its write (same event id) this often before it keeps its 409


@dataclass
class Race:
    """What the writers were told, for one journey."""

    acked: dict[UUID, int] = field(default_factory=dict)  # event id -> version
    conflicts: int = 0  # 409s (or ConcurrencyConflict) seen, each followed by a retry
    given_up: set[UUID] = field(default_factory=set)  # still 409 after RETRIES
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, event_id: UUID, write: Callable[[], int | None]) -> None:
        """Write until stored (a version) or RETRIES conflicts (None from `write` is a 409)."""
        for _ in range(RETRIES):
            version = write()
            if version is not None:
                with self.lock:
                    self.acked[event_id] = version
                return
            with self.lock:
                self.conflicts += 1
        with self.lock:
            self.given_up.add(event_id)


def race(writers: list[Callable[[int], None]]) -> None:
    gate = threading.Barrier(len(writers))

    def go(w: int) -> None:
        gate.wait()
        writers[w](w)

    threads = [threading.Thread(target=go, args=(w,), name=f"r5-writer-{w}") for w in range(len(writers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def in_process(env: Env, schema: str, writes: int) -> tuple[UUID, Race]:
    """16 threads, each with its own JourneysApp: its own cache, so the races reach the database."""
    apps: list[Container] = [build(settings(env, schema, pg_pool_size=1)) for _ in range(WRITERS)]
    try:
        today = apps[0].today()
        begin = today - timedelta(days=400)
        start_id = uuid4()
        started = apps[0].journeys.start(StartJourney("R5-1", TEAM, 2, begin), _by(start_id, today))
        outcome = Race()
        outcome.acked[start_id] = 1

        def writer(w: int) -> None:
            app = apps[w].journeys
            for k in range(writes):
                event_id = uuid4()
                command = RecordStep(1 + (w + k) % 6, begin + timedelta(days=1 + k))

                def write(event_id: UUID = event_id, command: RecordStep = command) -> int | None:
                    try:
                        return app.record(started.journey_id, command, _by(event_id, today)).version
                    except ConcurrencyConflict:
                        return None

                outcome.attempt(event_id, write)

        race([writer] * WRITERS)
        return started.journey_id, outcome
    finally:
        for app in apps:
            app.close()


def over_http(env: Env, schema: str, writes: int) -> tuple[UUID, Race, int]:
    """16 clients, 8 on each of two `traject serve` processes, on one journey; answers the journey,
    the race, and how many answers were neither 2xx nor 409."""
    ports = [free_port(), free_port()]
    servers = [
        Traject(
            ["serve"], settings(env, schema, port=p, projections="worker"), env.work / f"r5-serve-{p}.log"
        )
        for p in ports
    ]
    headers = {"Authorization": f"Bearer {token()}", "Content-Type": "application/json"}
    other = [0]
    begin = date.today() - timedelta(days=400)
    try:
        for server, port in zip(servers, ports, strict=True):
            server.start()
            wait_http(server, f"http://127.0.0.1:{port}/healthz")
        start_id = uuid4()
        body = {"event_id": str(start_id), "client_reference": "R5-2", "team": TEAM, "initial_rung": 2}
        body["effective_date"] = begin.isoformat()
        answer = _post(f"http://127.0.0.1:{ports[0]}/v1/journeys", body, headers)
        journey = UUID(answer["journey_id"])
        outcome = Race()
        outcome.acked[start_id] = 1

        def writer(w: int) -> None:
            url = f"http://127.0.0.1:{ports[w % 2]}/v1/journeys/{journey}/events"
            for k in range(writes):
                event_id = uuid4()
                fact = {
                    "type": "ladder_step",
                    "event_id": str(event_id),
                    "to_rung": 1 + (w + k) % 6,
                    "effective_date": (begin + timedelta(days=1 + k)).isoformat(),
                }

                def write(fact: dict[str, object] = fact) -> int | None:
                    try:
                        answered = _post(url, fact, headers)
                    except urllib.error.HTTPError as error:
                        if error.code != 409:
                            other[0] += 1
                            raise
                        return None
                    return int(answered["version"])

                outcome.attempt(event_id, write)

        race([writer] * WRITERS)
        return journey, outcome, other[0]
    finally:
        for server in servers:
            server.stop()


def run(env: Env) -> Result:
    writes = 10 if env.quick else 40
    result = Result("R5", True)
    figures: dict[str, float | int | str] = {"writers": WRITERS, "writes_each": writes}
    for way in ("service", "http"):
        schema = env.schema()
        try:
            if way == "service":
                journey, outcome = in_process(env, schema, writes)
            else:
                journey, outcome, other = over_http(env, schema, writes)
                figures["http_other_answers"] = other
                if other:
                    result.failures.append(f"{other} HTTP answers were neither 2xx nor 409")
            stored = [s for s in stored_events(env, schema) if s.journey_id == journey]
        finally:
            drop_schema(env, schema)
        result.failures += [f"{way}: {f}" for f in check(outcome, stored, WRITERS * writes + 1)]
        figures |= {
            f"{way}_versions": len(stored),
            f"{way}_conflicts_retried": outcome.conflicts,
            f"{way}_kept_409": len(outcome.given_up),
        }
    result.figures = figures
    result.holds = not result.failures
    return result


def check(outcome: Race, events: list[Stored], sent: int) -> list[str]:
    """Gapless versions; each acknowledged write stored once at its version; each kept 409 not stored."""
    failures = version_gaps(events)
    failures += [f"event id {e} stored twice" for e in repeated_event_ids(events)]
    where = {s.event_id: s.version for s in events}
    failures += [
        f"acknowledged write {e} (version {v}) stored as {where.get(e)}"
        for e, v in outcome.acked.items()
        if where.get(e) != v
    ]
    failures += [f"write {e} answered 409 but stored" for e in outcome.given_up if e in where]
    if len(outcome.acked) + len(outcome.given_up) != sent:
        failures.append(
            f"{sent} writes sent, {len(outcome.acked)} acknowledged + {len(outcome.given_up)} 409"
        )
    if len(events) != len(outcome.acked):
        failures.append(f"{len(events)} events stored, {len(outcome.acked)} acknowledged")
    return failures[:20]


def _by(event_id: UUID, today: date) -> Provenance:
    return Provenance(event_id, "r5", "caseworker", today)


def _post(url: str, body: dict[str, object], headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url, orjson.dumps(body), headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        answer: dict[str, Any] = orjson.loads(response.read())
    return answer


RECIPE = Recipe(
    name="R5",
    fault="16 writers on one journey: 16 caches in one process, then 16 HTTP clients on two API processes",
    must_hold="gapless versions; every loser stored by its retry or answered 409; nothing acknowledged lost",
    run=run,
    proves=(
        "Writers that decided on stale copies of a journey cannot both take a version: the store's "
        "(journey, version) key refuses the second, the service decides again on the fresh journey, and "
        "a writer that keeps losing gets 409, never a silent loss or a gap."
    ),
    does_not_prove=(
        "Fairness or latency under contention (a loser may wait); more than one database server."
    ),
)
