"""What every reliability recipe receives and returns.

A recipe is a module `reliability/rN_<name>.py` with `RECIPE = Recipe(...)`: it records every
acknowledged operation, injects its fault, and checks the final state against that record. It
never asserts timings; it reports figures (counts, seconds, drift) for docs/reliability.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg


@dataclass(frozen=True)
class Env:
    """The servers a run started (scripts/reliability): a real PostgreSQL and a real Kafka broker."""

    pg_url: str  # superuser-like role `traject` on a throwaway server
    pg_dir: Path  # for infra/pg/pg.sh stop|start (a recipe may crash and restart the server)
    kafka_bootstrap: str
    kafka_dir: Path  # for infra/kafka/kafka.sh stop|start (a recipe may stop and start the broker)
    work: Path  # scratch space for this run
    quick: bool  # the subset that `make test` runs: fewer trials, shorter loads

    def schema(self) -> str:
        """A fresh PostgreSQL schema for one recipe (set TRAJECT_PG_SCHEMA to it)."""
        name = f"r_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return name


@dataclass
class Result:
    recipe: str  # "R1"
    holds: bool  # the guarantee held on every check
    figures: dict[str, float | int | str] = field(default_factory=dict)  # what was measured
    failures: list[str] = field(default_factory=list)  # each check that did not hold, in words


@dataclass(frozen=True)
class Recipe:
    name: str  # "R1"
    fault: str  # what is injected, in words
    must_hold: str  # the guarantee checked, in words
    run: Callable[[Env], Result]
    proves: str = ""  # docs/reliability.md: what a pass shows
    does_not_prove: str = ""  # and what it does not (one SIGKILL is not a power loss)
