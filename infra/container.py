"""The composition root: builds every long-lived object from one Settings, and closes them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from infra.position_watch import (
    POSITION_FRESH_S,
    BeyondTheLog,
    OneAtATime,
    PositionWatch,
    ProjectionBehind,
    TooManyWaiting,
)
from infra.projection_runner import MirrorRunner
from infra.settings import Settings
from infra.store import SqlPositions, library_env, local_secret, ping, schema_setup
from infra.teams import StoredTeams, configured
from infra.views import MirrorView
from services.journeys import JourneysApp

__all__ = [
    "POSITION_FRESH_S",
    "BeyondTheLog",
    "Container",
    "ProjectionBehind",
    "Status",
    "TooManyWaiting",
    "build",
]

Status = tuple[int, int, str | None]  # the event log's head; the mirror's position, and failure


@dataclass
class Container:
    settings: Settings
    journeys: JourneysApp
    jwt_key: bytes
    mirror: MirrorRunner
    teams: StoredTeams
    watch: PositionWatch
    # For operators' probes (readyz, metrics): one read at a time on a thread of its own, shared by
    # all who ask meanwhile, so that neither a crowd of probes nor a busy threadpool starves the other.
    status: OneAtATime[Status] = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = OneAtATime(self._status, "status")

    def today(self) -> date:
        """Today in the municipality's calendar: the latest effective date a fact may carry."""
        return datetime.now(UTC).astimezone(ZoneInfo(self.settings.timezone)).date()

    def head_position(self) -> int:
        return ping(self.journeys.recorder)

    def _status(self) -> Status:
        head = self.head_position()
        position, failure = self.watch.read_tracking()
        return head, position, failure

    def await_position(self, position: int | None, timeout: float) -> int:
        """The mirror's position, once it reflects `position` (read-your-writes), blocking.

        A position read within the last POSITION_FRESH_S seconds is answered again: under load
        every request would otherwise read it from the database, to learn mostly that nothing
        moved. A reader who needs its own write waits for it (`position`), and never gets less.
        For threads (the CLI, tests); requests wait with `position`, which holds no thread.
        """
        seen = self.fresh_position(position)
        if seen is not None:
            return seen
        if position is not None and not self.mirror.wait_for(position, timeout):
            raise ProjectionBehind(position, self.mirror.view.position())
        return self.watch.read_tracking()[0]

    async def position(self, wanted: int | None, timeout: float, caller: str) -> int:
        """As `await_position`, on the event loop: a waiting reader holds no thread, and is let in
        to wait only within the bounds (`TooManyWaiting`)."""
        return await self.watch.position(wanted, timeout, caller)

    def fresh_position(self, position: int | None = None, within: float = POSITION_FRESH_S) -> int | None:
        """The position read in the last `within` seconds, if it reflects `position`; else None (no I/O)."""
        return self.watch.fresh(position, within)

    def start_projections(self) -> None:
        """Keep the views current from this process (the embedded default)."""
        thread = threading.Thread(target=self._run_mirror, name="mirror", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _run_mirror(self) -> None:
        try:
            self.mirror.run(self._stop)
        except Exception:  # noqa: BLE001 - recorded on the runner and in the view; readyz reports it
            return

    def close(self) -> None:
        self._stop.set()
        self.mirror.close()
        for thread in self._threads:
            thread.join(timeout=10)
        self.watch.close()
        self.status.close()
        self.journeys.close()


def build(settings: Settings | None = None) -> Container:
    settings = settings or Settings()
    listed = configured(settings.teams)  # a bad list stops the start before anything is opened
    with schema_setup(settings):  # creates what is missing; processes starting together take turns
        journeys = JourneysApp(
            library_env(settings),
            pseudonym_key=local_secret(settings, "pseudonym.key", settings.pseudonym_key),
            municipality=settings.municipality,
        )
        view = MirrorView(journeys.recorder)
        teams = StoredTeams(journeys.recorder)
        teams.register(listed)
    journeys.teams = teams
    journeys.positions = SqlPositions(journeys.recorder)
    jwt_key = (
        settings.jwt_public_key.encode()
        if settings.jwt_public_key
        else local_secret(settings, "jwt.secret", settings.jwt_secret)
    )
    mirror = MirrorRunner(journeys, view, settings.projection_batch)
    journeys.on_recorded = lambda _head: mirror.wake.set()
    watch = PositionWatch(
        view.progress,
        per_caller=settings.position_waiters_per_caller,
        total=settings.position_waiters,
        nudge=mirror.wake.set,
        head=lambda: ping(journeys.recorder),
    )
    mirror.moved = watch.reached
    return Container(
        settings=settings, journeys=journeys, jwt_key=jwt_key, mirror=mirror, watch=watch, teams=teams
    )
