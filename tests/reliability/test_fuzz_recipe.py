"""R7 in its quick form: the API served for real, fuzzed from its OpenAPI document as every role."""

from __future__ import annotations

import pytest

from reliability import r7_fuzz
from reliability.recipe import Env

pytestmark = pytest.mark.postgres


def test_the_api_fuzzed_as_every_role_answers_as_documented_and_never_with_5xx(quick_recipe_env: Env) -> None:
    result = r7_fuzz.RECIPE.run(quick_recipe_env)
    assert result.holds, "\n".join(result.failures)
    for backend in ("sqlite", "postgres"):
        assert result.figures[f"{backend}_operations"] > 0
        for role, _ in r7_fuzz.CALLERS:
            assert result.figures[f"{backend}_requests_{role}"] > 0
