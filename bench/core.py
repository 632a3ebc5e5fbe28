"""What a benchmark row is, what one run of it returns, and the loops that time it.

A row's `measure` is a context manager: it sets up (outside the clock), yields a callable that
performs ONE timed run and returns a `Sample`, and tears down afterwards. The harness calls that
callable once to warm up and then `runs` times, in a fresh worker process per row.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

Better = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One timed run: the row's value in its unit, plus named side measurements (e.g. p99_ms)."""

    value: float
    extras: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ctx:
    """Everything a row may use. Each row gets a fresh, empty PostgreSQL schema of its own."""

    dsn: str  # postgresql://user@host:port/db
    schema: str  # already created, empty, only this row's
    quick: bool
    runs: int  # timed runs the harness will ask for (plus one warm-up run before them)
    seconds: float  # wall time of one timed run (time-bound rows)
    http_seconds: float  # duration of one load-generator run (HTTP rows)
    connections: int  # concurrent HTTP connections for HTTP rows
    work_dir: Path  # scratch directory for this row
    profile: bool = False  # the timed runs are under cProfile: keep the work in this process
    notes: dict[str, str | float] = field(default_factory=dict)  # facts about the set-up, reported

    @property
    def shared_dir(self) -> Path:
        """Scratch space every row of this suite run shares (e.g. the lock for a shared data set)."""
        path = self.work_dir.parent / "shared"
        path.mkdir(exist_ok=True)
        return path

    def scale(self, quick: int, full: int) -> int:
        """A size that depends on the mode (quick runs must finish the suite in under a minute)."""
        return quick if self.quick else full

    def library_env(self, **extra: str) -> dict[str, str]:
        """The `eventsourcing` library's environment for this row's schema, library defaults otherwise."""
        url = urlparse(self.dsn)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/"),
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or ""),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": self.schema,
        }
        return env | extra


Run = Callable[[], Sample]
Measure = Callable[[Ctx], AbstractContextManager[Run]]


@dataclass(frozen=True, slots=True)
class Target:
    """What a row must reach: a ratio to its baseline, and/or an absolute limit in its own unit.

    For a "higher is better" row the value (or ratio) must be at least the target; for "lower", at most.
    """

    ratio: float | None = None
    limit: float | None = None
    strict: bool = False  # the limit itself fails ("< 50 MB" rather than "<= 50 MB")

    def describe(self, better: Better, unit: str) -> str:
        sign = ">=" if better == "higher" else "<="
        parts = []
        if self.ratio is not None:
            parts.append(f"{sign} {self.ratio:g}x")
        if self.limit is not None:
            parts.append(f"{sign.rstrip('=') if self.strict else sign} {self.limit:g} {unit}")
        return " and ".join(parts)

    def met(self, better: Better, value: float, ratio: float | None) -> bool | None:
        """True or False when it can be judged; None when a needed number is missing."""
        checks: list[bool] = []
        if self.ratio is not None:
            if ratio is None:
                return None
            checks.append(ratio >= self.ratio if better == "higher" else ratio <= self.ratio)
        if self.limit is not None:
            if value == self.limit:
                checks.append(not self.strict)
            else:
                checks.append(value > self.limit if better == "higher" else value < self.limit)
        return all(checks) if checks else None


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table. `measure=None` makes a placeholder that prints "not measured: todo"."""

    name: str
    title: str
    unit: str
    measure: Measure | None
    baseline: str | None = None
    target: Target | None = None
    better: Better = "higher"
    kind: Literal["baseline", "project"] = "project"
    todo: str = ""  # why a placeholder is not measured yet
    http: bool = False  # needs the HTTP load generator
    # The baseline's side measurement this row's value is compared with (None: the baseline's value),
    # e.g. Q1's p99 against WEB's p99 (extras "p99_ms"), while WEB's own value stays req/s.
    compare: str | None = None
    runs: int | None = None  # at most this many timed runs (long rows); None: the mode's count
    warmup: bool = True  # False: no warm-up run (a run long enough to need none, e.g. a 1M rebuild)
    # A row computed from another row's runs rather than measured itself: (row, side measurement).
    # Each of that row's runs gives this row one value (e.g. S1m from P1's peak memory at two sizes).
    derived: tuple[str, str] | None = None


# --- timing loops -------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation), as load generators report it."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def for_seconds(seconds: float, op: Callable[[], int]) -> Sample:
    """Repeat `op` (which returns how many units it processed) until `seconds` have passed.

    Reports units per second, the client process's CPU per unit (all threads), and per-op latency.
    """
    latencies: list[float] = []
    done = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    now = start
    while True:
        done += op()
        after = time.perf_counter()
        latencies.append(after - now)
        now = after
        if now - start >= seconds:
            break
    return _sample(done, now - start, time.process_time() - cpu0, latencies)


def for_ops(ops: Iterator[Callable[[], int]]) -> Sample:
    """Run a fixed list of ops (rows whose work is prepared in advance, such as batches to ingest)."""
    latencies: list[float] = []
    done = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    now = start
    for op in ops:
        done += op()
        after = time.perf_counter()
        latencies.append(after - now)
        now = after
    return _sample(done, now - start, time.process_time() - cpu0, latencies)


def ms_per_op(sample: Sample) -> Sample:
    """A latency row's run from a run of one-unit ops: the median (p50) time of one op in ms.

    The mean (1000 / ops per second) and the p99 stay beside it as side measurements.
    """
    extras = dict(sample.extras)
    extras["mean_ms"] = 1000 / sample.value
    extras["ops_per_s"] = sample.value
    return Sample(extras["op_p50_ms"], extras)


def _sample(done: int, elapsed: float, cpu: float, latencies: list[float]) -> Sample:
    if done == 0 or not latencies:
        msg = "a run did no work"
        raise RuntimeError(msg)
    return Sample(
        done / elapsed,
        {
            "op_p50_ms": percentile(latencies, 50) * 1000,
            "op_p99_ms": percentile(latencies, 99) * 1000,
            "client_cpu_us_per_unit": cpu / done * 1e6,
            "units": float(done),
        },
    )


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))
