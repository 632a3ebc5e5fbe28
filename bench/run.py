"""The benchmark command: start PostgreSQL, run every row in its own worker, report, stop PostgreSQL.

    python -m bench            # full run (make bench)
    python -m bench --quick    # under a minute (make bench-quick)
    python -m bench --only W1  # W1 and its baseline (LCMD) only
    python -m bench --profile LNEW --quick   # cProfile one row's timed runs
    python -m bench --list

The server is a throwaway one from infra/pg/pg.sh, stopped (and its data deleted) whatever happens,
including Ctrl-C and SIGTERM. Results go to bench/results/latest.json (+ latest.md, throughput.png).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from bench import machine, report
from bench.core import Row, Sample
from bench.http import Unavailable, ensure_wrk, wrk_version
from bench.rows import BY_NAME, ROWS

REPO = Path(__file__).resolve().parent.parent
PG_SH = REPO / "infra" / "pg" / "pg.sh"


@dataclass(frozen=True)
class Mode:
    name: str
    runs: int
    seconds: float  # one timed run of a time-bound row
    http_seconds: float  # one wrk run
    connections: int
    setup_timeout: float  # one row's set-up (all rows set up at once, before the first round)
    run_timeout: float  # one timed run
    warmup: bool = (
        True  # a warm-up round before the timed ones (the quick run skips it to stay under a minute)
    )


QUICK = Mode(
    "quick",
    runs=3,
    seconds=0.3,
    http_seconds=1,
    connections=16,
    setup_timeout=120,
    run_timeout=60,
    warmup=False,
)
FULL = Mode("full", runs=5, seconds=3.0, http_seconds=5, connections=16, setup_timeout=1200, run_timeout=900)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer, shorter runs: the suite in under a minute"
    )
    parser.add_argument("--only", default="", help="comma-separated rows (their baselines are added)")
    parser.add_argument("--runs", type=int, help="timed runs per row (default: 3 quick, 5 full)")
    parser.add_argument("--seconds", type=float, help="length of one timed run of a time-bound row")
    parser.add_argument("--profile", metavar="ROW", help="cProfile one row's timed runs and print the top")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--results", type=Path, default=report.RESULTS, help="where latest.json etc. go")
    args = parser.parse_args(argv)

    if args.list:
        for row in ROWS:
            if row.derived:
                state = f"from {row.derived[0]}'s runs"
            elif row.measure is None:
                state = f"not measured: {row.todo}"
            else:
                state = f"vs {row.baseline or '-'}" + (f" ({row.compare})" if row.compare else "")
            target = row.target.describe(row.better, row.unit) if row.target else ""
            print(f"{row.name:<10} {row.title:<46} {row.unit:<9} {state:<18} {target}")
        return 0
    mode = QUICK if args.quick else FULL
    mode = Mode(
        mode.name,
        args.runs or mode.runs,
        args.seconds or mode.seconds,
        args.seconds or mode.http_seconds,
        mode.connections,
        mode.setup_timeout,
        mode.run_timeout,
        mode.warmup,
    )
    try:
        rows = _select(args.profile or args.only, with_baselines=not args.profile)
    except KeyError as unknown:
        print(f"no such row: {unknown}; see --list", file=sys.stderr)
        return 2
    _exit_cleanly_on_signals()
    try:
        return _bench(rows, mode, args.results, profile=bool(args.profile))
    except (KeyboardInterrupt, SystemExit) as stop:
        print("interrupted: workers ended, PostgreSQL stopped, no results written", file=sys.stderr)
        return stop.code if isinstance(stop, SystemExit) and isinstance(stop.code, int) else 130


def _select(names: str, *, with_baselines: bool) -> list[Row]:
    if not names:
        return list(ROWS)
    wanted = {BY_NAME[n.strip()].name for n in names.split(",") if n.strip()}
    # A derived row needs the row it is computed from, whatever else is asked.
    wanted |= {row.derived[0] for n in wanted if (row := BY_NAME[n]).derived}
    while with_baselines:
        more = {BY_NAME[n].baseline for n in wanted if BY_NAME[n].baseline} - wanted
        if not more:
            break
        wanted |= {n for n in more if n}
    return [row for row in ROWS if row.name in wanted]


def _exit_cleanly_on_signals() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C does, so the `finally` blocks stop the server."""

    def unwind(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, unwind)


def _bench(rows: list[Row], mode: Mode, results: Path, *, profile: bool) -> int:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="traject-bench."))
    work.chmod(0o755)  # as root, pg.sh runs the server as `postgres`, which must reach its data dir
    try:
        with postgres(work / "pg") as dsn:
            info: dict[str, Any] = machine.describe(_data_dir(work / "pg"))
            info |= {"mode": mode.name, "postgres": machine.postgres(dsn), "runs_per_row": mode.runs}
            info["warmup_round"] = mode.warmup
            info |= {"seconds_per_run": mode.seconds, "http_seconds_per_run": mode.http_seconds}
            info |= {"http_connections": mode.connections}
            info["env_overrides"] = {k: v for k, v in os.environ.items() if k.startswith("TRAJECT_")}
            loadgen = _loadgen(rows)
            info["load_generator"] = loadgen if not loadgen.startswith("unavailable") else "-"
            outcomes = _measure(rows, Plan(dsn, work, mode, loadgen, profile))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info["suite_seconds"] = round(time.monotonic() - started, 1)
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    records = report.summarise(outcomes)
    if profile:
        return 0 if not any(o.failed for o in outcomes) else 1  # a profiled run's numbers are not results
    print()
    print(report.machine_line(info))
    print()
    print(report.table(records))
    path = report.write(records, info, results)
    print(f"\nwrote {_rel(path)}, {_rel(path.with_name('latest.md'))}", end="")
    try:
        print(f", {_rel(report.plot(records, info, results))}")
    except ImportError as missing:
        print(f"\nplot skipped: {missing} (`make bench` installs bench/requirements.txt)")
    print(f"suite took {info['suite_seconds']:.0f} s ({mode.name} run)")
    busy = max(info["loadavg_before"][0], info["loadavg_after"][0])
    if busy > 0.5:
        print(f"note: the machine was not idle (1-min load average up to {busy:.1f}): expect noise")
    failed = [o.row.name for o in outcomes if o.failed]
    if failed:
        print(f"FAILED rows: {', '.join(failed)} (see the reasons above)", file=sys.stderr)
        return 1
    return 0


def _rel(path: Path) -> str:
    with suppress(ValueError):
        return str(path.resolve().relative_to(REPO))
    return str(path)


# --- PostgreSQL --------------------------------------------------------------------------------


@contextmanager
def postgres(directory: Path) -> Iterator[str]:
    """A throwaway server for this run; stopped and deleted on the way out, whatever happened."""
    print(f"starting PostgreSQL in {directory} ...", file=sys.stderr, flush=True)
    try:
        started = subprocess.run(
            [str(PG_SH), "start", str(directory)], capture_output=True, text=True, check=False
        )
        if started.returncode != 0:
            sys.stderr.write(started.stderr)
            msg = "infra/pg/pg.sh start failed"
            raise RuntimeError(msg)
        yield started.stdout.strip()
    finally:
        subprocess.run([str(PG_SH), "stop", str(directory)], capture_output=True, check=False)
        print("stopped PostgreSQL", file=sys.stderr, flush=True)


def _data_dir(directory: Path) -> Path:
    recorded = directory / "pgdata"
    return Path(recorded.read_text().strip()) if recorded.exists() else directory


def _prepare(dsn: str, schema: str) -> None:
    """A fresh schema for the row, and a checkpoint so no earlier row's dirty pages land in its runs."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {0}").format(sql.Identifier(schema)))
        conn.execute("CHECKPOINT")


# --- rows --------------------------------------------------------------------------------------


def _loadgen(rows: list[Row]) -> str:
    if not any(r.http and r.measure for r in rows):
        return "unavailable: no HTTP row selected"
    try:
        return wrk_version(ensure_wrk())
    except Unavailable as e:
        return f"unavailable: {e}"


@dataclass(frozen=True)
class Plan:
    """What every row's worker shares in one suite run."""

    dsn: str
    work: Path
    mode: Mode
    loadgen: str
    profile: bool


class WorkerError(Exception):
    """A worker failed, answered nonsense, or took too long."""


class Worker:
    """One row's worker process, leader of its own process group (its servers and wrk are members)."""

    def __init__(self, row: Row, plan: Plan) -> None:
        self.row = row
        self.outcome = report.Outcome(row)
        schema = f"bench_{row.name.lower()}"
        _prepare(plan.dsn, schema)
        row_dir = plan.work / row.name
        row_dir.mkdir()
        self.log_path = row_dir / "worker.log"
        mode = plan.mode
        cmd = [
            sys.executable,
            "-m",
            "bench.worker",
            row.name,
            *("--dsn", plan.dsn, "--schema", schema, "--work-dir", str(row_dir)),
            *("--runs", str(mode.runs), "--seconds", str(mode.seconds)),
            *("--http-seconds", str(mode.http_seconds), "--connections", str(mode.connections)),
            *(["--quick"] if mode.name == "quick" else []),
            *(["--profile"] if plan.profile else []),
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return not self.outcome.failed

    def send(self, command: str) -> None:
        """Send a command without waiting for its answer (read it later with ask(None, ...))."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise WorkerError(f"worker went away: {e}; {self.last_log_line()}") from None

    def ask(self, command: str | None, timeout: float) -> dict[str, Any]:
        """Send a command (None: just listen) and wait for the one-line JSON answer."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        try:
            if command is not None:
                self.proc.stdin.write(command + "\n")
                self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            line = self.proc.stdout.readline() if ready else None
        except (BrokenPipeError, OSError) as e:
            raise WorkerError(f"worker went away: {e}; {self.last_log_line()}") from None
        if line is None:
            raise WorkerError(f"no answer within {timeout:.0f} s")
        if not line:
            raise WorkerError(self.last_log_line())
        message: dict[str, Any] = json.loads(line)
        if message.get("event") == "error":
            raise WorkerError(str(message.get("error")))
        return message

    def fail(self, error: Exception) -> None:
        self.outcome.reason = "failed: " + " ".join(str(error).split())[:240]
        self.outcome.failed = True
        self.outcome.samples = []
        self.end()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        print(f"{self.row.name} FAILED: {error}\n{_indent(tail)}", file=sys.stderr, flush=True)

    def end(self) -> None:
        """End the worker's whole process group (by its id), then reap the worker."""
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            with suppress(OSError):
                if stream:
                    stream.close()

    def last_log_line(self) -> str:
        lines = [ln.strip() for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "the worker exited without output"


def _measure(rows: list[Row], plan: Plan) -> list[report.Outcome]:
    """Set every row up at once, then run them in rounds: round 0 warms up (unless the mode skips it),
    rounds 1..N are timed."""
    mode = plan.mode
    outcomes: dict[str, report.Outcome] = {}
    workers: list[Worker] = []
    try:
        for row in rows:
            if row.derived:
                outcomes[row.name] = report.Outcome(row)  # filled in from its source's runs below
            elif row.measure is None:
                outcomes[row.name] = report.Outcome(row, reason=row.todo)
            elif row.http and plan.loadgen.startswith("unavailable"):
                outcomes[row.name] = report.Outcome(row, reason=f"load generator {plan.loadgen}", failed=True)
            else:
                worker = Worker(row, plan)
                workers.append(worker)
                outcomes[row.name] = worker.outcome
        print(f"setting up {len(workers)} rows ...", file=sys.stderr, flush=True)
        setup_start = time.monotonic()
        for worker in workers:
            try:
                ready = worker.ask(None, mode.setup_timeout)
                worker.outcome.setup_s = float(ready["setup_s"])
            except WorkerError as e:
                worker.fail(e)
        with psycopg.connect(plan.dsn, autocommit=True) as conn:
            conn.execute("CHECKPOINT")  # the set-ups' dirty pages are flushed before the first timed run
        print(f"set up in {time.monotonic() - setup_start:.0f} s", file=sys.stderr, flush=True)
        for n in range(0 if mode.warmup else 1, mode.runs + 1):
            _round(workers, n, mode)
        quit_start = time.monotonic()
        _quit(workers, plan)
        print(f"torn down in {time.monotonic() - quit_start:.0f} s", file=sys.stderr, flush=True)
    finally:
        for worker in workers:
            worker.end()
    for row in rows:
        if row.derived:
            _derive(outcomes[row.name], outcomes.get(row.derived[0]))
    for row in rows:
        if outcomes[row.name].reason:
            print(f"{row.name}: not measured: {outcomes[row.name].reason}", file=sys.stderr)
    return [outcomes[row.name] for row in rows]


def _round(workers: list[Worker], n: int, mode: Mode) -> None:
    """Round n: every live worker that takes part does one run, in turn (round 0 is the warm-up)."""
    label = "warm-up" if n == 0 else f"run {n}/{mode.runs}"
    seen: list[str] = []
    round_start = time.monotonic()
    for worker in (w for w in workers if w.alive and _in_round(w.row, n)):
        try:
            answer = worker.ask("run", mode.run_timeout)
        except WorkerError as e:
            worker.fail(e)
            continue
        sample = Sample(float(answer["value"]), {k: float(v) for k, v in answer["extras"].items()})
        if n > 0:
            worker.outcome.samples.append(sample)
        seen.append(f"{worker.row.name} {report.num(sample.value)}")
        if os.environ.get("BENCH_TIMES"):  # when each row's run ended, into the round (tuning the suite)
            seen[-1] += f" ({time.monotonic() - round_start:.1f}s)"
    took = time.monotonic() - round_start
    print(f"{label:>9} ({took:4.1f} s): " + "  ".join(seen), file=sys.stderr, flush=True)


def _quit(workers: list[Worker], plan: Plan) -> None:
    """Every worker tears down at once (servers, brokers, schemas); then each one's answer is read."""
    quitting: list[Worker] = []
    for worker in (w for w in workers if w.alive):
        try:
            worker.send("quit")
            quitting.append(worker)
        except WorkerError as e:
            worker.fail(e)
    for worker in quitting:
        try:
            done = worker.ask(None, plan.mode.run_timeout)
        except WorkerError as e:
            worker.fail(e)
            continue
        worker.outcome.wall_s = float(done["wall_s"])
        worker.outcome.peak_rss_mb = float(done["peak_rss_mb"])
        worker.outcome.notes = dict(done["notes"])
        with suppress(subprocess.TimeoutExpired):
            worker.proc.wait(timeout=30)  # it has torn down; let it exit on its own
        if plan.profile:
            sys.stderr.write(worker.log_path.read_text(errors="replace"))


def _in_round(row: Row, n: int) -> bool:
    """Whether a row runs in round n (0: the warm-up): long rows may skip it, or stop early."""
    if n == 0:
        return row.warmup
    return row.runs is None or n <= row.runs


def _derive(outcome: report.Outcome, source: report.Outcome | None) -> None:
    """A derived row's runs: one value per run of its source row (its named side measurement)."""
    assert outcome.row.derived is not None
    name, key = outcome.row.derived
    if source is None or not source.measured:
        why = source.reason if source is not None else "not selected"
        outcome.reason = f"{name} was not measured ({why})"
        outcome.failed = source is not None and source.failed
        return
    outcome.samples = [Sample(s.extras[key]) for s in source.samples if key in s.extras]
    outcome.notes = {"from": f"{name}'s runs ({key})"}
    title = source.notes.get(f"{outcome.row.name}:title")
    if title:
        outcome.notes["title"] = title
    if not outcome.samples:
        outcome.reason = f"{name}'s runs did not report {key}"


def _indent(text: str) -> str:
    return "\n".join("    " + ln for ln in text.splitlines())
