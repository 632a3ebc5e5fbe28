"""The composition root: builds every long-lived object from one Settings, and closes them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from infra.projection_runner import MirrorRunner
from infra.settings import Settings
from infra.store import SqlPositions, library_env, local_secret, ping, schema_setup
from infra.teams import StoredTeams, configured
from infra.views import MirrorView
from services.journeys import JourneysApp

POSITION_FRESH_S = 0.05  # how long a read of the mirror's position answers for others


class ProjectionBehind(Exception):
    """The views have not reached the position a reader asked for within its timeout."""

    def __init__(self, wanted: int, reached: int) -> None:
        super().__init__(f"the figures reflect position {reached}, not yet {wanted}")
        self.wanted, self.reached = wanted, reached


@dataclass
class Container:
    settings: Settings
    journeys: JourneysApp
    jwt_key: bytes
    mirror: MirrorRunner
    teams: StoredTeams
    _stop: threading.Event = field(default_factory=threading.Event)
    _position_seen: tuple[float, int] = (float("-inf"), 0)  # (monotonic time read, position)
    _threads: list[threading.Thread] = field(default_factory=list)

    def today(self) -> date:
        """Today in the municipality's calendar: the latest effective date a fact may carry."""
        return datetime.now(UTC).astimezone(ZoneInfo(self.settings.timezone)).date()

    def head_position(self) -> int:
        return ping(self.journeys.recorder)

    def await_position(self, position: int | None, timeout: float) -> int:
        """The mirror's position, once it reflects `position` (read-your-writes).

        A position read within the last POSITION_FRESH_S seconds is answered again: under load
        every request would otherwise read it from the database, to learn mostly that nothing
        moved. A reader who needs its own write waits for it (`position`), and never gets less.
        """
        seen = self.fresh_position(position)
        if seen is not None:
            return seen
        if position is not None and not self.mirror.wait_for(position, timeout):
            raise ProjectionBehind(position, self.mirror.view.position())
        now = time.monotonic()
        reached = self.mirror.view.position()
        self._position_seen = (now, reached)
        return reached

    def fresh_position(self, position: int | None = None, within: float = POSITION_FRESH_S) -> int | None:
        """The position read in the last `within` seconds, if it reflects `position`; else None (no I/O)."""
        seen_at, seen = self._position_seen
        if time.monotonic() - seen_at < within and (position is None or seen >= position):
            return seen
        return None

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
    return Container(settings=settings, journeys=journeys, jwt_key=jwt_key, mirror=mirror, teams=teams)
