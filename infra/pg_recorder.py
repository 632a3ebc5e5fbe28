"""The PostgreSQL event recorder, one round trip per write, with readers' order kept.

The library's default recorder sends a lock, a notify and the insert as separate statements in a
transaction; its database-function option sends one statement but takes no table lock, so two
writers could commit positions out of order and a reader following the log could skip one. This
recorder's function does both: it locks the table, inserts and returns the positions in a single
statement (one round trip, committed on return), so positions become visible in order, without
gaps a reader could pass over.
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier


class LockingFunctionRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.pg_function_name_insert_events = f"traject_insert_events_{datastore.originator_id_type}"
        self.sql_invoke_pg_function_insert_events = SQL("SELECT * FROM {schema}.{insert_events}((%s))").format(
            schema=Identifier(datastore.schema),
            insert_events=Identifier(self.pg_function_name_insert_events),
        )
        self.sql_create_statements[self.create_insert_function_statement_index] = SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{insert_events}(events {schema}.{event}[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "BEGIN "
            "  SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "  NOTIFY {channel}; "
            "  RETURN QUERY INSERT INTO {schema}.{table} AS t "
            "    (originator_id, originator_version, topic, state) "
            "    SELECT originator_id, originator_version, topic, state FROM unnest(events) "
            "    RETURNING notification_id; "
            "END; $BODY$"
        ).format(
            insert_events=Identifier(self.pg_function_name_insert_events),
            lock_timeout=datastore.lock_timeout,
            channel=Identifier(self.channel_name),
            event=Identifier(self.stored_event_type_name),
            schema=Identifier(datastore.schema),
            table=Identifier(self.events_table_name),
        )
