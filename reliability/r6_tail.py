"""R6: readers tail the notification log (what the feed and the projection runner read) while
writers commit at once from their own connections; no reader ever passes a position that appears later.

The hazard: positions come from a sequence, so two transactions can take 7 and 8 and commit 8 first;
a reader that reads "after 6" then sees 8, moves its mark to 8, and never sees 7. The service's
recorder takes a table lock in the insert so that positions become visible in order. A control run
on a plain table without that lock shows that this recipe does catch the hazard when it is there.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from itertools import pairwise
from uuid import UUID, uuid4

import psycopg

from domain.journey import Provenance
from infra.container import Container, build
from reliability.recipe import Env, Recipe, Result
from reliability.support import TEAM, drop_schema, settings
from services.commands import BatchItem, RecordStep, StartJourney

WRITERS = 6
READERS = 3
PAGE = 50

Read = Callable[[int], list[int]]  # positions after a mark, oldest first, at most PAGE


def tail(read: Read, after: int, done: threading.Event, last: list[int], seen: list[int]) -> None:
    """Follow the log from `after` as a feed reader does, until `done` and the last position is seen."""
    while True:
        page = read(after)
        seen.extend(page)
        if page:
            after = page[-1]
        elif done.is_set() and after >= last[0]:
            return
        else:
            time.sleep(0.001)


def trial(read: Read, head: Callable[[], int], writers: list[Callable[[], None]]) -> tuple[int, int]:
    """One burst of concurrent commits under READERS tailing readers; answers (positions, skips):
    a skip is a position that a reader passed over and that is in the log afterwards."""
    start = head()
    done, last = threading.Event(), [0]
    seen: list[list[int]] = [[] for _ in range(READERS)]
    readers = [threading.Thread(target=tail, args=(read, start, done, last, s)) for s in seen]
    for t in readers:
        t.start()
    threads = [threading.Thread(target=w) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    last[0] = head()
    done.set()
    for t in readers:
        t.join()
    final = set(_all_after(read, start, last[0]))
    skips = sum(len(final - set(s)) for s in seen)
    skips += sum(any(b <= a for a, b in pairwise(s)) for s in seen)  # out of order
    return len(final), skips


def _all_after(read: Read, after: int, last: int) -> list[int]:
    found: list[int] = []
    while after < last:
        page = read(after)
        if not page:
            break
        found += page
        after = page[-1]
    return found


# --- the service's log ---------------------------------------------------------------------------


def service_writers(apps: list[Container], journeys: list[UUID], writes: int) -> list[Callable[[], None]]:
    """Each writer records single facts on a journey of its own, through its own app (connection)."""
    today = apps[0].today()

    def writer(w: int) -> Callable[[], None]:
        def go() -> None:
            app = apps[w].journeys
            for k in range(writes):
                by = Provenance(uuid4(), "r6", "caseworker", today)
                app.record(journeys[w], RecordStep(1 + k % 6, today - timedelta(days=100 - k % 90)), by)

        return go

    return [writer(w) for w in range(len(apps))]


def service_log(env: Env, schema: str, trials: int, writes: int) -> tuple[int, int]:
    apps = [build(settings(env, schema, pg_pool_size=2)) for _ in range(WRITERS + 1)]
    reader, writers = apps[0], apps[1:]
    try:
        today = reader.today()
        starts = [
            BatchItem(StartJourney(f"R6-{w}", TEAM, 2, today - timedelta(days=200)), _by(today))
            for w in range(WRITERS)
        ]
        journeys = [w.journey_id for w in reader.journeys.record_batch(starts)]
        recorder = reader.journeys.recorder

        def read(after: int) -> list[int]:
            return [n.id for n in recorder.select_notifications(after + 1, PAGE)]

        positions = skips = 0
        for _ in range(trials):
            n, s = trial(read, reader.head_position, service_writers(writers, journeys, writes))
            positions, skips = positions + n, skips + s
        return positions, skips
    finally:
        for app in apps:
            app.close()


# --- the control: a plain table, inserts without the table lock ------------------------------------


def control_log(env: Env, schema: str, trials: int, writes: int) -> tuple[int, int]:
    """The same readers on a log whose inserts take no lock, with commits slowed at random."""
    table = f'"{schema}".plain_log'
    with psycopg.connect(env.pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (notification_id BIGSERIAL PRIMARY KEY, body TEXT)")
    reader = psycopg.connect(env.pg_url, autocommit=True)
    lock = threading.Lock()
    rng = random.Random(6)

    def read(after: int) -> list[int]:
        with lock:
            rows = reader.execute(
                f"SELECT notification_id FROM {table} WHERE notification_id > %s "  # noqa: S608
                "ORDER BY notification_id LIMIT %s",
                (after, PAGE),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def head() -> int:
        with lock:
            row = reader.execute(f"SELECT coalesce(max(notification_id), 0) FROM {table}").fetchone()  # noqa: S608
        return int(row[0]) if row else 0

    def writer() -> None:
        with psycopg.connect(env.pg_url) as conn:
            for _ in range(writes):
                with conn.transaction():
                    conn.execute(f"INSERT INTO {table} (body) VALUES ('x')")  # noqa: S608
                    time.sleep(rng.uniform(0, 0.003))

    try:
        positions = skips = 0
        for _ in range(trials):
            n, s = trial(read, head, [writer] * WRITERS)
            positions, skips = positions + n, skips + s
        return positions, skips
    finally:
        reader.close()


def run(env: Env) -> Result:
    trials, writes = (5, 10) if env.quick else (60, 25)
    result = Result("R6", True)
    schema = env.schema()
    try:
        positions, skips = service_log(env, schema, trials, writes)
        control_positions, control_skips = control_log(env, schema, trials, writes)
    finally:
        drop_schema(env, schema)
    if skips:
        result.failures.append(f"readers passed over {skips} positions that were in the log afterwards")
    result.figures = {
        "trials": trials,
        "writers": WRITERS,
        "readers": READERS,
        "positions_read": positions,
        "skipped": skips,
        "control_positions": control_positions,
        "control_skipped_without_lock": control_skips,
    }
    result.holds = not result.failures
    return result


def _by(today: date) -> Provenance:
    return Provenance(uuid4(), "r6", "caseworker", today)


RECIPE = Recipe(
    name="R6",
    fault="readers tail the log while 6 writers commit from their own connections (60 trials; quick: 5)",
    must_hold="no reader passes over a position that is in the log afterwards",
    run=run,
    proves=(
        "Positions become visible in order on PostgreSQL: a feed reader or the projection runner that "
        "reads 'after N' never skips an event that commits later with a smaller position. The control "
        "run, inserts without the table lock on a plain table, shows the same readers do catch skips."
    ),
    does_not_prove=(
        "Anything about a reader that keeps its mark outside the database and loses it (it re-reads from "
        "its last mark); SQLite (one writer at a time, no such hazard); replicas (one server here)."
    ),
)
