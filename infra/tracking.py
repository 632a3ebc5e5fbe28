"""Where a relay has got to in the event log, kept in the same database as the events.

On PostgreSQL a relay claims its row for the length of one step (`FOR UPDATE SKIP LOCKED`), so a
second worker running the same relay waits its turn instead of publishing everything twice; a
relay that dies mid-step drops the lock with its connection. SQLite is the single-process
embedded store, where one relay is all there is.

Table names are fixed identifiers, never input, hence the f-strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

TABLE = "traject_relay_positions"
HOLD_LIMIT = "5min"  # the longest a relay may hold its position between two statements


class Claim(Protocol):
    position: int

    def advance(self, position: int) -> None: ...


class Tracking(Protocol):
    def claim(self, name: str) -> AbstractContextManager[Claim | None]:
        """The relay's position, held until the block ends; None while another relay holds it."""
        ...


@dataclass
class _PgClaim:
    position: int
    cursor: Any  # inside the transaction that holds the row lock
    table: str
    name: str

    def advance(self, position: int) -> None:
        self.cursor.execute(f"UPDATE {self.table} SET position = %s WHERE name = %s", (position, self.name))  # noqa: S608
        self.position = position


@dataclass
class _SqliteClaim:
    position: int
    recorder: SQLiteApplicationRecorder
    name: str

    def advance(self, position: int) -> None:
        # A short write of its own: holding SQLite's write lock while publishing would stall
        # every writer of the embedded store.
        upsert = (
            f"INSERT INTO {TABLE} (name, position) VALUES (?, ?) "  # noqa: S608
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
        )
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(upsert, (self.name, position))
        self.position = position


class SqlTracking:
    """Relay positions in the recorder's own database (SQLite or PostgreSQL)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            self._table = f'"{recorder.datastore.schema}"."{TABLE}"'
        elif isinstance(recorder, SQLiteApplicationRecorder):
            self._table = TABLE
        else:
            msg = f"no relay tracking for {type(recorder).__name__}"
            raise TypeError(msg)
        create = f"CREATE TABLE IF NOT EXISTS {self._table} (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
        with self._transaction() as cursor:
            cursor.execute(create)

    def position(self, name: str) -> int:
        """The recorded position, without claiming it."""
        param = "%s" if isinstance(self.recorder, PostgresApplicationRecorder) else "?"
        with self._transaction(commit=False) as cursor:
            cursor.execute(f"SELECT position FROM {self._table} WHERE name = {param}", (name,))  # noqa: S608
            row = cursor.fetchone()
        return _first(row)

    @contextmanager
    def claim(self, name: str) -> Iterator[Claim | None]:
        recorder = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            yield _SqliteClaim(self.position(name), recorder, name)
            return
        assert isinstance(recorder, PostgresApplicationRecorder)
        insert = f"INSERT INTO {self._table} (name, position) VALUES (%s, 0) ON CONFLICT DO NOTHING"  # noqa: S608
        select = f"SELECT position FROM {self._table} WHERE name = %s FOR UPDATE SKIP LOCKED"  # noqa: S608
        with self._transaction() as cursor:
            cursor.execute(insert, (name,))
        with recorder.datastore.transaction(commit=True) as cursor:
            # The step waits on the broker while it holds the row; the store's idle-in-transaction
            # limit (5 s) is meant for forgotten transactions and would cut a slow flush short.
            cursor.execute(f"SET LOCAL idle_in_transaction_session_timeout = '{HOLD_LIMIT}'")
            cursor.execute(select, (name,))
            row = cursor.fetchone()
            yield _PgClaim(_first(row), cursor, self._table, name) if row else None

    @contextmanager
    def _transaction(self, *, commit: bool = True) -> Iterator[Any]:
        recorder = self.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            with recorder.datastore.transaction(commit=commit) as pg_cursor:
                yield pg_cursor
        elif isinstance(recorder, SQLiteApplicationRecorder):
            with recorder.datastore.transaction(commit=commit) as sqlite_cursor:
                yield sqlite_cursor


def _first(row: Any) -> int:
    """The first column of a row from either driver (psycopg rows are dicts here), or 0."""
    if row is None:
        return 0
    return int(row["position"] if isinstance(row, dict) else row[0])
