"""Group commit: writers that arrive while a commit is under way share the next one.

A durable commit costs one disk flush, whatever it holds. One writer alone commits at once; when
writers queue up behind a commit in progress, the first of them commits everything queued in one
transaction, so sixteen concurrent writers pay for a few flushes instead of sixteen. Nothing is
weakened: each writer still waits for its own events to be durable before it answers.

If a shared commit fails on the store's uniqueness key, it is not known whose events conflicted,
so each writer is told to commit its own events alone (and learns then whether it lost a race).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

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
        events = [e for t in batch for e in t.events]
        try:
            results = self._commit(events) if events else []
        except self._shared_failure as e:
            for t in batch:
                t.error = CommitAlone() if len(batch) > 1 else e
        except BaseException as e:  # noqa: BLE001 - handed to every writer of the batch
            for t in batch:
                t.error = e
        else:
            i = 0
            for t in batch:
                t.results = results[i : i + len(t.events)]
                i += len(t.events)
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
