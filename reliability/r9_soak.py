"""R9: a soak at half of W1c's throughput (10 minutes; quick: 20 s): latency and memory stay flat.

W1c's rate is the benchmark's last full run (bench/results/latest.json) when there is one, else
measured here for a few seconds. The load runs in a process of its own (reliability/soak_load.py),
W1c's shape: 16 writer threads through one JourneysApp, each journey a start and 9 steps.

Flat means: the median p99 of the last three windows is at most 1.5x that of windows 2-4, and the
last window's resident memory at most 20% above window 2's. Window 1 is the warm-up (the aggregate
cache filling, the allocator growing) and is reported, not judged. A quick run is too short for
drift to mean anything: it reports the figures and checks only that every write was stored.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from reliability.recipe import Env, Recipe, Result
from reliability.support import REPO, drop_schema, process_env, settings, stored_events

P99_TOLERANCE = 1.5  # x
RSS_TOLERANCE = 0.20  # +20%
BENCH = REPO / "bench" / "results" / "latest.json"


def w1c_rate(env: Env, schema: str) -> tuple[float, str]:
    """W1c's events/s: the benchmark's last full run, else a 5-second flat-out run of the same load."""
    if BENCH.exists():
        report = json.loads(BENCH.read_text())
        for row in report.get("rows", []):
            if row.get("name") == "W1c" and row.get("value") and not report.get("quick"):
                return float(row["value"]), "bench/results/latest.json"
    lines, _ = load(env, schema, 0, 5, 5)
    return float(lines[0]["rate"]), "measured here (5 s flat out)"


def load(
    env: Env, schema: str, rate: float, seconds: float, window: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run reliability.soak_load; answers its windows and its closing line (acked, errors)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reliability.soak_load",
            f"--rate={rate}",
            f"--seconds={seconds}",
            f"--window={window}",
        ],
        env=process_env(settings(env, schema)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines or "acked" not in lines[-1]:
        msg = f"the soak load failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-2000:]}"
        raise RuntimeError(msg)
    return lines[:-1], lines[-1]


def run(env: Env) -> Result:
    seconds, window = (20.0, 4.0) if env.quick else (600.0, 60.0)
    result = Result("R9", True)
    schema = env.schema()
    try:
        w1c, source = w1c_rate(env, schema)
        drop_schema(env, schema)
        schema = env.schema()
        windows, closing = load(env, schema, w1c / 2, seconds, window)
        stored = len(stored_events(env, schema))
    finally:
        drop_schema(env, schema)
    windows = [w for w in windows if w["ops"]]  # a last sliver of a window after the writers ended
    if closing["errors"]:
        result.failures.append(f"writes failed: {closing['errors'][:3]}")
    if stored != closing["acked"]:
        result.failures.append(f"{closing['acked']} writes acknowledged, {stored} stored")
    p99 = [float(w["p99_ms"]) for w in windows]
    rss = [float(w["rss_mb"]) for w in windows]
    judged = windows[1:]
    base_p99 = statistics.median(p99[1:4]) if len(judged) >= 3 else p99[0]
    last_p99 = statistics.median(p99[-3:])
    base_rss = rss[1] if len(rss) > 1 else rss[0]
    p99_drift, rss_drift = last_p99 / base_p99, (rss[-1] - base_rss) / base_rss
    if not env.quick:
        if p99_drift > P99_TOLERANCE:
            result.failures.append(f"p99 drifted {p99_drift:.2f}x (over {P99_TOLERANCE}x)")
        if rss_drift > RSS_TOLERANCE:
            result.failures.append(f"memory grew {rss_drift:+.0%} (over +{RSS_TOLERANCE:.0%})")
    ops = sum(int(w["ops"]) for w in windows)
    result.figures = {
        "w1c_events_per_s": round(w1c),
        "w1c_from": source,
        "target_per_s": round(w1c / 2),
        "achieved_per_s": round(ops / sum(float(w["ops"]) / float(w["rate"]) for w in windows)),
        "seconds": seconds,
        "events": stored,
        "p99_ms_by_window": " ".join(f"{v:g}" for v in p99),
        "rss_mb_by_window": " ".join(f"{v:g}" for v in rss),
        "p99_drift_x": round(p99_drift, 2),
        "rss_drift_pct": round(rss_drift * 100, 1),
    }
    result.holds = not result.failures
    return result


RECIPE = Recipe(
    name="R9",
    fault="a soak at half of W1c's throughput, 10 minutes (quick: 20 s)",
    must_hold="p99 of one write and the process's memory flat (<= 1.5x, <= +20%; drift reported)",
    run=run,
    proves=(
        "No leak or slowdown that shows within ten minutes of steady writes: the aggregate cache, the "
        "shared commit and the connection pool reach a steady state and stay there."
    ),
    does_not_prove=(
        "Days of running (a slow leak of a few MB an hour would pass); the HTTP layer, the projection "
        "worker or Kafka under a soak (R9 is W1c's in-process write path); a table of tens of millions of rows."
    ),
)
