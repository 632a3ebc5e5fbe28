"""The composition root: builds every long-lived object from one Settings, and closes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from infra.settings import Settings
from infra.store import SqlPositions, library_env, local_secret, ping
from services.journeys import JourneysApp


@dataclass
class Container:
    settings: Settings
    journeys: JourneysApp
    jwt_key: bytes

    def today(self) -> date:
        """Today in the municipality's calendar: the latest effective date a fact may carry."""
        return datetime.now(UTC).astimezone(ZoneInfo(self.settings.timezone)).date()

    def head_position(self) -> int:
        return ping(self.journeys.recorder)

    def close(self) -> None:
        self.journeys.close()


def build(settings: Settings | None = None) -> Container:
    settings = settings or Settings()
    journeys = JourneysApp(
        library_env(settings),
        pseudonym_key=local_secret(settings, "pseudonym.key", settings.pseudonym_key),
        municipality=settings.municipality,
    )
    journeys.positions = SqlPositions(journeys.recorder)
    jwt_key = (
        settings.jwt_public_key.encode()
        if settings.jwt_public_key
        else local_secret(settings, "jwt.secret", settings.jwt_secret)
    )
    return Container(settings=settings, journeys=journeys, jwt_key=jwt_key)
