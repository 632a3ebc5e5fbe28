"""Runs the mirror projection over the event log, in order, resuming from its tracking position.

Each step reads a batch after the view's position, folds it, and commits the view rows with the new
position in one transaction. A batch that cannot be projected (a poison event) stops the runner
with the position and the reason recorded; a database hiccup is retried with back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import DataError, Notification, PersistenceError

from infra.codec import entry_of
from infra.views import MirrorView, StaleBatch
from projections import mirror

log = logging.getLogger("traject.projections")


class ProjectionFailed(Exception):
    """The projection met an event it cannot handle; it stopped at `position`."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"stopped after position {position}: {reason}")
        self.position = position
        self.reason = reason


class MirrorRunner:
    def __init__(self, app: Application[UUID], view: MirrorView, batch_size: int = 500) -> None:
        self.app = app
        self.view = view
        self.batch_size = batch_size
        self.wake = threading.Event()  # set by writers so the runner need not wait for its poll
        self.caught_up = threading.Condition()
        self.failure: ProjectionFailed | None = None

    def step(self) -> int:
        """Project one batch; return how many events it held (0 when caught up)."""
        start = self.view.mark()
        notifications = self.app.recorder.select_notifications(start[0] + 1, self.batch_size)
        if not notifications:
            return 0
        # Decoding and folding are pure: a failure there is the event's, and will not go away.
        # Reading and writing the view are I/O: their failures are retried (in `run`).
        try:
            events = [self.app.mapper.to_domain_event(n) for n in notifications]
        except Exception as e:
            raise self._poisoned(notifications, e) from e
        stored = self.view.load(e.originator_id for e in events)
        try:
            delta, touched = mirror.process(events, stored)
        except Exception as e:
            if self.view.mark() != start:  # a rebuild swapped the tables under this batch: read again
                raise StaleBatch(f"{self.view.name} moved while this batch was read") from e
            raise self._poisoned(notifications, e) from e
        try:
            self.view.commit(start, notifications[-1].id, delta, touched)
        except DataError as e:  # a value the view cannot hold: the same batch would fail again
            reason = f"{type(e).__name__} writing the view: {e}"
            self.view.fail(f"positions {notifications[0].id}..{notifications[-1].id}: {reason}")
            raise ProjectionFailed(int(notifications[0].id), reason) from e
        with self.caught_up:
            self.caught_up.notify_all()
        return len(notifications)

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
                if self.step():
                    backoff = 0.1
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


def rebuild(app: Application[UUID], live: MirrorView, page: int = 5000) -> int:
    """Build a fresh copy of the view from the whole log beside the live one, then swap it in.

    The copy reads the log journey by journey (each journey folded once, from all its events) up to
    the head as it stood when the rebuild began; events are never changed, so reading in pages
    needs no long transaction. Reads keep answering from the live tables until the swap, which is
    one transaction; events recorded after that head are then projected by the live runner.
    """
    fresh = MirrorView(app.recorder, name=f"{live.name}_rebuild")
    fresh.drop()
    fresh = MirrorView(app.recorder, name=f"{live.name}_rebuild")
    head = app.recorder.max_notification_id() or 0
    counts: Counter[mirror.Key] = Counter()
    folds: dict[UUID, mirror.JourneyFold] = {}
    done = 0
    journey: UUID | None = None
    fold = mirror.JourneyFold()
    first = 0  # the position of the journey's first event, to name it if it cannot be folded

    def finish() -> None:
        try:
            counts.update(fold.refold())
        except Exception as e:
            fresh.drop()
            raise ProjectionFailed(first, f"{type(e).__name__}: {e}") from e
        assert journey is not None
        folds[journey] = fold

    for journey_id, version, topic, state, position in fresh.log_by_journey(head, page):
        if journey_id != journey:
            if journey is not None:
                finish()
                if len(folds) >= page:
                    fresh.put_folds(folds)
                    folds = {}
            journey, fold, first = journey_id, mirror.JourneyFold(), position
        try:
            fold.add(entry_of(topic, version, state))
        except Exception as e:
            fresh.drop()
            raise ProjectionFailed(position, f"{type(e).__name__}: {e}") from e
        done += 1
    if journey is not None:
        finish()
    fresh.put_folds(folds)
    fresh.commit(fresh.mark(), head, +counts, {})
    fresh.swap_into(live)
    return done
