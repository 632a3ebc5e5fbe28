"""The mirror on each store: incremental runs, rebuilds, poison events and crashes agree."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.journey import Journey, Provenance
from infra.container import Container, build
from infra.projection_runner import MirrorRunner, ProjectionFailed, rebuild
from infra.settings import Settings
from infra.views import MirrorView
from projections.months import month_of
from projections.outcomes import MonthFigures, figures
from services.caseload import caseload
from services.commands import RecordStep, VoidEntry
from tests.conftest import days_ago
from tests.projections.oracle import oracle

TEAMS = ("noord", "zuid", "centrum")


def _by(container: Container) -> Provenance:
    return Provenance(uuid4(), "cw", "caseworker", container.today())


def load(container: Container, journeys: int, seed: int = 1) -> set[UUID]:
    """Record a synthetic caseload; return its journey ids."""
    items = [i for j in caseload(journeys=journeys, today=container.today(), seed=seed) for i in j]
    ids: set[UUID] = set()
    for start in range(0, len(items), 300):
        ids |= {w.journey_id for w in container.journeys.record_batch(items[start : start + 300])}
    return ids


def counts(view: MirrorView) -> set[tuple[str, str, str, str, int]]:
    return set(view.rows("0000-01", "9999-12"))


def test_the_view_maintained_in_small_batches_equals_a_rebuild_and_the_definitions(
    container: Container,
) -> None:
    ids = load(container, 60)
    runner = MirrorRunner(container.journeys, container.mirror.view, batch_size=7)
    runner.catch_up()
    # Late and corrective facts after the first pass: a backdated step and a void.
    some = sorted(ids)[0]
    by = Provenance(uuid4(), "cw", "caseworker", container.today())
    journey = container.journeys.journey(some)
    container.journeys.record(some, RecordStep(6, journey.start_date), by)
    steps = [
        v for v, e in journey.entries.items() if e.kind == "LadderStepRecorded" and v not in journey.voided
    ]
    if steps:
        container.journeys.record(
            some, VoidEntry(steps[-1], "wrong"), Provenance(uuid4(), "cw", "caseworker", container.today())
        )
    runner.catch_up()
    assert container.mirror.view.position() == container.head_position()

    incremental = counts(container.mirror.view)
    rebuild(container.journeys, container.mirror.view)
    assert counts(container.mirror.view) == incremental
    assert container.mirror.view.position() == container.head_position()

    today = container.today()
    first, last = month_of(days_ago(2 * 366)), month_of(today)
    timelines = [container.journeys.journey(j).timeline for j in ids]
    expected = oracle(timelines, TEAMS, first, last, today=today, sustained_months=6)
    got = figures(container.mirror.view.rows(first, last), first, last, today=today, sustained_months=6)
    assert any(f.work_exits_total for f in expected.values())
    assert any(f.moved_up for f in expected.values())
    for (team, month), want in expected.items():
        assert got.get(team, {}).get(month, MonthFigures(month, want.complete)) == want, (team, month)


def test_a_poison_event_stops_the_projection_with_its_position_and_reason(container: Container) -> None:
    load(container, 3)
    before = container.head_position()
    container.journeys.recorder.insert_events(
        [StoredEvent(originator_id=uuid4(), originator_version=1, topic="nowhere.module:Gone", state=b"{}")]
    )
    load(container, 2, seed=9)
    runner = MirrorRunner(container.journeys, container.mirror.view, batch_size=1000)
    with pytest.raises(ProjectionFailed) as failed:
        runner.catch_up()
    assert failed.value.position == before + 1
    assert "nowhere.module" in failed.value.reason
    assert container.mirror.view.position() == 0  # the batch holding it was not committed
    assert container.mirror.view.failure() is not None
    small = MirrorRunner(container.journeys, container.mirror.view, batch_size=2)
    with pytest.raises(ProjectionFailed) as again:
        small.catch_up()
    assert again.value.position == before + 1
    assert container.mirror.view.position() == before  # everything before it, and nothing after


def test_reads_keep_answering_while_a_rebuild_runs(container: Container) -> None:
    load(container, 40)
    container.mirror.catch_up()
    expected = counts(container.mirror.view)
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                assert counts(container.mirror.view) == expected
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return

    reader = threading.Thread(target=read)
    reader.start()
    rebuild(container.journeys, container.mirror.view, page=20)
    done.set()
    reader.join()
    assert errors == []
    assert counts(container.mirror.view) == expected


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAJECT_")}
    for name, value in settings.model_dump().items():
        if value not in (None, "") and name not in ("port",):
            env[f"TRAJECT_{name.upper()}"] = str(value)
    env["TRAJECT_PROJECTION_BATCH"] = "10"  # many small commits: more chances to die between them
    return env


def test_killing_the_worker_mid_batch_many_times_leaves_what_a_clean_rebuild_gives(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(projection_batch=20)  # many small commits: a kill lands between or in one
    container = build(settings)
    rng = random.Random(5)
    load(container, 120, seed=2)
    traject = str(Path(sys.executable).with_name("traject"))
    kills = 0
    for round_ in range(8):
        log = (tmp_path / f"worker-{round_}.log").open("w")
        before = container.mirror.view.position()
        worker = subprocess.Popen(
            [traject, "worker"], env=_env(settings), stdout=log, stderr=subprocess.STDOUT
        )
        # Killed once it has committed a batch of this round (however long it took to start on a
        # busy machine), a random moment later: in the middle of its work or between two commits.
        deadline = time.monotonic() + 120
        while container.mirror.view.position() == before and worker.poll() is None:
            assert time.monotonic() < deadline, "the worker committed nothing within two minutes"
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills += 1
        load(container, 10, seed=100 + round_)  # the log grows between crashes
    assert kills == 8
    container.mirror.catch_up()
    crashed = counts(container.mirror.view)
    clean = MirrorView(container.journeys.recorder, name="clean")
    MirrorRunner(container.journeys, clean, batch_size=1000).catch_up()
    assert crashed == counts(clean)
    container.close()


def test_a_rebuild_that_meets_a_poison_event_stops_and_leaves_the_live_view_as_it_was(
    container: Container,
) -> None:
    load(container, 5)
    container.mirror.catch_up()
    before, position = counts(container.mirror.view), container.mirror.view.position()
    container.journeys.recorder.insert_events(
        [StoredEvent(originator_id=uuid4(), originator_version=1, topic="nowhere.module:Gone", state=b"{}")]
    )
    with pytest.raises(ProjectionFailed) as failed:
        rebuild(container.journeys, container.mirror.view)
    assert failed.value.position == position + 1
    assert counts(container.mirror.view) == before
    assert container.mirror.view.position() == position


def test_a_fact_the_view_cannot_store_stops_the_projection_loudly(container: Container, backend: str) -> None:
    """PostgreSQL text holds no NUL; if one slipped past validation the mirror must stop, not spin."""
    load(container, 2)
    good = Journey.start(
        client_ref="p",
        municipality="A",
        team="noord",
        initial_rung=2,
        effective_date=days_ago(9),
        by=_by(container),
    )
    stored = container.journeys.mapper.to_stored_event(good.collect_events()[0])
    bad = StoredEvent(
        stored.originator_id, 1, stored.topic, stored.state.replace(b'"noord"', b'"no\\u0000ord"')
    )
    container.journeys.recorder.insert_events([bad])
    runner = MirrorRunner(container.journeys, container.mirror.view, batch_size=1000)
    if backend == "postgres":
        with pytest.raises(ProjectionFailed) as failed:
            runner.catch_up()
        assert "DataError" in failed.value.reason
        assert container.mirror.view.failure() is not None
    else:  # SQLite text holds a NUL; the journey is counted like any other
        runner.catch_up()
        assert container.mirror.view.position() == container.head_position()


def test_a_rebuild_while_the_live_runner_projects_new_writes_ends_equal_to_a_clean_fold(
    container: Container,
) -> None:
    load(container, 30)
    container.mirror.catch_up()
    container.start_projections()  # the live runner, as in the embedded service
    stop = threading.Event()

    def write() -> None:
        seed = 500
        while not stop.is_set():
            load(container, 3, seed=seed)
            seed += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(3):
            rebuild(container.journeys, container.mirror.view, page=40)
    finally:
        stop.set()
        writer.join()
    assert container.await_position(container.head_position(), 30) == container.head_position()
    clean = MirrorView(container.journeys.recorder, name="clean")
    MirrorRunner(container.journeys, clean, batch_size=1000).catch_up()
    assert counts(container.mirror.view) == counts(clean)
