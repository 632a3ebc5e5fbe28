"""The event store: which database, how the library is told, and the few queries it lacks."""

from __future__ import annotations

import fcntl
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing.persistence import ApplicationRecorder, ConnectionUnavailableError, PersistenceError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from infra.settings import Settings

StoreError = PersistenceError  # what the event store library raises when the database fails it


def library_env(settings: Settings) -> dict[str, str]:
    """Translate our settings into the `eventsourcing` library's environment."""
    env = {
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        "MAPPER_TOPIC": "infra.codec:TypedMapper",  # compact JSON, typed back on reading
        # The journeys application locks and refreshes cached journeys itself (services/journeys.py).
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }
    if settings.store == "sqlite":
        path = settings.sqlite_file
        path.parent.mkdir(parents=True, exist_ok=True)
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "10",
        }
        return env
    if not settings.database_url:
        msg = "TRAJECT_STORE=postgres needs TRAJECT_DATABASE_URL"
        raise ValueError(msg)
    url = urlparse(settings.database_url)
    env |= {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/") or "traject",
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "traject"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(settings.pg_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.pg_pool_size),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "n",  # a broken connection is retried by the recorder; no ping per write
        # One round trip per write, positions visible in order (infra/pg_recorder.py).
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
        "APPLICATION_RECORDER_TOPIC": "infra.pg_recorder:LockingFunctionRecorder",
    }
    if settings.pg_schema:
        env["POSTGRES_SCHEMA"] = settings.pg_schema
    return env


@contextmanager
def schema_setup(settings: Settings) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock for this schema while tables and functions are created.

    API processes and a worker that start together on a fresh database would otherwise race on
    the same CREATE statements (PostgreSQL answers "tuple concurrently updated"); one at a time,
    the later ones find everything in place. On SQLite a file lock beside the database does the
    same (SQLite refuses a second writer's schema change with "database is locked").
    """
    if settings.store == "sqlite":
        path = settings.sqlite_file
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_name(path.name + ".setup-lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        return
    if not settings.database_url:
        yield
        return
    key = f"traject schema {settings.pg_schema or 'public'}"
    with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def local_secret(settings: Settings, name: str, configured: str) -> bytes:
    """A configured secret, or one generated once and kept under the data dir (embedded use)."""
    if configured:
        return configured.encode()
    path = Path(settings.data_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip().encode()


class SqlPositions:
    """Looks up the global position (notification id) of a stored event.

    Table names are the recorder's own identifiers, never input, hence the f-strings.
    """

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder

    def position_of(self, journey_id: UUID, version: int) -> int | None:
        recorder = self.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            schema = recorder.datastore.schema or "public"
            table = f'"{schema}"."{recorder.events_table_name}"'
            sql = f"SELECT notification_id FROM {table} WHERE originator_id = %s AND originator_version = %s"  # noqa: S608
            with recorder.datastore.get_connection() as conn:
                row = conn.execute(sql, (journey_id, version)).fetchone()
            return int(row["notification_id"]) if row else None
        if isinstance(recorder, SQLiteApplicationRecorder):
            table = recorder.events_table_name
            sql = f"SELECT rowid FROM {table} WHERE originator_id = ? AND originator_version = ?"  # noqa: S608
            with recorder.datastore.transaction(commit=False) as curs:
                curs.execute(sql, (journey_id.hex, version))
                found = curs.fetchone()
            return int(found[0]) if found else None
        return None


def ping(recorder: ApplicationRecorder) -> int:
    """The head position; raises if the store does not answer."""
    return recorder.max_notification_id() or 0


def store_busy(error: BaseException) -> bool:
    """Whether `error` says the store is busy, not broken: no connection came free within the pool's
    timeout, or a lock was not granted within the lock timeout. Asking again shortly may succeed."""
    if isinstance(error, ConnectionUnavailableError):  # the library's own pool (SQLite)
        return True
    cause = error.__cause__
    if isinstance(
        cause, psycopg_pool.PoolTimeout | psycopg_pool.TooManyRequests | psycopg.errors.LockNotAvailable
    ):
        return True
    return isinstance(cause, sqlite3.OperationalError) and str(cause).startswith(
        ("database is locked", "database is busy")
    )
