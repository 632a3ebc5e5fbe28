"""The view is read without its writer: reads answer while a write transaction is held open.

On SQLite the event store library lends one writer connection at a time; a read that took it would
wait behind every write (and fail after the pool's timeout, as concurrent outcome reads once did).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

from infra.container import Container
from tests.projections.test_mirror_view import load


@contextmanager
def writing(container: Container, position: int) -> Iterator[None]:
    """Hold the write side open: the view's tracking row updated to `position`, not committed."""
    view = container.mirror.view
    datastore: Any = container.journeys.recorder.datastore
    with _write_transaction(datastore) as cursor:
        update = f"UPDATE {view.tracking} SET position = ? WHERE name = ?"  # noqa: S608 - our own table
        cursor.execute(view._q(update), (position, view.name))
        yield


@contextmanager
def _write_transaction(datastore: Any) -> Iterator[Any]:
    if isinstance(datastore, SQLiteDatastore):
        datastore.pool.pool_timeout = 0.5  # a read that waited for the writer would fail, not hang
        with datastore.get_connection(commit=True) as writer, writer.transaction(commit=False) as cursor:
            yield cursor
    else:
        with datastore.transaction(commit=False) as cursor:
            yield cursor


def test_the_view_answers_reads_while_its_writer_is_held(container: Container) -> None:
    load(container, 20)
    container.mirror.catch_up()
    view = container.mirror.view
    position, rows = view.position(), view.rows("2000-01", "9999-12")
    assert position > 0
    with writing(container, position + 1000):
        assert view.progress() == (position, None)  # what is committed, not what is being written
        assert view.rows("2000-01", "9999-12") == rows
        assert view.mark()[0] == position
        assert container.await_position(None, 1) == position
