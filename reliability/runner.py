"""The suite's command: find every recipe, run each against the servers it is given, report.

    python -m reliability --pg-url URL --pg-dir DIR --kafka-bootstrap HOST:PORT --kafka-dir DIR
    python -m reliability ... --quick          # the subset `make test` runs
    python -m reliability ... --only R1,R5

scripts/reliability starts the servers and calls this (`make reliability`). A full run writes
reliability/results/latest.json and latest.md; a quick one quick.json and quick.md beside them.
Exits 1 if any recipe did not hold (or failed to run: that is not a pass either).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reliability.recipe import Env, Recipe, Result

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def recipes() -> list[Recipe]:
    """Every `reliability/rN_<name>.py` module's RECIPE, by number."""
    found = []
    for path in HERE.glob("r*_*.py"):
        match = re.fullmatch(r"r(\d+)_\w+\.py", path.name)
        if match:
            module = importlib.import_module(f"reliability.{path.stem}")
            found.append((int(match[1]), module.RECIPE))
    return [recipe for _, recipe in sorted(found, key=lambda pair: pair[0])]


def run_one(recipe: Recipe, env: Env) -> tuple[Result, float]:
    """Run one recipe; an exception is a failure of the recipe, reported like one."""
    started = time.monotonic()
    try:
        result = recipe.run(env)
    except Exception as error:  # noqa: BLE001 - reported as the recipe's failure, the suite goes on
        result = Result(recipe.name, False, failures=[f"the recipe raised: {error!r}"])
        traceback.print_exc()
    return result, time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--pg-url", required=True)
    parser.add_argument("--pg-dir", type=Path, required=True, help="infra/pg/pg.sh's DIR of that server")
    parser.add_argument("--kafka-bootstrap", required=True)
    parser.add_argument("--kafka-dir", type=Path, required=True, help="infra/kafka/kafka.sh's DIR")
    parser.add_argument("--quick", action="store_true", help="fewer trials, shorter loads")
    parser.add_argument("--only", default="", help="comma-separated recipe names, e.g. R1,R5")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    chosen = [r for r in recipes() if not args.only or r.name in args.only.upper().split(",")]
    if not chosen:
        print(f"no recipe matches --only {args.only}", file=sys.stderr)
        return 2
    commit, load_before = _commit(), os.getloadavg()  # what ran, and how busy the machine was
    with tempfile.TemporaryDirectory(prefix="traject-reliability.") as work:
        env = Env(
            pg_url=args.pg_url,
            pg_dir=args.pg_dir,
            kafka_bootstrap=args.kafka_bootstrap,
            kafka_dir=args.kafka_dir,
            work=Path(work),
            quick=args.quick,
        )
        done: list[tuple[Recipe, Result, float]] = []
        for recipe in chosen:
            print(f"== {recipe.name}: {recipe.fault}", flush=True)
            result, seconds = run_one(recipe, env)
            done.append((recipe, result, seconds))
            print(f"   {'holds' if result.holds else 'DOES NOT HOLD'} ({seconds:.0f} s) {result.figures}")
            for failure in result.failures:
                print(f"   - {failure}")
    table = markdown(done, args.quick)
    print()
    print(table)
    machine = {"commit": commit, "load_before": load_before, "load_after": os.getloadavg()}
    write(args.out, "quick" if args.quick else "latest", done, table=table, quick=args.quick, run=machine)
    return 0 if all(result.holds for _, result, _ in done) else 1


def markdown(done: Sequence[tuple[Recipe, Result, float]], quick: bool) -> str:
    lines = [
        f"Reliability run ({'quick' if quick else 'full'}), {_stamp()}",
        "",
        "| recipe | fault | must hold | holds | seconds | figures |",
        "|---|---|---|---|---|---|",
    ]
    for recipe, result, seconds in done:
        figures = ", ".join(f"{k} {v}" for k, v in result.figures.items())
        lines.append(
            f"| {recipe.name} | {recipe.fault} | {recipe.must_hold} | "
            f"{'yes' if result.holds else '**NO**'} | {seconds:.0f} | {figures} |"
        )
    failed = [(r.recipe, f) for _, r, _ in done for f in r.failures]
    if failed:
        lines += ["", "What did not hold:", ""]
        lines += [f"- {name}: {failure}" for name, failure in failed]
    return "\n".join(lines) + "\n"


def write(
    out: Path,
    stem: str,
    done: Sequence[tuple[Recipe, Result, float]],
    *,
    table: str,
    quick: bool,
    run: dict[str, Any] | None = None,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    run = run or {}
    report = {
        "when": _stamp(),
        "commit": run.get("commit") or _commit(),
        "quick": quick,
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_before": run.get("load_before"),
            "load_after": run.get("load_after"),
        },
        "recipes": [
            {
                "name": r.recipe,
                "fault": recipe.fault,
                "must_hold": recipe.must_hold,
                "holds": r.holds,
                "seconds": round(seconds, 1),
                "figures": r.figures,
                "failures": r.failures,
            }
            for recipe, r, seconds in done
        ],
    }
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{stem}.md").write_text(table)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def _cpus() -> int:
    return len(os.sched_getaffinity(0))
