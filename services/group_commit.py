"""Group commit: writers that arrive while a commit is under way share the next one.

A durable commit costs one disk flush, whatever it holds. One writer alone commits at once; when
writers queue up behind a commit in progress, the first of them commits everything queued in one
transaction, so sixteen concurrent writers pay for a few flushes instead of sixteen. Nothing is
weakened: each writer still waits for its own events to be durable before it answers.

If a shared commit fails on the store's uniqueness key, it is not known whose events conflicted,
so each writer is told to commit its own events alone (and learns then whether it lost a race).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger("traject.commits")

E = TypeVar("E")
R = TypeVar("R")


class CommitAlone(Exception):
    """The shared commit failed; commit these events on their own to find out why."""


@dataclass
class _Ticket(Generic[E, R]):
    events: Sequence[E]
    done: bool = False
    results: list[R] = field(default_factory=list)
    error: BaseException | None = None


class GroupCommit(Generic[E, R]):
    def __init__(self, commit: Callable[[list[E]], list[R]], shared_failure: type[BaseException]) -> None:
        """`commit` stores events in one transaction and returns one result per event, in order."""
        self._commit = commit
        self._shared_failure = shared_failure
        self._cond = threading.Condition()
        self._queue: list[_Ticket[E, R]] = []
        self._committing = False
        self.commits = 0  # how many transactions; with `writes`, shows how much was shared
        self.writes = 0

    def __call__(self, events: Sequence[E]) -> list[R]:
        ticket: _Ticket[E, R] = _Ticket(events)
        with self._cond:
            self._queue.append(ticket)
            while self._committing and not ticket.done:
                self._cond.wait()
            if ticket.done:
                return self._outcome(ticket)
            batch, self._queue = self._queue, []
            self._committing = True
        try:
            self._run(batch)
        finally:
            with self._cond:
                self._committing = False
                self._cond.notify_all()
        return self._outcome(ticket)

    def _run(self, batch: list[_Ticket[E, R]]) -> None:
        outcomes = _commit_shared(self._commit, self._shared_failure, [t.events for t in batch])
        for t, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                t.error = outcome
            else:
                t.results = list(outcome)
        self.commits += 1
        self.writes += len(batch)
        for t in batch:
            t.done = True

    def _outcome(self, ticket: _Ticket[E, R]) -> list[R]:
        if isinstance(ticket.error, CommitAlone):
            return self._commit(list(ticket.events))
        if ticket.error is not None:
            raise ticket.error
        return ticket.results


Done = Callable[[Sequence[R] | BaseException], None]


class CommitQueue(Generic[E, R]):
    """Group commit for writers that must not wait: they hand over their events with a callback,
    and one committer thread stores everything handed over while it was busy in one transaction,
    then tells each writer its results (or the error). Used by the event loop, which may not block.

    A shared commit that fails on the store's uniqueness key tells each writer CommitAlone (whose
    events conflicted is not known), as GroupCommit does; the writer then tries on its own.
    """

    def __init__(self, commit: Callable[[list[E]], list[R]], shared_failure: type[BaseException]) -> None:
        self._commit = commit
        self._shared_failure = shared_failure
        self._cond = threading.Condition()
        self._queue: list[tuple[Sequence[E], Done[R]]] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, events: Sequence[E], done: Done[R]) -> None:
        with self._cond:
            if self._closed:
                msg = "the commit queue is closed"
                raise RuntimeError(msg)
            self._queue.append((events, done))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="commit-queue", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Commit what was handed over, then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[tuple[Sequence[E], Done[R]]]) -> None:
        outcomes = _commit_shared(self._commit, self._shared_failure, [events for events, _ in batch])
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            try:
                done(outcome)
            except Exception:  # a writer's callback must not stop the others' (it logs its own)
                log.exception("a commit callback failed")


def _commit_shared(
    commit: Callable[[list[E]], list[R]],
    shared_failure: type[BaseException],
    writers: Sequence[Sequence[E]],
) -> list[Sequence[R] | BaseException]:
    """Commit every writer's events in one transaction; answer each writer's results, or its error.

    A shared commit failing on the store's uniqueness key tells each of several writers CommitAlone.
    """
    events = [e for evs in writers for e in evs]
    try:
        results = commit(events) if events else []
    except shared_failure as e:
        return [CommitAlone() if len(writers) > 1 else e] * len(writers)
    except BaseException as e:  # noqa: BLE001 - handed to every writer of the batch
        return [e] * len(writers)
    outcomes: list[Sequence[R] | BaseException] = []
    i = 0
    for evs in writers:
        outcomes.append(results[i : i + len(evs)])
        i += len(evs)
    return outcomes
