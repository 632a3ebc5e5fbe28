"""Which store errors mean "busy, ask again" (503) and which are failures (500)."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool
from eventsourcing.persistence import ConnectionUnavailableError, OperationalError, ProgrammingError

from infra.store import store_busy


def raised(error: Exception, cause: BaseException) -> Exception:
    """`error` as the library raises it: from the driver's own exception."""
    try:
        raise error from cause
    except Exception as e:  # noqa: BLE001 - caught to be returned with its cause in place
        return e


def test_no_connection_or_lock_in_time_is_busy() -> None:
    assert store_busy(ConnectionUnavailableError("Timed out waiting for return of writer"))
    for cause in (
        psycopg_pool.PoolTimeout("couldn't get a connection after 10.00 sec"),
        psycopg_pool.TooManyRequests("the pool has already 5 requests waiting"),
        psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
        sqlite3.OperationalError("database is locked"),
    ):
        assert store_busy(raised(OperationalError(str(cause)), cause)), cause


def test_other_store_errors_are_failures() -> None:
    for error, cause in (
        (
            OperationalError("no such table: mirror_counts"),
            sqlite3.OperationalError("no such table: mirror_counts"),
        ),
        (ProgrammingError("syntax error"), psycopg.errors.SyntaxError("syntax error at or near")),
    ):
        assert not store_busy(raised(error, cause)), cause
