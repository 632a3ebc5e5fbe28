"""Shared fixtures: every store-backed test runs on SQLite and on the real PostgreSQL server.

The test command (scripts/test) starts PostgreSQL and exports TRAJECT_TEST_DATABASE_URL. A test
that needs it and does not find it fails: a missing server is a broken run, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import TokenCodec
from infra.container import Container, build
from infra.settings import Settings
from services.journeys import JourneysApp

BACKENDS = ("sqlite", "postgres")
TEAMS = (
    "noord:Team Noord,zuid:Team Zuid,oost:Team Oost,centrum:Team Centrum"  # registered in every test store
)


def database_url() -> str:
    url = os.environ.get("TRAJECT_TEST_DATABASE_URL", "")
    if not url:
        pytest.fail(
            "TRAJECT_TEST_DATABASE_URL is not set: run the suite with `make test`, which starts PostgreSQL",
            pytrace=False,
        )
    return url


@pytest.fixture
def pg_schema() -> Iterator[Callable[[], str]]:
    """Make fresh PostgreSQL schemas for one test, dropped after it."""
    made: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(database_url(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        made.append(name)
        return name

    yield make
    if made:
        with psycopg.connect(database_url(), autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings(backend: str, tmp_path: Path, pg_schema: Callable[[], str]) -> Callable[..., Settings]:
    """Settings for a fresh, empty store on this test's backend."""
    schema = pg_schema() if backend == "postgres" else ""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "store": backend,
            "data_dir": tmp_path / "var",
            "jwt_secret": "test-secret-of-sufficient-length-0123456789",
            "pseudonym_key": "test-pseudonym-key",
            "municipality": "Amersfoort",
            "teams": TEAMS,
        }
        if backend == "postgres":
            values |= {"database_url": database_url(), "pg_schema": schema, "pg_pool_size": 4}
        values |= overrides
        return Settings(**values)

    return make


@pytest.fixture
def in_memory() -> Iterator[Callable[[], JourneysApp]]:
    """Journeys applications on the library's in-memory store (the fast tier's store), closed after."""
    made: list[JourneysApp] = []

    def make() -> JourneysApp:
        env = {"PERSISTENCE_MODULE": "eventsourcing.popo", "MAPPER_TOPIC": "infra.codec:TypedMapper"}
        made.append(JourneysApp(env, pseudonym_key=b"test-pseudonym-key", municipality="Amersfoort"))
        return made[-1]

    yield make
    for app in made:
        app.close()


@pytest.fixture
def container(make_settings: Callable[..., Settings]) -> Iterator[Container]:
    c = build(make_settings())
    yield c
    c.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as c:
        yield c


@pytest.fixture
def token_for(container: Container) -> Callable[..., dict[str, str]]:
    """Authorization headers for a role and its teams."""
    codec = TokenCodec(container.jwt_key, "HS256", "traject")

    def headers(role: str = "caseworker", *teams: str, subject: str = "tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {codec.issue(subject, role, teams or ('noord',), 30)}"}

    return headers


def days_ago(n: int) -> date:
    return date.today() - timedelta(days=n)


def new_id() -> str:
    return str(uuid.uuid4())


# The integration tier: tests that use a store on disk (a `tmp_path` holds one), PostgreSQL, Kafka
# or another process.
# Everything else is the fast tier (`make test-fast`, `pytest -m "not integration"`): the domain,
# the codec and golden fixtures, and services on the library's in-memory store, in seconds.
_INTEGRATION_FIXTURES = frozenset(
    {
        "backend",
        "make_settings",
        "container",
        "client",
        "pg_schema",
        "kafka_bootstrap",
        "kafka_dir",
        "tmp_path",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        marked = {m.name for m in item.iter_markers()}
        if uses & _INTEGRATION_FIXTURES or marked & {"postgres", "kafka", "integration"}:
            item.add_marker(pytest.mark.integration)
