"""Runs ONE row in its own process (fresh interpreter, its own memory), driven by the parent.

    python -m bench.worker ROW --dsn DSN --schema S --work-dir D --runs N ... [--quick] [--profile]

The worker sets the row up, says `ready`, then answers each command on stdin with one JSON line:
`run` (one timed run: a sample), `quit` (tear down; the process's peak memory and the row's notes).
The parent interleaves the rows' runs in rounds, so a slow patch of the disk hits every row alike
instead of one row's whole series. Anything else the row prints goes to the log (stderr).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from bench.core import Ctx
from bench.rows import BY_NAME
from infra.runtime import tune_gc


def main(argv: Sequence[str] | None = None) -> int:
    # Replies get a private copy of stdout; fd 1 then points at the log, so stray prints can't interfere.
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    parser = argparse.ArgumentParser(prog="bench.worker")
    parser.add_argument("row")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--http-seconds", type=float, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the timed runs; top entries to the log"
    )
    args = parser.parse_args(argv)
    tune_gc()  # every row's process starts as traject's processes do (infra/runtime.py)

    row = BY_NAME[args.row]
    if row.measure is None:
        _reply(replies, {"event": "error", "error": f"{row.name} has no measure: {row.todo}"})
        return 2
    args.work_dir.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(
        dsn=args.dsn,
        schema=args.schema,
        quick=args.quick,
        runs=args.runs,
        seconds=args.seconds,
        http_seconds=args.http_seconds,
        connections=args.connections,
        work_dir=args.work_dir,
        profile=args.profile,
    )
    profiler = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    try:
        with row.measure(ctx) as run:
            _reply(replies, {"event": "ready", "setup_s": time.perf_counter() - t0})
            for command in sys.stdin:
                if command.strip() == "quit":
                    break
                if profiler and command.strip() == "run":
                    profiler.enable()
                sample = run()
                if profiler:
                    profiler.disable()
                _reply(replies, {"event": "sample", **asdict(sample)})
    except Exception as e:  # noqa: BLE001 - the parent reports it as the row's failure
        traceback.print_exc()
        _reply(replies, {"event": "error", "error": f"{type(e).__name__}: {e}"})
        return 1
    _reply(
        replies,
        {
            "event": "done",
            "wall_s": time.perf_counter() - t0,
            # ru_maxrss is KiB on Linux: this worker's own peak; servers it ran report theirs in notes
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "notes": ctx.notes,
        },
    )
    if profiler:
        _print_profile(profiler)
    return 0


def _reply(replies: TextIO, message: dict[str, Any]) -> None:
    replies.write(json.dumps(message) + "\n")
    replies.flush()


def _print_profile(profiler: cProfile.Profile) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(30)
        print(f"--- profile by {order} ---\n{out.getvalue()}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
