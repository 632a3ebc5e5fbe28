"""Group commit: concurrent writers share commits, and each still gets exactly its own results."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from domain.journey import Provenance
from infra.container import build
from infra.settings import Settings
from services.commands import RecordReconnection, StartJourney
from services.group_commit import GroupCommit


class Clash(Exception):
    pass


def run_writers(group: GroupCommit[int, int], writers: int, each: int) -> dict[int, list[list[int]]]:
    got: dict[int, list[list[int]]] = {w: [] for w in range(writers)}
    barrier = threading.Barrier(writers)

    def write(w: int) -> None:
        barrier.wait()
        for i in range(each):
            events = [w * 1000 + i * 10 + k for k in range(1 + i % 3)]
            got[w].append(group(events))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_writers_that_queue_behind_a_commit_share_the_next_one() -> None:
    committed: list[list[int]] = []

    def commit(events: list[int]) -> list[int]:
        time.sleep(0.005)  # a disk flush
        committed.append(events)
        return [-e for e in events]

    group: GroupCommit[int, int] = GroupCommit(commit, Clash)
    got = run_writers(group, writers=8, each=10)
    for w, results in got.items():
        for i, r in enumerate(results):
            assert r == [-(w * 1000 + i * 10 + k) for k in range(1 + i % 3)]
    assert group.writes == 80
    assert group.commits == len(committed) < 80
    assert sorted(e for c in committed for e in c) == sorted(-x for rs in got.values() for r in rs for x in r)


def test_a_failed_shared_commit_is_retried_alone_so_only_the_culprit_fails() -> None:
    def commit(events: list[int]) -> list[int]:
        time.sleep(0.002)
        if 13 in events:
            raise Clash
        return events

    group: GroupCommit[int, int] = GroupCommit(commit, Clash)
    failures: list[BaseException] = []
    results: list[list[int]] = []
    barrier = threading.Barrier(6)

    def write(events: list[int]) -> None:
        barrier.wait()
        try:
            results.append(group(events))
        except Clash as e:
            failures.append(e)

    threads = [threading.Thread(target=write, args=([n],)) for n in (10, 11, 12, 13, 14, 15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(failures) == 1
    assert sorted(r[0] for r in results) == [10, 11, 12, 14, 15]


def test_sixteen_concurrent_writers_on_the_store_share_commits_and_lose_nothing(
    make_settings: Callable[..., Settings],
) -> None:
    container = build(make_settings())
    today = container.today()

    def by() -> Provenance:
        return Provenance(uuid4(), "cw", "caseworker", today)

    journeys = [
        container.journeys.start(
            StartJourney(f"G-{i}", "noord", 2, today - timedelta(days=100)), by()
        ).journey_id
        for i in range(16)
    ]
    before = container.journeys._group_commit.commits
    positions: list[int] = []
    barrier = threading.Barrier(16)

    def write(jid: object) -> None:
        barrier.wait()
        for i in range(15):
            w = container.journeys.record(jid, RecordReconnection("club", today - timedelta(days=i)), by())  # type: ignore[arg-type]
            assert w.position is not None
            positions.append(w.position)

    threads = [threading.Thread(target=write, args=(j,)) for j in journeys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(positions) == len(set(positions)) == 240
    for jid in journeys:
        assert [e.version for e in container.journeys.history(jid)] == list(range(1, 17))
    assert container.journeys._group_commit.commits - before < 240
    container.close()
