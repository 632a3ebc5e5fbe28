"""R9's load, in a process of its own (so its memory is the service's and this load's alone): W1c's
shape (16 writer threads recording through one JourneysApp, as the benchmark does), paced to a rate.

    python -m reliability.soak_load --rate 1750 --seconds 600 --window 60   (TRAJECT_* says where)

Each writer starts a journey, records 9 ladder steps on it, and goes on to a new one, so the set of
journeys grows as in a real caseload and the aggregate cache fills and then turns over. Every window
prints one JSON line: ops, rate, p50/p99 latency of one write, and this process's resident memory.
Rate 0 means as fast as it goes (to measure W1c's rate here when the benchmark has not run).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from uuid import uuid4

import orjson

from domain.journey import Provenance
from infra.container import build
from infra.runtime import tune_gc
from infra.settings import Settings
from reliability.support import TEAM, rss_mb
from services.commands import RecordStep, StartJourney

WRITERS = 16
STEPS = 9  # facts per journey after its start


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, required=True, help="events/s for all writers; 0: flat out")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--window", type=float, required=True)
    args = parser.parse_args(argv)
    tune_gc()  # as every traject process starts
    container = build(Settings(pg_pool_size=WRITERS))
    app, today = container.journeys, container.today()
    begin = today - timedelta(days=400)
    latencies: list[float] = []
    errors: list[str] = []
    acked = [0] * WRITERS
    lock = threading.Lock()
    end = time.monotonic() + args.seconds
    interval = WRITERS / args.rate if args.rate else 0.0

    def writer(w: int) -> None:
        due = time.monotonic() + interval * w / WRITERS  # writers spread over one interval
        n = 0
        try:
            while (now := time.monotonic()) < end:
                if due > now:
                    time.sleep(due - now)
                due += interval
                by = Provenance(uuid4(), "r9", "caseworker", today)
                t0 = time.perf_counter()
                if n % (STEPS + 1) == 0:
                    journey = app.start(StartJourney(f"R9-{w}-{n}", TEAM, 2, begin), by).journey_id
                else:
                    step = n % (STEPS + 1)
                    app.record(journey, RecordStep(2 + step % 3, begin + timedelta(days=10 * step)), by)
                took = time.perf_counter() - t0
                with lock:
                    latencies.append(took)
                acked[w] += 1
                n += 1
        except Exception as error:  # noqa: BLE001 - reported on stdout; the parent fails the recipe
            errors.append(repr(error))

    threads = [threading.Thread(target=writer, args=(w,), name=f"r9-writer-{w}") for w in range(WRITERS)]
    for t in threads:
        t.start()
    report(threads, latencies, lock, args.window)
    container.close()
    print(orjson.dumps({"acked": sum(acked), "errors": errors}).decode(), flush=True)
    return 1 if errors else 0


def report(
    threads: list[threading.Thread], latencies: list[float], lock: threading.Lock, every: float
) -> None:
    """Print one line per window until the writers end: ops, rate, latency, resident memory."""
    window = 0
    while any(t.is_alive() for t in threads):
        started = time.monotonic()
        while time.monotonic() - started < every and any(t.is_alive() for t in threads):
            time.sleep(0.05)
        with lock:
            taken, latencies[:] = list(latencies), []
        elapsed = time.monotonic() - started
        line = {
            "window": window,
            "ops": len(taken),
            "rate": round(len(taken) / elapsed, 1),
            "p50_ms": round(percentile(taken, 50) * 1000, 2),
            "p99_ms": round(percentile(taken, 99) * 1000, 2),
            "rss_mb": round(rss_mb(os.getpid()) or 0.0, 1),
        }
        print(orjson.dumps(line).decode(), flush=True)
        window += 1


if __name__ == "__main__":
    sys.exit(main())
