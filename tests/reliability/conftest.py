"""The quick subset of the reliability suite: each recipe run once, on the servers the test command starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reliability.recipe import Env


def _server(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: run the suite with `make test`, which starts it", pytrace=False)
    return value


@pytest.fixture
def quick_recipe_env(tmp_path: Path) -> Env:
    """What scripts/reliability gives a recipe, built from what scripts/test starts (quick=True).

    pg_dir is only a scratch directory: none of the recipes run here restarts PostgreSQL.
    """
    return Env(
        pg_url=_server("TRAJECT_TEST_DATABASE_URL"),
        pg_dir=tmp_path,
        kafka_bootstrap=_server("TRAJECT_TEST_KAFKA_BOOTSTRAP"),
        kafka_dir=Path(_server("TRAJECT_TEST_KAFKA_DIR")),
        work=tmp_path,
        quick=True,
    )
