"""Rows on a big store: P1 (rebuild the mirror from 1M events), S1 (W1 at 10k vs 1M events stored)
and, derived from P1's runs, S1m (the rebuild's peak memory at 100k vs 1M events).

A big store is set up fast and outside the clock: the synthetic caseload (services.caseload) is
acted out on Journey aggregates in memory, exactly as `record_batch` would (same commands, same
domain rules, same events), each event is turned into its stored form by the service's own mapper
(infra.codec.TypedMapper), and the stored events are bulk-copied into PostgreSQL. That data set is
made once per suite run, in a schema of its own, and each row copies the prefix it needs into its
own event store (same table the service made, positions assigned in order by the table itself).

The child process (`python -m bench.growth rebuild ...`) times one rebuild and reports its own
peak memory: a worker's peak RSS only ever grows, so each size gets a fresh process.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from itertools import count
from pathlib import Path
from uuid import UUID

import psycopg
from psycopg import sql

from bench.core import Ctx, Run, Sample, for_seconds
from bench.project import JWT_SECRET, PSEUDONYM_KEY, by, container, settings, start_journeys, warm
from domain.journey import Journey
from infra.settings import Settings
from services.caseload import caseload
from services.commands import RecordStep, StartJourney
from services.journeys import JourneysApp

DATASET_SCHEMA = "bench_dataset"
REPO = Path(__file__).resolve().parent.parent


def dataset_size(ctx: Ctx) -> int:
    """Events in the shared data set: enough for every row's biggest store, in this mode."""
    return ctx.scale(50_000, 1_000_000)


def _generate(dsn: str, events: int, today: date, municipality: str) -> None:
    """Act out the caseload in memory and COPY the stored events, in recording order, into the data set.

    Journeys follow one another (all of one journey's events, then the next journey's), as the
    caseload yields them and as `traject demo` and W2 store them.
    """
    # A journeys application without a database: only its pseudonym key and its mapper are used.
    app = JourneysApp(
        {"PERSISTENCE_MODULE": "eventsourcing.popo", "MAPPER_TOPIC": "infra.codec:TypedMapper"},
        pseudonym_key=PSEUDONYM_KEY.encode(),
        municipality=municipality,
    )
    mapper = app.mapper
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(DATASET_SCHEMA)))
        table = sql.Identifier(DATASET_SCHEMA, "events")
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (seq bigserial PRIMARY KEY, originator_id uuid NOT NULL, "
                "originator_version bigint NOT NULL, topic text NOT NULL, state bytea NOT NULL)"
            ).format(table)
        )
        written = 0
        copy_sql = sql.SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(table)
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for items in caseload(journeys=10**8, today=today, seed=2024):
                journey: Journey | None = None
                for item in items:
                    command = item.command
                    if isinstance(command, StartJourney):
                        journey = Journey.start(
                            client_ref=app.pseudonym(municipality, command.client_reference),
                            municipality=municipality,
                            team=command.team,
                            initial_rung=command.initial_rung,
                            effective_date=command.effective_date,
                            by=item.by,
                        )
                    else:
                        assert journey is not None
                        command.apply_to(journey, item.by)
                assert journey is not None
                for event in journey.collect_events():
                    stored = mapper.to_stored_event(event)
                    copy.write_row(
                        (stored.originator_id, stored.originator_version, stored.topic, stored.state)
                    )
                    written += 1
                if written >= events:
                    break
        conn.execute(sql.SQL("ANALYZE {}").format(table))
    app.close()


def ensure_dataset(ctx: Ctx) -> int:
    """The shared data set, made by whichever row asks first (the others wait); answers its size."""
    wanted = dataset_size(ctx)
    marker = ctx.shared_dir / "dataset.json"
    with (ctx.shared_dir / "dataset.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return int(json.loads(marker.read_text())["events"])
        t0 = time.perf_counter()
        s = settings(ctx)
        _generate(ctx.dsn, wanted, _today(s), s.municipality)
        with psycopg.connect(ctx.dsn, autocommit=True) as conn:
            found = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(DATASET_SCHEMA, "events"))
            ).fetchone()
        size = int(found[0]) if found else 0
        marker.write_text(json.dumps({"events": size, "seconds": round(time.perf_counter() - t0, 1)}))
        return size


def _today(s: Settings) -> date:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    return datetime.now(UTC).astimezone(ZoneInfo(s.timezone)).date()


def load_prefix(ctx: Ctx, schema: str, events_table: str, events: int) -> None:
    """Copy the data set's first `events` stored events into `schema`'s event store, in order."""
    if events > dataset_size(ctx):
        msg = f"the data set holds {dataset_size(ctx)} events, {events} asked"
        raise ValueError(msg)
    ensure_dataset(ctx)
    target = sql.Identifier(schema, events_table)
    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state) "
                "SELECT originator_id, originator_version, topic, state FROM {} WHERE seq <= %s ORDER BY seq"
            ).format(target, sql.Identifier(DATASET_SCHEMA, "events")),
            (events,),
        )
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(target))


def fresh_schema(ctx: Ctx, schema: str) -> None:
    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def _drop_schema(ctx: Ctx, schema: str) -> None:
    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _k(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


# --- P1: rebuild the team-outcome projection -------------------------------------------------------


@contextmanager
def p1(ctx: Ctx) -> Iterator[Run]:
    """rebuild(app, container.mirror.view) over a store of 1M events (quick: 10k), timed in a child.

    Each run starts a fresh process that rebuilds the small store (100k events; quick: 1k) and then
    the big one, reporting its peak memory after each: S1m is the growth from one to the other. The
    value is the big rebuild's events/s. Under --profile the big rebuild runs in this process, and
    without worker processes, so that cProfile sees it.
    """
    big, small = ctx.scale(10_000, 1_000_000), ctx.scale(1_000, 100_000)
    small_schema = f"{ctx.schema}_small"
    fresh_schema(ctx, small_schema)
    try:
        for schema, events in ((ctx.schema, big), (small_schema, small)):
            with container(ctx, pg_schema=schema) as c:
                load_prefix(ctx, schema, c.journeys.recorder.events_table_name, events)
        ctx.notes.update(
            {"events": big, "small_events": small, "stored": "caseload order, journey after journey"}
        )
        ctx.notes["title"] = f"rebuild the team-outcome projection from {_k(big)} events"
        ctx.notes["S1m:title"] = f"growth: P1 peak memory, {_k(big)} vs {_k(small)} events"

        if ctx.profile:
            with container(ctx) as c:
                from infra.projection_runner import rebuild

                def in_process() -> Sample:
                    t0 = time.perf_counter()
                    done = rebuild(c.journeys, c.mirror.view, workers=1)  # no workers: cProfile sees all
                    return Sample(done / (time.perf_counter() - t0), {"units": float(done)})

                yield in_process
            return

        def run() -> Sample:
            little, large = _rebuild_child(ctx, [small_schema, ctx.schema])
            if large["events"] != big or little["events"] != small:
                msg = f"rebuilt {large['events']} and {little['events']} events, not {big} and {small}"
                raise RuntimeError(msg)
            return Sample(
                large["events"] / large["seconds"],
                {
                    "seconds": large["seconds"],
                    "peak_rss_mb": large["peak_rss_mb"],
                    "small_peak_rss_mb": little["peak_rss_mb"],
                    "own_peak_rss_mb": large["own_peak_rss_mb"],
                    "worker_peak_rss_mb": large["worker_peak_rss_mb"],
                    "workers": large["workers"],
                    "peak_growth_mb": large["peak_rss_mb"] - little["peak_rss_mb"],
                    "small_events_per_s": little["events"] / little["seconds"],
                    "units": float(large["events"]),
                },
            )

        yield run
    finally:
        _drop_schema(ctx, small_schema)


def _rebuild_child(ctx: Ctx, schemas: list[str]) -> list[dict[str, float]]:
    cmd = [
        sys.executable,
        "-m",
        "bench.growth",
        "rebuild",
        "--dsn",
        ctx.dsn,
        "--data-dir",
        str(ctx.work_dir / "var"),
    ]
    cmd += schemas
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        msg = f"the rebuild child failed ({done.returncode}): {' | '.join(tail)}"
        raise RuntimeError(msg)
    answer: list[dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _child(argv: Sequence[str]) -> int:
    """Rebuild each schema's mirror in turn, in this fresh process, smallest store first.

    For each: events, seconds, and this process's peak memory once it is done, plus the rebuild's
    worker processes (if it starts any; each counted as the biggest of them). A process's peak only
    grows, so the second store's peak less the first's is what the bigger store needs on top.
    """
    parser = argparse.ArgumentParser(prog="bench.growth")
    parser.add_argument("action", choices=["rebuild"])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("schemas", nargs="+")
    args = parser.parse_args(argv)
    from infra.container import build
    from infra.projection_runner import rebuild, rebuild_workers
    from infra.runtime import tune_gc

    tune_gc()  # as `traject projections rebuild` starts

    answers = []
    for schema in args.schemas:
        c = build(
            Settings(
                store="postgres",
                database_url=args.dsn,
                pg_schema=schema,
                data_dir=Path(args.data_dir),
                jwt_secret=JWT_SECRET,
                pseudonym_key=PSEUDONYM_KEY,
            )
        )
        try:
            workers = rebuild_workers(c.mirror.view, c.head_position())
            t0 = time.perf_counter()
            done = rebuild(c.journeys, c.mirror.view)
            seconds = time.perf_counter() - t0
        finally:
            c.close()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        # The rebuild's worker processes (if it started any) count too: each as the biggest of them.
        worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if workers > 1 else 0.0
        answers.append(
            {
                "events": done,
                "seconds": seconds,
                "peak_rss_mb": own + workers * worker if workers > 1 else own,
                "own_peak_rss_mb": own,
                "worker_peak_rss_mb": worker,
                "workers": workers,
            }
        )
    print(json.dumps(answers))
    return 0


# --- S1: W1 with 10k vs 1M events stored ---------------------------------------------------------------

S1_JOURNEYS = 1000  # W1's journeys in each store: 10 events each, so the small store is these alone


@contextmanager
def s1(ctx: Ctx) -> Iterator[Run]:
    """W1 on two stores in one process: 10k events (W1's journeys alone) and 1M (quick: 50k).

    Both stores hold the same 1000 journeys of 10 events that W1 writes to (warm in the cache, as
    in W1); the big one first holds the data set's events before them. A run alternates the two
    (small, big, big, small; each for half the run's seconds) and its value is big / small events/s.
    """
    small_n, big_n = S1_JOURNEYS * 10, ctx.scale(50_000, 1_000_000)
    big_schema = f"{ctx.schema}_big"
    fresh_schema(ctx, big_schema)
    try:
        with container(ctx) as small, container(ctx, pg_schema=big_schema) as large:
            load_prefix(ctx, big_schema, large.journeys.recorder.events_table_name, big_n - small_n)
            today = small.today()
            effective = today - timedelta(days=10)
            stores: dict[str, tuple[JourneysApp, list[UUID]]] = {}
            for name, c in (("small", small), ("big", large)):
                ids = start_journeys(c.journeys, today, S1_JOURNEYS, 10)
                warm(c.journeys, ids)
                stores[name] = (c.journeys, ids)
            ctx.notes.update({"small_events": small_n, "big_events": big_n, "journeys": S1_JOURNEYS})
            ctx.notes["title"] = f"growth: W1 with {_k(big_n)} vs {_k(small_n)} events stored"
            turns = {name: count() for name in stores}

            def one(name: str) -> int:
                app, ids = stores[name]
                n = next(turns[name])
                app.record(ids[n % len(ids)], RecordStep(1 + n % 6, effective), by(today))
                return 1

            def run() -> Sample:
                done = {"small": 0.0, "big": 0.0}
                elapsed = {"small": 0.0, "big": 0.0}
                for name in ("small", "big", "big", "small"):
                    sample = for_seconds(ctx.seconds / 2, lambda name=name: one(name))
                    units = sample.extras["units"]
                    done[name] += units
                    elapsed[name] += units / sample.value
                rates = {name: done[name] / elapsed[name] for name in done}
                return Sample(
                    rates["big"] / rates["small"],
                    {"small_events_per_s": rates["small"], "big_events_per_s": rates["big"]},
                )

            yield run
    finally:
        _drop_schema(ctx, big_schema)


def main(argv: Sequence[str] | None = None) -> int:
    return _child(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
