"""R1: SIGKILL the projection worker at random moments while writes go on; the view it leaves, once
caught up, equals a clean fold of the whole log and a `traject projections rebuild`."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from itertools import count
from uuid import uuid4

import orjson

from infra.container import Container
from infra.projection_runner import MirrorRunner
from infra.settings import Settings
from infra.views import MirrorView
from reliability.recipe import Env, Recipe, Result
from reliability.support import REPO, Traject, container, drop_schema, process_env, settings, wait_log
from services.caseload import caseload

CHUNK = 20  # items a writer's batch
READY = "traject worker: projections from position"


Row = tuple[str, str, str, str, int]


def counts(view: MirrorView) -> set[Row]:
    return set(view.rows("0000-01", "9999-12"))


def folds(view: MirrorView) -> dict[str, object]:
    """Every journey fold the view keeps, as the JSON it stored."""
    with view.recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
        c.execute(f"SELECT journey_id, state FROM {view.journeys}")  # noqa: S608 - our own name
        return {row["journey_id"]: orjson.loads(row["state"]) for row in c.fetchall()}


def write_until(c: Container, stop: threading.Event, written: list[int], errors: list[str]) -> None:
    """Record synthetic caseloads (starts, facts, late facts, voids) in small batches until told."""
    try:
        for seed in count(1):
            items = [i for j in caseload(journeys=50, today=c.today(), seed=seed) for i in j]
            for first in range(0, len(items), CHUNK):
                if stop.is_set():
                    return
                written[0] += len(c.journeys.record_batch(items[first : first + CHUNK]))
                time.sleep(0.01)
    except Exception as error:  # noqa: BLE001 - reported as a failure of the recipe
        errors.append(f"the writer failed: {error!r}")


def run(env: Env) -> Result:
    kills = 3 if env.quick else 24
    result = Result("R1", True)
    schema = env.schema()
    config = settings(env, schema, projections="worker")
    try:
        with container(env, schema, projections="worker") as c:
            worker = Traject(["worker"], config, env.work / "r1-worker.log")
            stop, written, errors = threading.Event(), [0], list[str]()
            writer = threading.Thread(target=write_until, args=(c, stop, written, errors), name="r1-writer")
            writer.start()
            try:
                behind, moved = kill_often(c, worker, kills)
            finally:
                stop.set()
                writer.join()
                worker.kill()
            result.failures += errors
            try:
                head = catch_up(c, worker, result)
            finally:
                worker.kill()  # stopped already, unless catching up failed
            reference = compare(c, config, result)
            result.figures = {
                "kills": kills,
                "kills_while_behind": behind,
                "kills_after_progress": moved,
                "events": head,
                "written_by_writer": written[0],
                "journeys": len(reference[1]),
                "count_rows": len(reference[0]),
            }
    finally:
        drop_schema(env, schema)
    result.holds = not result.failures
    return result


def kill_often(c: Container, worker: Traject, kills: int) -> tuple[int, int]:
    """Start the worker and SIGKILL it at a random moment, `kills` times; answers how many kills
    found it behind the log (in the middle of its work) and after it had committed something."""
    rng = random.Random(1)
    view = c.mirror.view
    behind = moved = 0
    for _ in range(kills):
        before = view.position()
        worker.start()
        wait_log(worker, READY)
        time.sleep(rng.uniform(0.05, 1.5))
        behind += c.head_position() > view.position()
        worker.kill()
        moved += view.position() > before
        time.sleep(rng.uniform(0.0, 0.5))  # writes go on while no worker runs
    return behind, moved


def catch_up(c: Container, worker: Traject, result: Result) -> int:
    """Let a last worker reach the head of the log, then stop it with SIGTERM; answers the head."""
    view = c.mirror.view
    worker.start()
    head = c.head_position()
    deadline = time.monotonic() + 600
    while view.position() < head and time.monotonic() < deadline and worker.alive():
        time.sleep(0.1)
    code = worker.stop()
    if code != 0:
        result.failures.append(f"the worker ended with {code} after SIGTERM:\n{worker.tail()}")
    if view.position() != head:
        result.failures.append(f"the view stopped at position {view.position()} of {head}")
    if view.failure():
        result.failures.append(f"the view recorded a failure: {view.failure()}")
    return head


def compare(c: Container, config: Settings, result: Result) -> tuple[set[Row], dict[str, object]]:
    """The live view against a clean fold of the whole log, then against `projections rebuild`."""
    view = c.mirror.view
    live = counts(view), folds(view)
    clean = MirrorView(c.journeys.recorder, name=f"clean_{uuid4().hex[:6]}")
    MirrorRunner(c.journeys, clean, batch_size=1000).catch_up()
    reference = counts(clean), folds(clean)
    if live[0] != reference[0]:
        result.failures.append(_differ("count rows", live[0], reference[0]))
    if live[1] != reference[1]:
        result.failures.append(f"{_diff_keys(live[1], reference[1])} journey folds differ")
    rebuilt = subprocess.run(
        [sys.executable, "-m", "api.cli", "projections", "rebuild", "mirror"],
        env=process_env(config),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if rebuilt.returncode != 0:
        result.failures.append(f"`traject projections rebuild` failed: {rebuilt.stderr[-1000:]}")
    elif (counts(view), folds(view)) != reference:
        result.failures.append("the view `traject projections rebuild` made differs from a clean fold")
    return reference


def _differ(what: str, live: set[Row], ref: set[Row]) -> str:
    extra, missing = sorted(live - ref)[:3], sorted(ref - live)[:3]
    return f"{what} differ: {len(live - ref)} only in the view (e.g. {extra}), {len(ref - live)} only in a clean fold (e.g. {missing})"


def _diff_keys(live: dict[str, object], ref: dict[str, object]) -> int:
    return sum(live.get(k) != ref.get(k) for k in live.keys() | ref.keys())


RECIPE = Recipe(
    name="R1",
    fault="SIGKILL the projection worker mid-batch (24 times; quick: 3) while writes go on",
    must_hold="the view, caught up, equals a clean fold of the log and a `projections rebuild`",
    run=run,
    proves=(
        "A worker killed at any moment leaves the view's counts, journey folds and position as of its last "
        "commit, and picks up from there: no batch is lost or counted twice across restarts."
    ),
    does_not_prove=(
        "That a crash of the database server or the machine keeps the view (R2 crashes PostgreSQL under the "
        "write path, not under the worker); that two workers at once agree (one runs at a time here)."
    ),
)
