"""The quick subset of the reliability suite: each recipe run once, on the servers the test command starts."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from reliability.recipe import Env
from tests.conftest import database_url


@pytest.fixture
def quick_recipe_env(tmp_path: Path) -> Env:
    """What scripts/reliability gives a recipe, built from what scripts/test starts (quick=True):
    its PostgreSQL (pg.sh's DIR holds the data directory) and its Kafka broker."""
    url = database_url()
    kafka = os.environ.get("TRAJECT_TEST_KAFKA_BOOTSTRAP", "")
    kafka_dir = os.environ.get("TRAJECT_TEST_KAFKA_DIR", "")
    if not kafka or not kafka_dir:
        pytest.fail("the Kafka broker is not set: run the suite with `make test`", pytrace=False)
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    return Env(url, Path(row[0]).parent, kafka, Path(kafka_dir), tmp_path, quick=True)
