"""R3 and R4 in their quick form: the worker against a real broker and PostgreSQL, faults injected."""

from __future__ import annotations

import pytest

from reliability import r3_kafka, r4_duplicates
from reliability.recipe import Env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_a_broker_killed_mid_ingest_and_mid_relay_loses_doubles_and_reorders_nothing(
    quick_recipe_env: Env,
) -> None:
    result = r3_kafka.RECIPE.run(quick_recipe_env)
    assert result.holds, "\n".join(result.failures)
    assert result.figures["stored"] > 0
    assert result.figures["dead_lettered"] == result.figures["produced_bad"] > 0


def test_messages_delivered_again_and_again_are_stored_once(quick_recipe_env: Env) -> None:
    result = r4_duplicates.RECIPE.run(quick_recipe_env)
    assert result.holds, "\n".join(result.failures)
    assert result.figures["messages_read"] >= 4 * result.figures["facts"] > 0
