"""Raw PostgreSQL baselines: what the server itself does with an event-store-shaped table.

The table has the library's shape (uuid originator id, int version, text topic, a ~300-byte bytea
state, primary key (originator_id, version), a bigserial position with a unique index). The client
does the cheapest correct thing: one prepared statement, one connection, durability left on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast
from uuid import uuid4

import psycopg
from psycopg import sql

from bench.core import Ctx, Run, Sample, for_seconds, ms_per_op

STATE_BYTES = 300
TOPIC = "domain.journey:Journey.LadderStepRecorded"
PAGE = 1000


def _connect(ctx: Ctx, *, autocommit: bool) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(ctx.dsn, autocommit=autocommit, prepare_threshold=0)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(ctx.schema)))
    if not autocommit:
        conn.commit()
    return conn


def create_table(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute(
        "CREATE TABLE events ("
        " originator_id uuid NOT NULL,"
        " version integer NOT NULL,"
        " topic text NOT NULL,"
        " state bytea NOT NULL,"
        " position bigserial,"
        " PRIMARY KEY (originator_id, version))"
    )
    conn.execute("CREATE UNIQUE INDEX events_position ON events (position)")


INSERT = "INSERT INTO events (originator_id, version, topic, state) VALUES (%s, %s, %s, %s)"


@contextmanager
def r1(ctx: Ctx) -> Iterator[Run]:
    """One INSERT per durable commit (autocommit: one round trip and one WAL flush per row)."""
    with _connect(ctx, autocommit=True) as conn:
        create_table(conn)
        state = os.urandom(STATE_BYTES)
        insert = INSERT + " RETURNING position"
        ctx.notes["state_bytes"] = STATE_BYTES

        def one() -> int:
            conn.execute(insert, (uuid4(), 1, TOPIC, state)).fetchone()
            return 1

        yield lambda: for_seconds(ctx.seconds, one)


@contextmanager
def r100(ctx: Ctx) -> Iterator[Run]:
    """100 rows per transaction (psycopg's executemany pipelines them), one commit each."""
    with _connect(ctx, autocommit=False) as conn:
        create_table(conn)
        conn.commit()
        state = os.urandom(STATE_BYTES)
        ctx.notes["state_bytes"] = STATE_BYTES

        def hundred() -> int:
            rows = [(uuid4(), 1, TOPIC, state) for _ in range(100)]
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(INSERT, rows)
            return 100

        yield lambda: for_seconds(ctx.seconds, hundred)


@contextmanager
def rread(ctx: Ctx) -> Iterator[Run]:
    """Read every row in position order, 1000 per page (keyset), as a notification log reader does."""
    rows = ctx.scale(30_000, 500_000)
    with _connect(ctx, autocommit=True) as conn:
        create_table(conn)
        with (
            conn.cursor() as cur,
            cur.copy("COPY events (originator_id, version, topic, state) FROM STDIN") as copy,
        ):
            for _ in range(rows):
                copy.write_row((uuid4(), 1, TOPIC, os.urandom(STATE_BYTES)))
        conn.execute("VACUUM ANALYZE events")
        ctx.notes["rows"] = rows
        ctx.notes["state_bytes"] = STATE_BYTES
        select = "SELECT originator_id, version, topic, state, position FROM events WHERE position > %s ORDER BY position LIMIT %s"

        def all_rows() -> int:
            seen, last = 0, cast(object, 0)
            with conn.cursor() as cur:
                while True:
                    page = cur.execute(select, (last, PAGE)).fetchall()
                    if not page:
                        return seen
                    seen += len(page)
                    last = page[-1][4]

        def run() -> Sample:
            return for_seconds(ctx.seconds, all_rows)

        yield run


@contextmanager
def rfetch1000(ctx: Ctx) -> Iterator[Run]:
    """A1's journey (the same 1000 events) fetched raw: one SELECT by originator_id, ordered by version.

    The rows are stored by the service itself (so they are exactly A1's rows, same sizes); the fetch
    is the cheapest correct client: a pooled, already-open connection with the statement prepared,
    rows as tuples, nothing decoded. The value is the median (p50) time of one fetch in the run, in ms.
    """
    from psycopg_pool import ConnectionPool

    from bench import project  # the service's rows; imported here to keep the raw rows light

    with project.container(ctx) as c:
        jid = project.long_journey(c.journeys, c.today(), project.LONG_JOURNEY_EVENTS)
        table = sql.Identifier(ctx.schema, c.journeys.recorder.events_table_name)
    select = sql.SQL(
        "SELECT originator_id, originator_version, topic, state FROM {} "
        "WHERE originator_id = %s ORDER BY originator_version"
    ).format(table)
    ctx.notes["rows"] = project.LONG_JOURNEY_EVENTS
    with ConnectionPool(ctx.dsn, min_size=1, max_size=1, open=True) as pool:

        def fetch() -> int:
            with pool.connection() as conn:
                rows = conn.execute(select, (jid,)).fetchall()
            if len(rows) != project.LONG_JOURNEY_EVENTS:
                msg = f"fetched {len(rows)} rows, not {project.LONG_JOURNEY_EVENTS}"
                raise RuntimeError(msg)
            return 1

        for _ in range(10):  # warm: connection open, statement prepared (psycopg prepares after 5 uses)
            fetch()
        yield lambda: ms_per_op(for_seconds(ctx.seconds, fetch))
