"""Runs the mirror projection over the event log, in order, resuming from its tracking position.

Each step reads a batch after the view's position, folds it, and commits the view rows with the new
position in one transaction. A batch that cannot be projected (a poison event) stops the runner
with the position and the reason recorded; a database hiccup is retried with back-off.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import DataError, Notification, PersistenceError

from infra.codec import entry_of
from infra.runtime import tune_gc
from infra.views import LogRow, LogSource, MirrorView, Part, StaleBatch
from projections import mirror

log = logging.getLogger("traject.projections")


class ProjectionFailed(Exception):
    """The projection met an event it cannot handle; it stopped at `position`."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"stopped after position {position}: {reason}")
        self.position = position
        self.reason = reason


class MirrorRunner:
    def __init__(
        self,
        app: Application[UUID],
        view: MirrorView,
        batch_size: int = 500,
        cache_size: int = 10_000,
        linger: float = 0.005,
    ) -> None:
        self.app = app
        self.view = view
        self.batch_size = batch_size
        self.linger = linger  # seconds `run` waits after a short batch, so that the next is bigger
        self.wake = threading.Event()  # set by writers so the runner need not wait for its poll
        self.caught_up = threading.Condition()
        self.moved: Callable[[int], None] = lambda _position: None  # told each position committed
        self.failure: ProjectionFailed | None = None
        self._steps = threading.Lock()  # one batch at a time: the batches share the kept folds
        # The folds of recently touched journeys as this runner committed them. They are the view's
        # own only while the view stands where this runner's last commit left it: any other move
        # (another runner, a rebuild's swap) or a failed batch, and they are dropped.
        self._kept: OrderedDict[UUID, mirror.JourneyFold] = OrderedDict()
        self._kept_at: tuple[int, int] | None = None
        self.cache_size = cache_size

    def step(self) -> int:
        """Project one batch; return how many events it held (0 when caught up)."""
        with self._steps:
            kept_at, self._kept_at = self._kept_at, None  # nothing kept is trusted until a commit
            if kept_at is not None:
                # The view most often stands where this runner's last commit left it: go on from
                # there without asking. If it does not, the commit's compare-and-set says so.
                try:
                    if done := self._step(kept_at):
                        return done
                except StaleBatch:
                    kept_at = None  # the batch may have changed kept folds: they go
            start = self.view.mark()
            if start != kept_at:
                self._kept.clear()  # an empty cache is true of any view
            done = self._step(start)  # sets _kept_at once its batch is committed
            if not done:
                self._kept_at = start  # nothing to project: the view is as it was
            return done

    def _step(self, start: tuple[int, int]) -> int:
        notifications = self.app.recorder.select_notifications(start[0] + 1, self.batch_size)
        if not notifications:
            return 0
        # Decoding and folding are pure: a failure there is the event's, and will not go away.
        # Reading and writing the view are I/O: their failures are retried (in `run`).
        try:
            events = [self.app.mapper.to_domain_event(n) for n in notifications]
        except Exception as e:
            raise self._poisoned(notifications, e) from e
        stored = self._load({e.originator_id for e in events})
        try:
            delta, touched = mirror.process(events, stored)
        except Exception as e:
            if self.view.mark() != start:  # a rebuild swapped the tables under this batch: read again
                raise StaleBatch(f"{self.view.name} moved while this batch was read") from e
            raise self._poisoned(notifications, e) from e
        end = int(notifications[-1].id)
        try:
            self.view.commit(start, end, delta, touched)
        except DataError as e:  # a value the view cannot hold: the same batch would fail again
            reason = f"{type(e).__name__} writing the view: {e}"
            self.view.fail(f"positions {notifications[0].id}..{notifications[-1].id}: {reason}")
            raise ProjectionFailed(int(notifications[0].id), reason) from e
        self._keep(touched)
        self._kept_at = (end, start[1])  # a commit moves the position, never the generation
        with self.caught_up:
            self.caught_up.notify_all()
        self.moved(end)
        return len(notifications)

    def _load(self, journeys: set[UUID]) -> dict[UUID, mirror.JourneyFold | None]:
        """The folds of `journeys`: kept ones from memory, the others from the view."""
        found: dict[UUID, mirror.JourneyFold | None] = {j: self._kept[j] for j in journeys if j in self._kept}
        if len(found) < len(journeys):
            found |= self.view.load(journeys - found.keys())
        return found

    def _keep(self, folds: dict[UUID, mirror.JourneyFold]) -> None:
        kept = self._kept
        for journey_id, fold in folds.items():
            kept[journey_id] = fold
            kept.move_to_end(journey_id)
        while len(kept) > self.cache_size:
            kept.popitem(last=False)

    def _poisoned(self, notifications: Sequence[Notification], error: Exception) -> ProjectionFailed:
        position = _first_bad(self.app, self.view, notifications)
        reason = f"{type(error).__name__}: {error}"
        self.view.fail(f"position {position}: {reason}")
        return ProjectionFailed(position, reason)

    def catch_up(self) -> int:
        """Project until nothing is left; return how many events that took."""
        done = 0
        while n := self.step():
            done += n
        return done

    def run(self, stop: threading.Event, idle: float = 0.5) -> None:
        """Project until `stop` is set. Raises ProjectionFailed on a poison event."""
        backoff = 0.1
        while not stop.is_set():
            try:
                if done := self.step():
                    backoff = 0.1
                    if done < self.batch_size:
                        # A step costs about the same for one event as for ten: under a stream of
                        # writes, let a few more arrive (readers waiting for them wait this long more).
                        stop.wait(self.linger)
                    continue
            except ProjectionFailed as failed:
                self.failure = failed
                log.error("projection %s %s", self.view.name, failed)
                raise
            except (PersistenceError, StaleBatch, OSError) as e:
                log.warning("projection %s: %s; retrying in %.1fs", self.view.name, e, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self.wake.wait(idle)
            self.wake.clear()

    def close(self) -> None:
        self.wake.set()

    def wait_for(self, position: int, timeout: float, head: Callable[[], int] | None = None) -> bool:
        """Block until the view reflects `position` (or `timeout` seconds pass)."""
        deadline = time.monotonic() + timeout
        while self.view.position() < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.failure is not None:
                return False
            self.wake.set()
            with self.caught_up:
                self.caught_up.wait(min(remaining, 0.05))
        return True


def _first_bad(app: Application[UUID], view: MirrorView, notifications: Sequence[Notification]) -> int:
    """Replay a failed batch one event at a time to find the position of the event that fails."""
    states: dict[UUID, mirror.JourneyFold | None] = {}
    for n in notifications:
        try:
            event = app.mapper.to_domain_event(n)
            journey_id = event.originator_id
            if journey_id not in states:
                states |= view.load([journey_id])
            _, touched = mirror.process([event], states)
            states |= touched
        except Exception:  # noqa: BLE001 - the first failure is the poison event
            return int(n.id)
    return int(notifications[0].id)


def rebuild(app: Application[UUID], live: MirrorView, page: int = 5000, workers: int | None = None) -> int:
    """Build a fresh copy of the view from the whole log beside the live one, then swap it in.

    The copy reads the log journey by journey (each journey folded once, from all its events) up to
    the head as it stood when the rebuild began; events are never changed, so reading in pages
    needs no long transaction. Reads keep answering from the live tables until the swap, which is
    one transaction; events recorded after that head are then projected by the live runner.

    On PostgreSQL a big log is shared out by journey id among `workers` processes (default: one
    per core, up to 4) that read and fold their share; this process writes the folds they send and
    sums their counts. The workers write nothing, so a crash anywhere leaves the live view as it was.
    """
    fresh = MirrorView(app.recorder, name=f"{live.name}_rebuild")
    fresh.drop()
    fresh = MirrorView(app.recorder, name=f"{live.name}_rebuild")
    head = app.recorder.max_notification_id() or 0
    workers = rebuild_workers(fresh, head) if workers is None else workers
    written = 0

    def put(folds: list[tuple[str, str]]) -> None:
        nonlocal written
        fresh.put_folds(folds)
        written += len(folds)

    try:
        if fresh.pg and workers > 1:
            tally, done = _in_processes(fresh, head, page, workers, put)
        else:
            tally, done = _fold_part(fresh.journey_pages(head, page), put)
    except ProjectionFailed:
        fresh.drop()
        raise
    fresh.commit(fresh.mark(), head, tally.counts(), {})
    # The pages of folds were committed without waiting for the disk (`put_folds`): had the
    # server lost any in a crash meanwhile, the copy would lack them. It is swapped in only whole.
    fresh.swap_into(live, folds=written)
    return done


PARALLEL_FROM = 50_000  # events: below this, starting worker processes costs more than it saves


def rebuild_workers(view: MirrorView, events: int) -> int:
    """How many worker processes a rebuild of `events` events starts by default (1: none): one per
    core this process may run on, up to 4."""
    return min(len(os.sched_getaffinity(0)), 4) if view.pg and events >= PARALLEL_FROM else 1


def _fold_part(
    pages: Iterable[list[LogRow]], put: Callable[[list[tuple[str, str]]], None]
) -> tuple[mirror.Tally, int]:
    """Fold every journey in `pages` (journey by journey); hand each page's folds to `put` as
    (journey id, stored fold) rows; answer the counts and the number of events read."""
    tally = mirror.Tally()
    done = 0
    journey = ""
    fold = mirror.JourneyFold()
    first = 0  # the position of the journey's first event, to name it if it cannot be folded
    folds: list[tuple[str, str]] = []

    def finish() -> None:
        try:
            fold.tally_into(tally)
        except Exception as e:
            raise ProjectionFailed(first, f"{type(e).__name__}: {e}") from e
        folds.append((journey, orjson.dumps(fold.dump()).decode()))

    for rows in pages:
        for journey_id, version, topic, state, position in rows:
            if journey_id != journey:
                if journey:
                    finish()
                journey, fold, first = journey_id, mirror.JourneyFold(), position
            try:
                fold.add(entry_of(topic, version, state))
            except Exception as e:
                raise ProjectionFailed(position, f"{type(e).__name__}: {e}") from e
        done += len(rows)
        put(folds)
        folds = []
    if journey:
        finish()
    put(folds)
    return tally, done


def _in_processes(
    fresh: MirrorView, head: int, page: int, workers: int, put: Callable[[list[tuple[str, str]]], None]
) -> tuple[mirror.Tally, int]:
    """Fold the log in `workers` processes, each a range of journey ids; write what they send.

    Journey ids are random UUIDs, so equal ranges are shares of about equal size. A worker sends
    its folds a page at a time (the pipe holds back a worker that runs ahead, so memory stays
    flat), then its counts. Failures are reported as the first of the failing shares in journey
    order, as a rebuild in one process would have met them.
    """
    source = fresh.log_source()
    bounds = [UUID(int=(k << 128) // workers) for k in range(1, workers)]
    parts: list[Part] = list(zip([None, *bounds], [*bounds, None], strict=True))
    shares: dict[Connection, int] = {}
    processes: list[subprocess.Popen[bytes]] = []
    ends: dict[int, tuple[Any, ...]] = {}
    try:
        for k, part in enumerate(parts):
            process, receive = _start_worker((source, head, page, part))
            processes.append(process)
            shares[receive] = k
        while shares:
            for conn in wait(list(shares)):
                assert isinstance(conn, Connection)
                try:
                    message = conn.recv()
                except EOFError:
                    message = ("error", "the worker process ended without an answer")
                if message[0] == "folds":
                    put(message[1])
                    continue
                ends[shares.pop(conn)] = message
                conn.close()
    finally:
        for conn in shares:
            conn.close()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    tally, done = mirror.Tally(), 0
    for k in range(workers):
        kind, *rest = ends[k]
        if kind == "failed":
            raise ProjectionFailed(*rest)
        if kind == "error":
            msg = f"rebuild worker {k} failed: {rest[0]}"
            raise RuntimeError(msg)
        tally.merge(rest[0])
        done += rest[1]
    return tally, done


def _start_worker(task: tuple[LogSource, int, int, Part]) -> tuple[subprocess.Popen[bytes], Connection]:
    """A fresh interpreter (not a fork: this process may hold threads and pooled connections) that
    takes its task on stdin and answers on a pipe of its own."""
    receive, send = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", f"from infra.projection_runner import _worker; _worker({send})"],
            stdin=subprocess.PIPE,
            pass_fds=(send,),
        )
    finally:
        os.close(send)
    assert process.stdin is not None
    with process.stdin:
        process.stdin.write(pickle.dumps(task))
    return process, Connection(receive, writable=False)


def _worker(fd: int) -> None:
    """A rebuild worker: fold one share of the log, sending its folds a page at a time, then its counts."""
    tune_gc()  # as every traject process starts
    source, head, page, part = pickle.load(sys.stdin.buffer)  # noqa: S301 - from our parent, on its pipe
    with Connection(fd, readable=False) as send:
        try:
            tally, done = _fold_part(
                source.journey_pages(head, page, part), lambda folds: send.send(("folds", folds))
            )
            send.send(("done", tally, done))
        except ProjectionFailed as e:
            send.send(("failed", e.position, e.reason))
        except BrokenPipeError:
            return  # the rebuild is gone (killed): there is no one to answer, and nothing was written
        except Exception as e:  # noqa: BLE001 - reported to the rebuild, which raises it
            send.send(("error", f"{type(e).__name__}: {e}"))
