"""The PostgreSQL event recorder, one round trip per write, with readers' order kept.

The library's default recorder sends a lock, a notify and the insert as separate statements in a
transaction; its database-function option sends one statement but takes no table lock, so two
writers could commit positions out of order and a reader following the log could skip one. This
recorder's function does both: it locks the table, inserts and returns the positions in a single
statement (one round trip, committed on return), so positions become visible in order, without
gaps a reader could pass over.

Events go over as four plain arrays in binary (ids, versions, topics, states) rather than one
array of a composite type, which both sides parse as text, field by field.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier


class LockingFunctionRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        name = Identifier(f"traject_append_{datastore.originator_id_type}")
        schema = Identifier(datastore.schema)
        self._append = SQL(
            "SELECT * FROM {schema}.{name}(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(schema=schema, name=name, id_type=SQL(datastore.originator_id_type))
        self.sql_create_statements[self.create_insert_function_statement_index] = SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{name}"
            "(ids {id_type}[], versions bigint[], topics text[], states bytea[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "BEGIN "
            "  SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "  NOTIFY {channel}; "
            "  RETURN QUERY INSERT INTO {schema}.{table} AS t "
            "    (originator_id, originator_version, topic, state) "
            "    SELECT * FROM unnest(ids, versions, topics, states) "
            "    RETURNING notification_id; "
            "END; $BODY$"
        ).format(
            name=name,
            id_type=SQL(datastore.originator_id_type),
            lock_timeout=datastore.lock_timeout,
            channel=Identifier(self.channel_name),
            schema=schema,
            table=Identifier(self.events_table_name),
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """One journey's events, fetched in binary as plain tuples (an audit replay reads a thousand)."""
        query = SQL(
            "SELECT originator_version, topic, state FROM {schema}.{table} WHERE originator_id = %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        params: list[Any] = [originator_id]
        if gt is not None:
            query += SQL(" AND originator_version > %s")
            params.append(gt)
        if lte is not None:
            query += SQL(" AND originator_version <= %s")
            params.append(lte)
        query += SQL(" ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC")
        if limit is not None:
            query += SQL(" LIMIT %s")
            params.append(limit)
        with self.datastore.get_connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as curs:
            curs.execute(query, params, prepare=True)
            return [
                StoredEvent(originator_id, version, topic, state) for version, topic, state in curs.fetchall()
            ]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._append, _columns(stored_events), prepare=True)
            ids = [row[0] for row in curs.fetchall()]
        _check_count(len(ids), len(stored_events))
        return ids

    @contextmanager
    def insert_stream(self) -> Iterator[InsertStream]:
        """One transaction fed in chunks: each chunk's insert starts on the server as it is sent
        (pipeline mode), while the caller prepares the next. Commits when the block ends without
        an error (then `positions` holds every position, in order); rolls back on one."""
        with self.datastore.get_connection() as conn:
            with conn.pipeline(), conn.transaction():
                stream = InsertStream(conn, self._append)
                yield stream
            stream.collect()


class InsertStream:
    """The open transaction of `insert_stream`: `send` chunks of events; positions after commit."""

    def __init__(self, conn: Connection[Any], statement: Composed) -> None:
        self._conn = conn
        self._statement = statement
        self._cursors: list[Cursor[tuple[Any, ...]]] = []
        self._sent = 0
        self.positions: list[int] = []

    def send(self, stored_events: Sequence[StoredEvent]) -> None:
        if stored_events:
            cursor = self._conn.cursor(row_factory=tuple_row)
            cursor.execute(self._statement, _columns(stored_events), prepare=True)
            self._cursors.append(cursor)
            self._sent += len(stored_events)

    def collect(self) -> None:
        self.positions = [row[0] for cursor in self._cursors for row in cursor.fetchall()]
        _check_count(len(self.positions), self._sent)


def _columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
    return (
        [e.originator_id for e in stored_events],
        [e.originator_version for e in stored_events],
        [e.topic for e in stored_events],
        [e.state for e in stored_events],
    )


def _check_count(stored: int, sent: int) -> None:
    if stored != sent:  # pragma: no cover - the function inserts all or raises
        msg = f"stored {stored} of {sent} events"
        raise IntegrityError(msg)
