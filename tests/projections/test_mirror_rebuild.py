"""A rebuild, in this process or shared out among worker processes, leaves what a clean fold gives:
the same counts, and journey folds the live runner can go on from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.persistence import PersistenceError, StoredEvent

from domain.journey import Provenance
from infra.container import Container, build
from infra.projection_runner import MirrorRunner, ProjectionFailed, rebuild
from infra.settings import Settings
from infra.views import CopyIncomplete, MirrorView
from services.commands import RecordStep, VoidEntry
from tests.projections.test_mirror_view import counts, load


def folds(view: MirrorView) -> dict[str, object]:
    """Every journey fold the view keeps, as the JSON it stored."""
    with view.recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
        c.execute(f"SELECT journey_id, state FROM {view.journeys}")  # noqa: S608 - our own name
        found = c.fetchall()
    return {
        (r["journey_id"] if isinstance(r, dict) else r[0]): orjson.loads(
            r["state"] if isinstance(r, dict) else r[1]
        )
        for r in found
    }


def clean(container: Container) -> MirrorView:
    """The view as the live runner makes it from the whole log, in one pass."""
    view = MirrorView(container.journeys.recorder, name=f"clean_{uuid4().hex[:6]}")
    MirrorRunner(container.journeys, view, batch_size=1000).catch_up()
    return view


def by(container: Container) -> Provenance:
    return Provenance(uuid4(), "cw", "caseworker", container.today())


def late_facts(container: Container, journeys: list[UUID]) -> None:
    """A backdated step on some journeys, and a void of a step on others."""
    for n, journey_id in enumerate(journeys):
        journey = container.journeys.journey(journey_id)
        if n % 2 == 0:
            container.journeys.record(journey_id, RecordStep(1 + n % 6, journey.start_date), by(container))
            continue
        steps = [
            v
            for v, e in journey.entries.items()
            if e.kind == "LadderStepRecorded" and v not in journey.voided
        ]
        if steps:
            container.journeys.record(journey_id, VoidEntry(steps[0], "wrong"), by(container))


def test_after_a_rebuild_the_live_runner_goes_on_from_the_folds_it_stored(container: Container) -> None:
    ids = sorted(load(container, 40))
    rebuild(container.journeys, container.mirror.view, page=30)
    late_facts(container, ids[:12])  # journeys the rebuild stored: the runner must find their folds
    container.mirror.catch_up()
    reference = clean(container)
    assert counts(container.mirror.view) == counts(reference)
    assert folds(container.mirror.view) == folds(reference)


@pytest.mark.parametrize("backend", ["postgres"])  # worker processes share out PostgreSQL's log
@pytest.mark.parametrize("workers", [2, 3])
def test_a_rebuild_in_worker_processes_equals_one_in_this_process_and_a_clean_fold(
    container: Container, workers: int
) -> None:
    ids = sorted(load(container, 60))
    late_facts(container, ids[:10])
    rebuild(container.journeys, container.mirror.view, page=25, workers=1)
    alone = counts(container.mirror.view), folds(container.mirror.view)
    assert rebuild(container.journeys, container.mirror.view, page=25, workers=workers) == (
        container.head_position()
    )
    shared = counts(container.mirror.view), folds(container.mirror.view)
    reference = clean(container)
    assert shared == alone == (counts(reference), folds(reference))
    assert len(shared[1]) == 60
    assert container.mirror.view.position() == container.head_position()


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_poison_event_in_a_workers_share_stops_the_rebuild_and_leaves_the_live_view(
    container: Container,
) -> None:
    load(container, 8)
    container.mirror.catch_up()
    before, position = counts(container.mirror.view), container.mirror.view.position()
    upper_half = UUID(int=(1 << 127) + uuid4().int % (1 << 100))  # in the second worker's share
    container.journeys.recorder.insert_events(
        [
            StoredEvent(
                originator_id=upper_half, originator_version=1, topic="nowhere.module:Gone", state=b"{}"
            )
        ]
    )
    with pytest.raises(ProjectionFailed) as failed:
        rebuild(container.journeys, container.mirror.view, page=10, workers=2)
    assert failed.value.position == position + 1
    assert "nowhere.module" in failed.value.reason
    assert counts(container.mirror.view) == before
    assert container.mirror.view.position() == position


def _stored_by_rebuild(container: Container) -> int:
    """How many journey folds the rebuild's fresh copy holds so far (0 while it has none)."""
    table = f'"{container.settings.pg_schema}".mirror_rebuild_journeys'
    try:
        with container.journeys.recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
            c.execute(f"SELECT count(*) AS n FROM {table}")  # noqa: S608 - our own name
            return int(c.fetchone()["n"])
    except PersistenceError:  # not made yet, or being dropped and made again by the rebuild
        return 0


def _rebuild_workers() -> set[int]:
    """Rebuild worker processes of this interpreter that are running now."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0] == sys.executable.encode() and any(b"import _worker" in a for a in argv):
            found.add(int(entry.name))
    return found


@pytest.mark.parametrize("backend", ["postgres"])
def test_killing_a_rebuild_in_the_middle_leaves_the_live_view_and_its_workers_stop(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    container = build(settings)
    load(container, 150, seed=3)
    container.mirror.catch_up()
    before, position = counts(container.mirror.view), container.mirror.view.position()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAJECT_")}
    env |= {f"TRAJECT_{k.upper()}": str(v) for k, v in settings.model_dump().items() if v not in (None, "")}
    code = (
        "from infra.container import build; from infra.projection_runner import rebuild; "
        "c = build(); rebuild(c.journeys, c.mirror.view, page=5, workers=2)"
    )
    workers_before = _rebuild_workers()
    parent = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while not _stored_by_rebuild(container) and parent.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert parent.poll() is None, "the rebuild ended before it could be killed"
    assert _stored_by_rebuild(container), "the rebuild wrote nothing in a minute"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert counts(container.mirror.view) == before
    assert container.mirror.view.position() == position

    deadline = time.monotonic() + 30
    while _rebuild_workers() - workers_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _rebuild_workers() - workers_before, "a worker outlived its rebuild"

    rebuild(container.journeys, container.mirror.view, workers=2)
    assert counts(container.mirror.view) == counts(clean(container)) == before
    container.close()


def test_a_copy_that_lost_a_page_of_folds_is_not_swapped_in(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of folds are committed without waiting for the disk: a server crash could lose one."""
    load(container, 20)
    container.mirror.catch_up()
    before, position = counts(container.mirror.view), container.mirror.view.position()
    put_folds = MirrorView.put_folds
    calls = 0

    def loses_the_second_page(view: MirrorView, folds: list[tuple[str, str]]) -> None:
        nonlocal calls
        calls += 1
        if calls != 2:
            put_folds(view, folds)

    monkeypatch.setattr(MirrorView, "put_folds", loses_the_second_page)
    with pytest.raises(CopyIncomplete):
        rebuild(container.journeys, container.mirror.view, page=10)
    assert calls > 2
    assert counts(container.mirror.view) == before
    assert container.mirror.view.position() == position
