"""Readers waiting for a position hold no thread: the service answers meanwhile, within bounds.

Each test serves the app with uvicorn (tests/api/serving.py) and asks it many things at once, as
clients would; it asserts what is answered while readers are still waiting (order, not timing).
The app runs with TRAJECT_PROJECTIONS=worker, so that the view moves only when the test says: a
second container stands for `traject worker`. Readers wait for positions the log already holds (a
position beyond its head is refused at once: tests/api/test_outcome_months.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from api.auth import TokenCodec
from infra.container import Container, build
from infra.settings import Settings
from tests.api.serving import served
from tests.conftest import days_ago, new_id

Headers = Callable[..., dict[str, str]]


@dataclass
class Given:
    """A served app with one journey started in it (at `position`), and how to ask it things."""

    http: httpx.AsyncClient
    headers: Headers  # (role, *teams, subject=...) -> a bearer token's headers
    journey_id: str
    position: int
    container: Container  # the served one
    worker: Container  # stands for `traject worker`: another process, another container

    @property
    def writer(self) -> dict[str, str]:
        return self.headers("caseworker", subject="cw")

    async def step(self, rung: int) -> httpx.Response:
        """Record a ladder step on the journey: one more position."""
        body = {
            "type": "ladder_step",
            "event_id": new_id(),
            "to_rung": rung,
            "effective_date": days_ago(1).isoformat(),
        }
        return await self.http.post(f"/v1/journeys/{self.journey_id}/events", json=body, headers=self.writer)

    def ask(self, subject: str, position: int, timeout: float = 30) -> asyncio.Task[httpx.Response]:
        """Ask for the municipality's outcomes as of at least `position`, as reporting `subject`."""
        params = {"min_position": position, "timeout": timeout}
        headers = self.headers("reporting", subject=subject)
        return asyncio.ensure_future(self.http.get("/v1/outcomes", params=params, headers=headers))

    async def project(self) -> None:
        """The worker catches the view up with the log (and so settles whoever waits for it)."""
        await asyncio.to_thread(self.worker.mirror.catch_up)

    async def waiting(self, n: int) -> None:
        """Until the server counts `n` readers waiting for a position (its own gauge, in /metrics)."""

        async def check() -> bool:
            return f"traject_position_waiters {n}\n" in (await self.http.get("/metrics")).text

        await until(check, f"{n} readers waiting")


def run(settings: Settings, scenario: Callable[[Given], Coroutine[Any, Any, None]]) -> None:
    """Serve a container built from `settings` (projections in a worker), start a journey, and play
    `scenario` against it."""
    settings = settings.model_copy(update={"projections": "worker"})
    container = build(settings)
    worker = build(settings)
    codec = TokenCodec(container.jwt_key, "HS256", "traject")

    def headers(role: str, *teams: str, subject: str = "tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {codec.issue(subject, role, teams or ('noord',), 30)}"}

    async def main(url: str) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
            body = {
                "event_id": new_id(),
                "client_reference": "GEM-1001",
                "team": "noord",
                "initial_rung": 2,
                "effective_date": days_ago(120).isoformat(),
            }
            started = await http.post("/v1/journeys", json=body, headers=headers("caseworker", subject="cw"))
            assert started.status_code == 201, started.text
            journey = started.json()
            given = Given(http, headers, journey["journey_id"], journey["position"], container, worker)
            await scenario(given)

    try:
        with served(container) as url:
            asyncio.run(main(url))
    finally:
        container.close()
        worker.close()


async def until(check: Callable[[], Coroutine[Any, Any, bool]], what: str) -> None:
    """Poll `check` until it holds; a guard, not a timing assert: a hung server fails, not hangs."""
    deadline = time.monotonic() + 60
    while not await check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.02)


def assert_come_back_later(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"].isdigit()
    assert response.json()["field"] == "min_position"


def test_readers_waiting_for_a_position_leave_health_reads_and_writes_answering(
    make_settings: Callable[..., Settings],
) -> None:
    async def scenario(given: Given) -> None:
        ahead = (await given.step(3)).json()["position"]  # in the log, not yet in the view
        waiters = [given.ask("reader", ahead) for _ in range(60)]
        await given.waiting(60)

        assert (await given.http.get("/healthz")).status_code == 200
        read = await given.http.get(f"/v1/journeys/{given.journey_id}", headers=given.writer)
        assert read.status_code == 200
        assert (await given.step(4)).status_code == 201
        assert (await given.http.get("/readyz")).status_code == 200
        assert not any(w.done() for w in waiters)

        await given.project()
        answers = await asyncio.gather(*waiters)
        assert {a.status_code for a in answers} == {200}
        assert min(a.json()["position"] for a in answers) >= ahead

    run(make_settings(position_waiters=100, position_waiters_per_caller=100), scenario)


def test_readers_beyond_the_bounds_are_told_to_come_back_later(
    make_settings: Callable[..., Settings],
) -> None:
    async def scenario(given: Given) -> None:
        async def refused(tasks: list[asyncio.Task[httpx.Response]], n: int) -> list[httpx.Response]:
            async def check() -> bool:
                return sum(t.done() for t in tasks) == n

            await until(check, f"{n} refused")
            return [t.result() for t in tasks if t.done()]

        ahead = (await given.step(3)).json()["position"]
        first = [given.ask("a", ahead) for _ in range(7)]
        await given.waiting(5)  # the most one caller may have waiting
        for response in await refused(first, 2):
            assert_come_back_later(response)
        second = [given.ask("b", ahead) for _ in range(7)]
        await given.waiting(8)  # the most anyone may have waiting
        for response in await refused(second, 4):
            assert_come_back_later(response)

        let_in = [t for t in first + second if not t.done()]
        await given.project()
        answered = await asyncio.gather(*let_in)
        assert [a.status_code for a in answered] == [200] * 8
        await given.waiting(0)

    run(make_settings(position_waiters=8, position_waiters_per_caller=5), scenario)


def test_a_waiting_reader_is_told_to_come_back_later_when_its_own_timeout_passes(
    make_settings: Callable[..., Settings],
) -> None:
    async def scenario(given: Given) -> None:
        ahead = (await given.step(3)).json()["position"]
        patient = given.ask("patient", ahead, timeout=30)
        hasty = [given.ask(f"hasty-{i}", ahead, timeout=0.3) for i in range(5)]
        for response in await asyncio.gather(*hasty):
            assert_come_back_later(response)
        assert not patient.done()
        await given.project()
        assert (await patient).status_code == 200

    run(make_settings(), scenario)


def test_readers_wait_for_a_worker_process_that_keeps_the_views(
    make_settings: Callable[..., Settings],
) -> None:
    """With TRAJECT_PROJECTIONS=worker nothing in the API process moves the view: it is watched."""

    async def scenario(given: Given) -> None:
        waiters = [given.ask(f"r{i % 4}", given.position) for i in range(20)]
        await given.waiting(20)
        assert not any(w.done() for w in waiters)
        await given.project()
        answers = await asyncio.gather(*waiters)
        assert {a.status_code for a in answers} == {200}
        assert min(a.json()["position"] for a in answers) >= given.position

    run(make_settings(), scenario)


def test_health_and_a_kept_answer_do_not_wait_for_the_threadpool(
    make_settings: Callable[..., Settings],
) -> None:
    """Whatever holds every thread of the shared pool (here: journey reads held up), the probes and
    an outcome answer already computed are still answered."""

    async def scenario(given: Given) -> None:
        reader = given.headers("reporting", subject="reader")
        params = {"min_position": given.position}
        await given.project()
        kept = await given.http.get("/v1/outcomes", params=params, headers=reader)
        assert kept.status_code == 200
        release, entered = threading.Event(), []
        state = given.container.journeys.state

        def held(*args: Any, **kwargs: Any) -> Any:
            entered.append(1)
            release.wait()
            return state(*args, **kwargs)

        given.container.journeys.state = held  # type: ignore[method-assign]
        try:
            busy = [
                asyncio.ensure_future(
                    given.http.get(f"/v1/journeys/{given.journey_id}", headers=given.writer)
                )
                for _ in range(50)
            ]

            async def full() -> bool:
                return len(entered) >= 40  # the threadpool's size: the other 10 queue for a thread

            await until(full, "every thread of the pool busy")
            guard = 20  # a regression fails here, not hangs
            assert (await given.http.get("/healthz", timeout=guard)).status_code == 200
            assert (await given.http.get("/readyz", timeout=guard)).status_code == 200
            again = await given.http.get("/v1/outcomes", params=params, headers=reader, timeout=guard)
            assert again.status_code == 200
            assert again.json()["position"] >= given.position
            other = {"from": "2020-01", "to": "2020-12"}  # not asked before: computed now
            new = await given.http.get(
                "/v1/teams/noord/outcomes", params=other, headers=reader, timeout=guard
            )
            assert new.status_code == 200
            assert new.json()["first"] == "2020-01"
            assert not any(b.done() for b in busy)
        finally:
            release.set()
        assert {b.status_code for b in await asyncio.gather(*busy)} == {200}

    run(make_settings(), scenario)
