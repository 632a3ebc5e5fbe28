"""Where the mirror's view lives: its tables, and its tracking position in the same transaction.

The view is kept in the event store's own database (the SQLite file, or the PostgreSQL schema) so
that one local transaction covers the counts, the per-journey folds and the position they reflect:
a crash before the commit leaves all three as they were, after it all three are new.

Table names are our own identifiers, never input, hence the f-strings.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.rows import tuple_row

from projections.mirror import JourneyFold, Key
from projections.outcomes import Row

TRACKING = "traject_projection_positions"


class StaleBatch(Exception):
    """Another runner moved the position since this batch was read; nothing was written."""


class CopyIncomplete(Exception):
    """A rebuild's copy lacks rows it wrote (a server crash can lose commits not yet on disk)."""


class MirrorView:
    """The mirror's tables (`<prefix>_counts`, `<prefix>_journeys`) and its tracking row."""

    def __init__(self, recorder: ApplicationRecorder, name: str = "mirror") -> None:
        self.recorder = recorder
        self.name = name
        self.pg = isinstance(recorder, PostgresApplicationRecorder)
        if not self.pg and not isinstance(recorder, SQLiteApplicationRecorder):
            msg = f"no view store for {type(recorder).__name__}"
            raise TypeError(msg)
        schema = f'"{recorder.datastore.schema}".' if self.pg else ""  # type: ignore[attr-defined]
        self.counts = f"{schema}{name}_counts"
        self.journeys = f"{schema}{name}_journeys"
        self.tracking = f"{schema}{TRACKING}"
        self._schema = schema
        self.create()

    # --- SQL in both dialects ---------------------------------------------------------------

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    @contextmanager
    def _transaction(self, *, commit: bool = True) -> Iterator[Any]:
        """A transaction; `commit=False` for reads: on SQLite the library then lends one of its
        reader connections, not its one writer (readers waiting for the writer are refused after
        its pool timeout)."""
        with self.recorder.datastore.transaction(commit=commit) as cursor:  # type: ignore[attr-defined]
            yield cursor

    def _read(self) -> AbstractContextManager[Any]:
        return self._transaction(commit=False)

    def create(self) -> None:
        token = secrets.token_hex(4)  # unique constraint names survive a rename on PostgreSQL
        with self._transaction() as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.tracking} "
                "(name TEXT PRIMARY KEY, position BIGINT NOT NULL, failure TEXT, "
                "generation BIGINT NOT NULL DEFAULT 0)"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.counts} (team TEXT NOT NULL, month TEXT NOT NULL, "
                "figure TEXT NOT NULL, key TEXT NOT NULL, n BIGINT NOT NULL, "
                f"CONSTRAINT {self.name}_counts_{token}_pk PRIMARY KEY (team, month, figure, key))"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.journeys} (journey_id TEXT NOT NULL, state TEXT NOT NULL, "
                f"CONSTRAINT {self.name}_journeys_{token}_pk PRIMARY KEY (journey_id))"
            )
            c.execute(
                self._q(
                    f"INSERT INTO {self.tracking} (name, position) VALUES (?, 0) ON CONFLICT (name) DO NOTHING"
                ),
                (self.name,),
            )

    # --- the write side of the view ---------------------------------------------------------

    def mark(self) -> tuple[int, int]:
        """Where the view stands: its position, and its generation (a rebuild's swap bumps it)."""
        with self._read() as c:
            c.execute(
                self._q(f"SELECT position, generation FROM {self.tracking} WHERE name = ?"), (self.name,)
            )
            row = c.fetchone()
        if isinstance(row, dict):
            return int(row["position"]), int(row["generation"])
        return int(row[0]), int(row[1])

    def position(self) -> int:
        return self.progress()[0]

    def failure(self) -> str | None:
        return self.progress()[1]

    def progress(self) -> tuple[int, str | None]:
        """The position the view reflects, and why its projection stopped (None while it runs)."""
        with self._read() as c:
            c.execute(self._q(f"SELECT position, failure FROM {self.tracking} WHERE name = ?"), (self.name,))
            row = c.fetchone()
        if row is None:
            return 0, None
        if isinstance(row, dict):
            return int(row["position"]), row["failure"]
        return int(row[0]), row[1]

    def load(self, journey_ids: Iterable[UUID]) -> dict[UUID, JourneyFold | None]:
        ids = [str(j) for j in set(journey_ids)]
        found: dict[UUID, JourneyFold | None] = dict.fromkeys(map(UUID, ids))
        if not ids:
            return found
        with self._read() as c:
            for chunk in _chunks(ids, 500):
                marks = ", ".join("?" * len(chunk))
                c.execute(
                    self._q(f"SELECT journey_id, state FROM {self.journeys} WHERE journey_id IN ({marks})"),
                    chunk,
                )
                for row in c.fetchall():
                    jid, state = (row["journey_id"], row["state"]) if isinstance(row, dict) else row
                    found[UUID(jid)] = JourneyFold.load(orjson.loads(state))
        return found

    def commit(
        self, start: tuple[int, int], end: int, delta: Mapping[Key, int], touched: dict[UUID, JourneyFold]
    ) -> None:
        """Apply a batch's changes and move the position from `start` to `end`, atomically.

        `start` is the mark the batch was read at; if the view has moved since (another runner,
        or a rebuild swapped in new tables), nothing is written.
        """
        lock = " FOR UPDATE" if self.pg else ""
        with self._transaction() as c:
            c.execute(
                self._q(f"SELECT position, generation FROM {self.tracking} WHERE name = ?{lock}"),
                (self.name,),
            )
            row = c.fetchone()
            current = (
                (int(row["position"]), int(row["generation"]))
                if isinstance(row, dict)
                else (int(row[0]), int(row[1]))
            )
            if current != start:
                raise StaleBatch(f"{self.name} is at {current}, this batch started at {start}")
            if delta:
                self._upsert(
                    c,
                    f"{self.counts} (team, month, figure, key, n)",
                    f"(team, month, figure, key) DO UPDATE SET n = {self.name}_counts.n + excluded.n",
                    ["text", "text", "text", "text", "bigint"],
                    ((*k, n) for k, n in delta.items()),
                )
            if touched:
                self._upsert(
                    c,
                    f"{self.journeys} (journey_id, state)",
                    "(journey_id) DO UPDATE SET state = excluded.state",
                    ["text", "text"],
                    ((str(j), orjson.dumps(s.dump()).decode()) for j, s in touched.items()),
                )
            c.execute(self._q(f"UPDATE {self.tracking} SET position = ? WHERE name = ?"), (end, self.name))

    def _upsert(
        self, c: Any, into: str, conflict: str, types: list[str], rows: Iterable[tuple[Any, ...]]
    ) -> None:
        """Insert `rows` (distinct keys), updating those there: one statement of arrays on PostgreSQL."""
        if self.pg:
            # Binary (%b): text arrays would escape every quote of the stored folds, in Python.
            arrays = ", ".join(f"%b::{t}[]" for t in types)
            c.execute(
                f"INSERT INTO {into} SELECT * FROM unnest({arrays}) ON CONFLICT {conflict}",
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            marks = ", ".join("?" * len(types))
            c.executemany(f"INSERT INTO {into} VALUES ({marks}) ON CONFLICT {conflict}", rows)

    def put_folds(self, folds: Sequence[tuple[str, str]]) -> None:
        """Add journey folds (journey id, stored fold) to a fresh copy of the view, in one transaction.

        For a rebuild, whose copy of the view is its own: the rows are new, so PostgreSQL takes them
        with one COPY rather than an upsert per row. Nor need each page wait for its own flush to
        disk: the copy counts only once the swap commits, and that commit (synchronous, like every
        other) is flushed after everything written before it. A crash before it loses only a
        copy that was never swapped in.
        """
        if not folds:
            return
        with self._transaction() as c:
            if self.pg:
                c.execute("SET LOCAL synchronous_commit TO off")  # see `rebuild`: it counts them all
                with c.copy(f"COPY {self.journeys} (journey_id, state) FROM STDIN") as copy:
                    for row in folds:
                        copy.write_row(row)
            else:
                c.executemany(f"INSERT INTO {self.journeys} (journey_id, state) VALUES (?, ?)", folds)

    def log_source(self) -> LogSource:
        """Where another process can read this view's event log from (PostgreSQL only)."""
        kwargs = self.recorder.datastore.pool.kwargs  # type: ignore[attr-defined]
        connect = {k: kwargs[k] for k in ("dbname", "host", "port", "user", "password") if k in kwargs}
        return LogSource(connect, self._events_table())

    def journey_pages(self, head: int, page: int) -> Iterator[list[LogRow]]:
        """Every stored event up to position `head`, journey by journey, in pages of short reads.

        Stored events never change, so each page may be its own transaction.
        """
        if self.pg:
            connection = self.recorder.datastore.get_connection  # type: ignore[attr-defined]
            yield from _pg_pages(connection, self._events_table(), head, page, (None, None))
            return
        query = (
            f"SELECT originator_id, originator_version, topic, state, rowid FROM {self._events_table()} "
            "WHERE rowid <= ? AND (originator_id, originator_version) > (?, ?) "
            "ORDER BY originator_id, originator_version LIMIT ?"
        )
        after: tuple[str, int] = ("", 0)
        while True:
            with self._read() as c:
                c.execute(query, (head, *after, page))
                found = c.fetchall()
            # SQLite keeps a journey id as its hex digits; the view keys journeys by str(UUID).
            rows = [(str(UUID(j)), int(v), str(t), bytes(s), int(p)) for j, v, t, s, p in found]
            if rows:
                yield rows
            if len(rows) < page:
                return
            after = (found[-1][0], rows[-1][1])

    def _events_table(self) -> str:
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        return f"{self._schema}{table}"

    def fail(self, reason: str) -> None:
        """Record why the projection stopped, beside the position it stopped at."""
        with self._transaction() as c:
            c.execute(self._q(f"UPDATE {self.tracking} SET failure = ? WHERE name = ?"), (reason, self.name))

    def clear_failure(self) -> None:
        with self._transaction() as c:
            c.execute(self._q(f"UPDATE {self.tracking} SET failure = NULL WHERE name = ?"), (self.name,))

    # --- reads --------------------------------------------------------------------------------

    def rows(self, first: str, last: str, team: str | None = None) -> list[Row]:
        """Count rows for months first..last, and every tail up to `last`; one team or all."""
        where = "((month >= ? AND month <= ?) OR (figure = 'tail' AND month <= ?))"
        params: list[Any] = [first, last, last]
        if team is not None:
            where += " AND team = ?"
            params.append(team)
        with self._read() as c:
            c.execute(
                self._q(f"SELECT team, month, figure, key, n FROM {self.counts} WHERE {where} AND n <> 0"),
                params,
            )
            found = c.fetchall()
        if found and isinstance(found[0], dict):
            return [(r["team"], r["month"], r["figure"], r["key"], int(r["n"])) for r in found]
        return [(t, m, f, k, int(n)) for t, m, f, k, n in found]

    def teams(self) -> list[str]:
        with self._read() as c:
            c.execute(f"SELECT DISTINCT team FROM {self.counts}")
            found = c.fetchall()
        return sorted(r["team"] if isinstance(r, dict) else r[0] for r in found)

    # --- rebuild: a fresh copy beside the live one, swapped in atomically -----------------------

    def swap_into(self, live: MirrorView, folds: int | None = None) -> None:
        """Replace `live`'s tables and position with this view's, in one transaction.

        With `folds`, only if this view holds that many journey folds (else CopyIncomplete).
        """
        assert self.pg == live.pg
        lock = " FOR UPDATE" if self.pg else ""
        with self._transaction() as c:
            if folds is not None:
                c.execute(f"SELECT count(*) AS n FROM {self.journeys}")
                row = c.fetchone()
                if (held := int(row["n"] if isinstance(row, dict) else row[0])) != folds:
                    msg = f"{self.name} holds {held} journey folds, not the {folds} written: not swapped in"
                    raise CopyIncomplete(msg)
            c.execute(self._q(f"SELECT position FROM {self.tracking} WHERE name = ?{lock}"), (live.name,))
            c.execute(self._q(f"SELECT position FROM {self.tracking} WHERE name = ?"), (self.name,))
            row = c.fetchone()
            position = int(row["position"] if isinstance(row, dict) else row[0])
            for mine, theirs in ((self.counts, live.counts), (self.journeys, live.journeys)):
                c.execute(f"DROP TABLE IF EXISTS {theirs}")
                bare = theirs.split(".")[-1]
                c.execute(f"ALTER TABLE {mine} RENAME TO {bare}")
            c.execute(
                self._q(
                    f"UPDATE {self.tracking} SET position = ?, failure = NULL, generation = generation + 1 WHERE name = ?"
                ),
                (position, live.name),
            )
            c.execute(self._q(f"DELETE FROM {self.tracking} WHERE name = ?"), (self.name,))

    def drop(self) -> None:
        with self._transaction() as c:
            c.execute(f"DROP TABLE IF EXISTS {self.counts}")
            c.execute(f"DROP TABLE IF EXISTS {self.journeys}")
            c.execute(self._q(f"DELETE FROM {self.tracking} WHERE name = ?"), (self.name,))


LogRow = tuple[str, int, str, bytes, int]  # journey id, version, topic, stored state, position
Part = tuple[UUID | None, UUID | None]  # journey ids from the first, up to but not including the second


@dataclass(frozen=True)
class LogSource:
    """How a worker process connects to the event log: psycopg's connect arguments, and the table."""

    connect: dict[str, Any]
    events: str

    def journey_pages(self, head: int, page: int, part: Part) -> Iterator[list[LogRow]]:
        """`MirrorView.journey_pages` for the journeys of `part`, on a connection of this process."""
        with psycopg.connect(**self.connect, autocommit=True) as conn:
            yield from _pg_pages(lambda: nullcontext(conn), self.events, head, page, part)


def _pg_pages(
    connection: Callable[[], AbstractContextManager[psycopg.Connection[Any]]],
    events: str,
    head: int,
    page: int,
    part: Part,
) -> Iterator[list[LogRow]]:
    """Keyset pages in primary-key order, binary, with the journey id as text (no UUID per row)."""
    first, below = part
    query = (
        f"SELECT originator_id::text AS journey_id, originator_version, topic, state, notification_id FROM {events} "
        "WHERE notification_id <= %s AND (originator_id, originator_version) > (%s, %s)"
        f"{' AND originator_id < %s' if below else ''} "
        "ORDER BY originator_id, originator_version LIMIT %s"
    )
    after: tuple[UUID, int] = (first or UUID(int=0), 0)
    while True:
        with connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as cursor:
            cursor.execute(query, (head, *after, *((below,) if below else ()), page))
            rows: list[LogRow] = cursor.fetchall()
        if rows:
            yield rows
        if len(rows) < page:
            return
        after = (UUID(rows[-1][0]), rows[-1][1])


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
