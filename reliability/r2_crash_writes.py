"""R2: SIGKILL the API and crash PostgreSQL under HTTP writes from clients that retry each write with
its own event id until they get an answer; every acknowledged write is stored exactly once."""

from __future__ import annotations

import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson

from reliability.recipe import Env, Recipe, Result
from reliability.support import (
    TEAM,
    Traject,
    crash_postgres,
    drop_schema,
    free_port,
    repeated_event_ids,
    settings,
    start_postgres,
    stored_events,
    token,
    version_gaps,
    wait_http,
)

STEPS = 10  # facts per journey after its start
GIVE_UP_S = 120  # a write still unanswered this long after the faults ended is reported, not waited for


@dataclass
class Tally:
    """What the clients sent and were told, shared by every client thread."""

    acked: dict[UUID, tuple[UUID, int]] = field(default_factory=dict)  # event id -> (journey, version)
    sent: set[UUID] = field(default_factory=set)
    refused: dict[UUID, int] = field(default_factory=dict)  # event id -> 4xx status
    unanswered: set[UUID] = field(default_factory=set)
    duplicates: int = 0  # answers that said the write was stored before (a retry of a stored write)
    retries: int = 0
    server_errors: int = 0  # 5xx answers, each retried
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One caseworker app: journeys one after another, each write retried until answered."""

    def __init__(self, base: str, tally: Tally, stop: threading.Event, give_up: threading.Event) -> None:
        self.base, self.tally, self.stop, self.give_up = base, tally, stop, give_up
        self.headers = {"Authorization": f"Bearer {token()}", "Content-Type": "application/json"}

    def run(self, n: int) -> None:
        today = date.today()
        journeys = 0
        while not self.stop.is_set():
            begin = today - timedelta(days=400)
            start = {
                "event_id": str(uuid4()),
                "client_reference": f"R2-{n}-{journeys}",
                "team": TEAM,
                "initial_rung": 2,
                "effective_date": begin.isoformat(),
            }
            journeys += 1
            answer = self.send("/v1/journeys", start)
            if answer is None:
                return
            journey = answer["journey_id"]
            for k in range(STEPS):
                if self.stop.is_set():
                    return
                step = {
                    "type": "ladder_step",
                    "event_id": str(uuid4()),
                    "to_rung": 3 + k % 2,
                    "effective_date": (begin + timedelta(days=10 * (k + 1))).isoformat(),
                }
                if self.send(f"/v1/journeys/{journey}/events", step) is None:
                    return

    def send(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST until a 2xx or 4xx answer; None if refused or given up on."""
        event_id = UUID(body["event_id"])
        data = orjson.dumps(body)
        with self.tally.lock:
            self.tally.sent.add(event_id)
        while not self.give_up.is_set():
            request = urllib.request.Request(self.base + path, data, self.headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
                    answer: dict[str, Any] = orjson.loads(response.read())
                with self.tally.lock:
                    self.tally.acked[event_id] = (UUID(answer["journey_id"]), int(answer["version"]))
                    self.tally.duplicates += bool(answer["duplicate"])
                return answer
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    with self.tally.lock:
                        self.tally.refused[event_id] = error.code
                    return None
                with self.tally.lock:
                    self.tally.server_errors += 1
            except OSError:  # refused, reset, timed out: the server is down or restarting
                pass
            with self.tally.lock:
                self.tally.retries += 1
            time.sleep(0.1)
        with self.tally.lock:
            self.tally.unanswered.add(event_id)
        return None


def run(env: Env) -> Result:
    clients, faults = (4, 2) if env.quick else (8, 16)
    rng = random.Random(2)
    schema = env.schema()
    port = free_port()
    config = settings(env, schema, projections="worker", port=port, pg_pool_size=4)
    base = f"http://127.0.0.1:{port}"
    server = Traject(["serve"], config, env.work / "r2-serve.log")
    tally, stop, give_up = Tally(), threading.Event(), threading.Event()
    result = Result("R2", True)
    api_kills = pg_crashes = 0
    try:
        server.start()
        wait_http(server, f"{base}/healthz")
        threads = [
            threading.Thread(target=Client(base, tally, stop, give_up).run, args=(n,), name=f"r2-client-{n}")
            for n in range(clients)
        ]
        for t in threads:
            t.start()
        try:
            for fault in range(faults):
                time.sleep(rng.uniform(1.0, 3.0))
                if fault % 2 == 0:
                    server.kill()
                    api_kills += 1
                    server.start()
                    wait_http(server, f"{base}/healthz")
                else:
                    crash_postgres(env)
                    pg_crashes += 1
                    time.sleep(rng.uniform(0.2, 1.5))
                    start_postgres(env)
            time.sleep(1.0)
        finally:
            stop.set()
            deadline = time.monotonic() + GIVE_UP_S
            for t in threads:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
            give_up.set()
            for t in threads:
                t.join()
            server.stop()
        result.failures += check(tally, stored_events(env, schema))
        result.figures = {
            "clients": clients,
            "api_kills": api_kills,
            "pg_crashes": pg_crashes,
            "writes_sent": len(tally.sent),
            "acknowledged": len(tally.acked),
            "answered_as_repeats": tally.duplicates,
            "retries": tally.retries,
            "answers_5xx": tally.server_errors,
            "refused_4xx": len(tally.refused),
            "unanswered": len(tally.unanswered),
        }
    finally:
        server.stop()  # ended already, unless the recipe failed before its end
        drop_schema(env, schema)
    result.holds = not result.failures
    return result


def check(tally: Tally, stored: list[Any]) -> list[str]:
    """Each acknowledged write stored once, where its answer said; nothing stored that was not sent."""
    failures = [f"event id {e} stored more than once" for e in repeated_event_ids(stored)]
    failures += version_gaps(stored)
    where = {s.event_id: (s.journey_id, s.version) for s in stored}
    for event_id, answered in tally.acked.items():
        if event_id not in where:
            failures.append(f"acknowledged write {event_id} ({answered}) is not stored")
        elif where[event_id] != answered:
            failures.append(f"write {event_id} was answered as {answered} but stored as {where[event_id]}")
    failures += [f"stored event {e} was never sent" for e in where.keys() - tally.sent]
    failures += [
        f"write {e} was refused ({code}) but stored" for e, code in tally.refused.items() if e in where
    ]
    if tally.refused:
        failures.append(f"{len(tally.refused)} writes were refused: {sorted(set(tally.refused.values()))}")
    return failures[:20]


RECIPE = Recipe(
    name="R2",
    fault="SIGKILL the API and crash PostgreSQL (pg_ctl -m immediate) under HTTP writes retried with the same event id",
    must_hold="every acknowledged write stored exactly once, where its answer said; versions gapless",
    run=run,
    proves=(
        "The event id makes a write idempotent across a lost answer: a client that retries after the API "
        "died or the database crashed mid-commit never stores a write twice, and every 2xx it got is on "
        "disk after the database's crash recovery."
    ),
    does_not_prove=(
        "A power loss or a lost disk cache: `pg_ctl stop -m immediate` ends every server process at once, "
        "but the operating system keeps what was written to its page cache. Nor that clients that do not "
        "retry, or retry with a new event id, are safe: the guarantee needs the same event id."
    ),
)
