"""THE table of rows: every benchmark, its baseline, and the target it must reach (the issue's table).

To add a project row: write a `measure` context manager (see bench/project.py: set up, yield one
timed run returning a Sample, tear down) and put it in the row's `measure=`. A row without a
measure prints "not measured: <todo>", never a number.

`baseline` names another row measured in the same run on the same server; the ratio is this row's
median over the baseline's median (or over the median of the baseline's side measurement named by
`compare`, e.g. Q1's p99 against WEB's p99). Targets are written as ratios to the baseline
(`Target(ratio=)`) and/or absolute limits in the row's unit (`Target(limit=)`); "lower is better"
rows flip the comparison.
"""

from __future__ import annotations

from bench import baselines, ceiling, growth, inbound, library, project
from bench.core import Row, Target

ROWS: tuple[Row, ...] = (
    # --- baselines: the server, the library and the web framework on their own -----------------
    Row("R1", "raw INSERT, one per durable commit", "events/s", baselines.r1, kind="baseline"),
    Row("R100", "raw INSERT, 100 rows per transaction", "events/s", baselines.r100, "R1", kind="baseline"),
    Row("RREAD", "raw read in position order, pages of 1000", "rows/s", baselines.rread, kind="baseline"),
    Row(
        "RFETCH1000",
        "raw SELECT of one journey's 1000 rows",
        "ms",
        baselines.rfetch1000,
        kind="baseline",
        better="lower",
    ),
    Row("LNEW", "library: one save per new aggregate", "events/s", library.lnew, "R1", kind="baseline"),
    Row("LCMD", "library: get + command + save (10 prior)", "events/s", library.lcmd, "R1", kind="baseline"),
    Row("L100", "library: save() of 100 new aggregates", "events/s", library.l100, "R100", kind="baseline"),
    Row(
        "LREAD",
        "library: read + decode notification log",
        "events/s",
        library.lread,
        "RREAD",
        kind="baseline",
    ),
    Row("WEB", "FastAPI trivial route, uvicorn, wrk", "req/s", ceiling.web, kind="baseline", http=True),
    # --- project rows ---------------------------------------------------------------------------
    Row("W1", "one event on an existing journey, 1 writer", "events/s", project.w1, "R1", Target(ratio=0.35)),
    Row("W1c", "the same, 16 concurrent writers", "events/s", project.w1c, "R1", Target(ratio=1.0)),
    Row("W2", "batch ingest, 500 events a batch", "events/s", project.w2, "R100", Target(ratio=1.0)),
    Row(
        "W3",
        "HTTP POST of one event, concurrent clients",
        "req/s",
        project.w3,
        "WEB",
        Target(ratio=0.5),
        http=True,
    ),
    Row("K1", "Kafka: produce N events until all stored", "events/s", inbound.k1, "R100", Target(ratio=0.5)),
    Row(
        "P1",
        "rebuild the team-outcome projection from 1M events",
        "events/s",
        growth.p1,
        "RREAD",
        Target(ratio=0.25),
        warmup=False,
    ),
    Row(
        "A1",
        "audit replay of a 1000-event journey (cold)",
        "ms",
        project.a1,
        "RFETCH1000",
        Target(ratio=3.0, limit=10.0),
        better="lower",
    ),
    Row(
        "Q1",
        "team outcomes GET under load, p99",
        "ms",
        project.q1,
        "WEB",
        Target(ratio=2.0),
        better="lower",
        http=True,
        compare="p99_ms",
    ),
    Row(
        "S1",
        "growth: W1 with 1M vs 10k events stored",
        "x",
        growth.s1,
        target=Target(limit=0.8),
    ),
    Row(
        "S1m",
        "growth: P1 peak memory, 1M vs 100k events",
        "MB",
        None,
        target=Target(limit=50.0, strict=True),
        better="lower",
        derived=("P1", "peak_growth_mb"),
    ),
)

BY_NAME = {row.name: row for row in ROWS}
assert len(BY_NAME) == len(ROWS), "row names must be unique"
assert all(r.baseline is None or r.baseline in BY_NAME for r in ROWS), "a baseline must be a row"
assert all(r.derived is None or r.derived[0] in BY_NAME for r in ROWS), "a derived row needs its source"
