"""The mirror's position as readers need it: read once for many, and waited for on the event loop.

A reader who names a position (read-your-writes) waits for the view to reach it holding no thread:
its wait is a future on the event loop, settled by the in-process runner as it commits, or by one
poller that reads the view's position while anyone waits (a worker process moves the view unseen).
Waiting is bounded per caller and in total; beyond that a reader is told to come back (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

POSITION_FRESH_S = 0.05  # how long a read of the mirror's position answers for others
POLL_S = 0.05  # how often the position is read while readers wait (as often as it stays fresh)

T = TypeVar("T")
log = logging.getLogger("traject.positions")


class ProjectionBehind(Exception):
    """The views have not reached the position a reader asked for within its timeout."""

    def __init__(self, wanted: int, reached: int) -> None:
        super().__init__(f"the figures reflect position {reached}, not yet {wanted}")
        self.wanted, self.reached = wanted, reached


class BeyondTheLog(Exception):
    """A reader asked to wait for a position the event log has not reached: no write answered it,
    so waiting could not bring it (a client error, not a busy service)."""

    def __init__(self, wanted: int, head: int) -> None:
        super().__init__(f"the event log has not reached position {wanted} (its head is {head})")
        self.wanted, self.head = wanted, head


class TooManyWaiting(Exception):
    """More readers wait for a position than the bounds allow; this one was not let in to wait."""


class OneAtATime(Generic[T]):
    """Runs blocking `work` on a thread of its own, one run at a time; whoever asks while it runs
    shares that run's result. A thread of its own: a crowd of requests in the shared threadpool
    cannot hold it up."""

    def __init__(self, work: Callable[[], T], name: str) -> None:
        self._work = work
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._running: asyncio.Future[T] | None = None

    def running(self) -> bool:
        """Whether a run is in flight for this event loop (work in flight belongs to one loop)."""
        running = self._running
        return running is not None and running.get_loop() is asyncio.get_running_loop()

    async def __call__(self) -> T:
        running = self._running
        if running is None or not self.running():
            running = self._running = asyncio.get_running_loop().run_in_executor(self._thread, self._work)
            running.add_done_callback(self._ran)
        return await asyncio.shield(running)

    def _ran(self, done: asyncio.Future[T]) -> None:
        if done is self._running:
            self._running = None

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


class PositionWatch:
    """Readers of the mirror's position: the last one read, a shared read, and bounded waiting.

    `read` answers the view's (position, failure). Every use of the waiting state is on one event
    loop (an app served again, as tests do, starts afresh); `reached` may be called from any thread.
    """

    def __init__(
        self,
        read: Callable[[], tuple[int, str | None]],
        *,
        per_caller: int,
        total: int,
        nudge: Callable[[], None] = lambda: None,
        poll: float = POLL_S,
        head: Callable[[], int] | None = None,
    ) -> None:
        self._read_view = read
        self.per_caller, self.total, self.poll = per_caller, total, poll
        self._nudge = nudge  # tells an in-process runner to look for work now
        self._read = OneAtATime(self.read_tracking, "position")
        self._head = OneAtATime(head, "head") if head is not None else None  # the event log's head
        self._head_seen = 0  # the highest head read: positions up to it were answered to writers
        self._seen: tuple[float, int] = (-math.inf, 0)  # (monotonic time read, position)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[asyncio.Future[int], int] = {}  # each waiter's future, and what it wants
        self._callers: Counter[str] = Counter()
        self._poller: asyncio.Task[None] | None = None
        self._soon = asyncio.Event()  # a reader came to wait: read now, not after the poll interval

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def fresh(self, position: int | None = None, within: float = POSITION_FRESH_S) -> int | None:
        """The position read in the last `within` seconds, if it reflects `position`; else None (no I/O)."""
        seen_at, seen = self._seen
        if time.monotonic() - seen_at < within and (position is None or seen >= position):
            return seen
        return None

    def read_tracking(self) -> tuple[int, str | None]:
        """Read the view's position (and failure) now, and keep it for others (blocking)."""
        now = time.monotonic()
        position, failure = self._read_view()
        self._seen = (now, position)
        return position, failure

    async def position(self, wanted: int | None, timeout: float, caller: str) -> int:
        """The position to answer at: fresh if read a moment ago; for a reader who wants one, at
        least that (waited for, up to `timeout` seconds); else the last one read while someone
        reads it again, or that read."""
        if (seen := self.fresh(wanted)) is not None:
            return seen
        if wanted is not None:
            return await self._wait(wanted, timeout, caller)
        if self._read.running() and (last := self.fresh(within=math.inf)) is not None:
            return last
        return (await self._read())[0]

    async def _wait(self, wanted: int, timeout: float, caller: str) -> int:
        self._on_this_loop()
        if self._head is not None and wanted > self._head_seen:
            self._head_seen = max(self._head_seen, await self._head())
            if wanted > self._head_seen:
                raise BeyondTheLog(wanted, self._head_seen)
        if len(self._waiters) >= self.total:
            msg = f"{self.total} requests already wait for a position here; ask again shortly"
            raise TooManyWaiting(msg)
        if self._callers[caller] >= self.per_caller:
            msg = f"you already wait for a position in {self.per_caller} requests; ask again shortly"
            raise TooManyWaiting(msg)
        assert self._loop is not None
        future: asyncio.Future[int] = self._loop.create_future()
        self._waiters[future] = wanted
        self._callers[caller] += 1
        try:
            if self._poller is None:
                self._poller = asyncio.ensure_future(self._poll())
            else:
                self._soon.set()  # its position may be there already (read-your-writes, projected)
            self._nudge()
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ProjectionBehind(wanted, self._seen[1]) from None
        finally:
            self._waiters.pop(future, None)
            self._callers[caller] -= 1
            if self._callers[caller] <= 0:
                del self._callers[caller]

    def _on_this_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._waiters, self._callers, self._poller = loop, {}, Counter(), None
            self._soon = asyncio.Event()

    async def _poll(self) -> None:
        """While anyone waits: read the position, settle who it satisfies; again after a moment, or
        at once when another reader comes to wait."""
        failed = False
        try:
            while self._waiters:
                self._soon.clear()
                try:
                    self._settle(*await self._read())
                except Exception as e:  # noqa: BLE001 - a busy store: the waiters' own timeouts answer them
                    if not failed:  # once, not every poll
                        log.warning("reading the mirror's position: %s: %s", type(e).__name__, e)
                    failed = True
                if self._waiters:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._soon.wait(), self.poll)
        finally:
            self._poller = None

    def reached(self, position: int) -> None:
        """The view has reached `position` (said by a runner, from its own thread)."""
        loop = self._loop
        if self._waiters and loop is not None:
            try:
                loop.call_soon_threadsafe(self._settle, position, None)
            except RuntimeError:  # that loop is closed: its waiters are gone with it
                return

    def _settle(self, position: int, failure: str | None) -> None:
        for future, wanted in self._waiters.items():
            if future.done():
                continue
            if position >= wanted:
                future.set_result(position)
            elif failure is not None:  # the projection stopped: it will not get there by waiting
                future.set_exception(ProjectionBehind(wanted, position))

    def close(self) -> None:
        self._read.close()
        if self._head is not None:
            self._head.close()
