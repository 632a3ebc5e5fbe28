"""The reliability suite's quick subset, on the servers the test command started: each recipe
injects its fault with fewer trials and shorter loads, and what it guards must still hold.

`make reliability` runs the full recipes and reports their figures (docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from reliability.recipe import Env, Recipe, Result
from reliability.runner import markdown, recipes, write

RECIPES = recipes()
# Recipes whose quick run has a test of its own, with checks of its own figures (test_kafka_recipes.py,
# test_fuzz_recipe.py): run once, there.
OWN_TESTS = {"R3", "R4", "R7"}
GENERIC = [r for r in RECIPES if r.name not in OWN_TESTS]


def test_the_suite_finds_every_recipe_in_order() -> None:
    names = [r.name for r in RECIPES]
    assert {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R9"} <= set(names)
    assert names == sorted(names, key=lambda n: int(n[1:]))
    assert all(r.fault and r.must_hold for r in RECIPES)


@pytest.mark.parametrize("recipe", GENERIC, ids=[r.name for r in GENERIC])
def test_what_the_recipe_guards_holds_under_its_fault(recipe: Recipe, quick_recipe_env: Env) -> None:
    env = quick_recipe_env
    result = recipe.run(env)
    assert result.recipe == recipe.name
    assert result.figures, "a recipe reports what it measured"
    assert result.holds, "\n".join(result.failures)
    with psycopg.connect(env.pg_url) as conn:  # a recipe that crashed the server started it again
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_report_says_which_recipe_did_not_hold_and_why(tmp_path: Path) -> None:
    recipe = RECIPES[0]
    done = [
        (recipe, Result(recipe.name, True, {"kills": 3}), 1.0),
        (recipe, Result(recipe.name, False, {"kills": 2}, ["the view differs"]), 2.0),
    ]
    table = markdown(done, quick=True)
    write(tmp_path, "quick", done, table=table, quick=True)
    assert "| yes |" in table
    assert "| **NO** |" in table
    assert f"- {recipe.name}: the view differs" in table
    assert (tmp_path / "quick.md").read_text() == table
    assert '"holds": false' in (tmp_path / "quick.json").read_text()
