"""Many readers at once, and a store with no connection free: answered, or told to retry; never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from eventsourcing.sqlite import SQLiteDatastore
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import TokenCodec
from infra.container import Container, build
from infra.settings import Settings
from projections.months import month_of, previous_month
from tests.api.serving import served
from tests.infra.test_view_reads import writing
from tests.projections.test_mirror_view import load

Headers = Callable[..., dict[str, str]]


def months_back(month: str, n: int) -> str:
    for _ in range(n):
        month = previous_month(month)
    return month


def test_many_uncached_outcome_reads_at_once_never_fail_while_a_write_is_held_open(
    make_settings: Callable[..., Settings],
) -> None:
    container = build(make_settings())
    load(container, 60)
    container.mirror.catch_up()
    position = container.mirror.view.position()
    codec = TokenCodec(container.jwt_key, "HS256", "traject")
    headers = {"Authorization": f"Bearer {codec.issue('reader', 'reporting', ('noord',), 30)}"}
    this_month = month_of(container.today())
    # 64 different windows of twelve months: no answer is kept for another, each is computed.
    windows = [(months_back(this_month, i + 11), months_back(this_month, i)) for i in range(64)]

    async def ask_at_once(url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
            return await asyncio.gather(
                *(http.get("/v1/outcomes", params={"from": f, "to": t}, headers=headers) for f, t in windows)
            )

    try:
        with served(container) as url, writing(container, position + 1000):
            answers = asyncio.run(ask_at_once(url))
    finally:
        container.close()
    # Each is answered, or (on a machine too busy to lend a connection within the pool's timeout)
    # told to come back: never a 500.
    answered = [a for a in answers if a.status_code == 200]
    for busy in (a for a in answers if a.status_code != 200):
        assert_store_busy(busy)
    assert answered, "not one answered"
    assert len({(a.json()["first"], a.json()["last"]) for a in answered}) == len(answered)
    assert {a.json()["position"] for a in answered} == {position}  # what is committed


def assert_store_busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "1"


@contextmanager
def exhausted(container: Container) -> Iterator[None]:
    """Every connection of the store's pool lent out, and a short wait for one (then it gives up)."""
    datastore: Any = container.journeys.recorder.datastore
    if isinstance(datastore, SQLiteDatastore):
        pool: Any = datastore.pool
        pool.pool_timeout = 0.3
        held = [pool.get_connection(is_writer=False) for _ in range(pool.pool_size + pool.max_overflow)]
        try:
            yield
        finally:
            for connection in held:
                pool.put_connection(connection)
        return
    pg_pool = datastore.pool
    pg_pool.open(wait=True)
    pg_pool.timeout = 0.3
    lent = [pg_pool.getconn() for _ in range(pg_pool.max_size)]
    try:
        yield
    finally:
        for connection in lent:
            pg_pool.putconn(connection)


def test_a_store_with_no_connection_free_answers_503_with_retry_after(
    container: Container, token_for: Headers
) -> None:
    client = TestClient(create_app(container))  # no lifespan: no runner competing for connections
    with exhausted(container):
        response = client.get("/v1/outcomes", headers=token_for("reporting"))
    assert_store_busy(response)
    assert client.get("/v1/outcomes", headers=token_for("reporting")).status_code == 200  # and after it
