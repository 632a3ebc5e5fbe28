"""Waiting for the mirror's position on the event loop: one read at a time, settled by the runner."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from infra.position_watch import BeyondTheLog, PositionWatch, ProjectionBehind, TooManyWaiting


class View:
    """A stand-in for the view's tracking row that counts how many reads run at once."""

    def __init__(self) -> None:
        self.position, self.failure = 0, None
        self.running = self.most = self.reads = 0
        self._lock = threading.Lock()

    def read(self) -> tuple[int, str | None]:
        with self._lock:
            self.running += 1
            self.reads += 1
            self.most = max(self.most, self.running)
        time.sleep(0.002)  # a read takes a moment: overlapping reads would show
        with self._lock:
            self.running -= 1
        return self.position, self.failure


def test_many_waiters_share_one_read_at_a_time() -> None:
    view = View()
    watch = PositionWatch(view.read, per_caller=100, total=100, poll=0.001)

    async def main() -> list[int]:
        waiters = [asyncio.ensure_future(watch.position(5, 30, f"c{i % 7}")) for i in range(60)]
        while view.reads < 20:  # many polls while they wait
            await asyncio.sleep(0.001)
        assert not any(w.done() for w in waiters)
        view.position = 6
        return await asyncio.gather(*waiters)

    assert asyncio.run(main()) == [6] * 60
    assert view.most == 1
    assert watch.waiting == 0
    watch.close()


def test_a_runner_in_this_process_settles_waiters_from_its_own_thread() -> None:
    view = View()  # never moves: only the runner's word moves the waiters
    watch = PositionWatch(view.read, per_caller=10, total=10, poll=3600)

    async def main() -> None:
        near = [asyncio.ensure_future(watch.position(p, 3600, "c")) for p in (3, 7)]
        far = asyncio.ensure_future(watch.position(8, 0.2, "d"))
        while watch.waiting < 3:
            await asyncio.sleep(0.001)
        runner = threading.Thread(target=watch.reached, args=(7,))
        runner.start()
        runner.join()
        assert await asyncio.gather(*near) == [7, 7]
        with pytest.raises(ProjectionBehind):
            await far

    asyncio.run(main())
    watch.close()


def test_a_stopped_projection_answers_its_waiters_at_once() -> None:
    view = View()
    view.position, view.failure = 3, "position 4: poison"  # type: ignore[assignment]
    watch = PositionWatch(view.read, per_caller=10, total=10)

    async def main() -> None:
        with pytest.raises(ProjectionBehind) as behind:
            await asyncio.wait_for(watch.position(5, 3600, "c"), 30)  # the guard, not the answer
        assert (behind.value.wanted, behind.value.reached) == (5, 3)

    asyncio.run(main())
    watch.close()


def test_waiting_is_bounded_per_caller_and_in_total() -> None:
    watch = PositionWatch(View().read, per_caller=2, total=3, poll=3600)

    async def main() -> None:
        mine = [asyncio.ensure_future(watch.position(9, 3600, "me")) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(TooManyWaiting):
            await watch.position(9, 3600, "me")
        theirs = asyncio.ensure_future(watch.position(9, 3600, "them"))
        await asyncio.sleep(0)
        with pytest.raises(TooManyWaiting):
            await watch.position(9, 3600, "someone else")
        assert watch.waiting == 3
        for waiter in [*mine, theirs]:
            waiter.cancel()
        await asyncio.gather(*mine, theirs, return_exceptions=True)
        assert watch.waiting == 0
        assert await watch.position(None, 1, "me") == 0  # without a position: no bound, one read

    asyncio.run(main())
    watch.close()


def test_a_position_past_the_logs_head_is_refused_without_waiting() -> None:
    view = View()
    heads: list[int] = []

    def head() -> int:
        heads.append(4)
        return 4

    watch = PositionWatch(view.read, per_caller=1, total=1, poll=3600, head=head)

    async def main() -> None:
        with pytest.raises(BeyondTheLog) as refused:
            await watch.position(5, 3600, "c")
        assert (refused.value.wanted, refused.value.head) == (5, 4)
        view.position = 4
        assert await watch.position(4, 3600, "c") == 4  # within the log: waited for as before
        assert await watch.position(3, 3600, "c") == 4  # the head read before still answers

    asyncio.run(main())
    assert heads == [4]  # read only for a position beyond the head last read
    watch.close()
