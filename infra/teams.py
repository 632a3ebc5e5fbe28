"""The municipality's teams: a table beside its events (the SQLite file, or its PostgreSQL schema).

A team is registered by an administrator (`traject teams add`, or the TRAJECT_TEAMS setting,
applied at every start); nothing else makes one. Teams are never removed: journeys and figures
keep naming them. The table name is our own identifier, never input, hence the f-strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder

from domain.teams import InvalidTeamError, team_slug

TABLE = "traject_teams"
_NAME = re.compile(r"\w[^\x00-\x1f\x7f]{0,99}")  # a word character first: never a formula


class InvalidTeamName(ValueError):
    """A display name that is empty, too long, holds control characters or starts like a formula."""


@dataclass(frozen=True, slots=True)
class Team:
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class Adoption:
    """What `adopt` made of the teams journeys already hold: registered, and left out (and why)."""

    added: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def configured(text: str) -> list[Team]:
    """Teams from the TRAJECT_TEAMS setting: `slug[:name]` pairs separated by commas."""
    found: list[Team] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        slug, _, name = part.partition(":")
        try:
            team = Team(team_slug(slug), display_name(name or slug))
        except (InvalidTeamError, InvalidTeamName) as e:
            msg = f"TRAJECT_TEAMS: {part!r}: {e}"
            raise ValueError(msg) from None
        if any(t.slug == team.slug for t in found):
            msg = f"TRAJECT_TEAMS: {team.slug} is listed twice"
            raise ValueError(msg)
        found.append(team)
    return found


def display_name(name: str) -> str:
    name = name.strip()
    if not _NAME.fullmatch(name):
        msg = "a team's name is 1 to 100 characters, starting with a letter or digit, without control characters"
        raise InvalidTeamName(msg)
    return name


class StoredTeams:
    """The registry (services.journeys.TeamRegistry) over the team table.

    Each process keeps the registered slugs in memory. A slug it does not hold is looked up in the
    table again before it is refused, so a team that `traject teams add` registers while the
    service runs is known from its first use on, in every process.
    """

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self.pg = isinstance(recorder, PostgresApplicationRecorder)
        schema = f'"{recorder.datastore.schema}".' if self.pg else ""  # type: ignore[attr-defined]
        self.table = f"{schema}{TABLE}"
        self._slugs: frozenset[str] = frozenset()
        self.create()
        self.reload()

    def create(self) -> None:
        with self._transaction() as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} "
                "(slug TEXT PRIMARY KEY, name TEXT NOT NULL, added_at TEXT NOT NULL)"
            )

    # --- the registry the journeys application and the API ask ---------------------------------

    def cached(self) -> frozenset[str]:
        """The registered slugs this process holds (no I/O; a team added elsewhere may be missing)."""
        return self._slugs

    def known(self, slug: str) -> bool:
        """Whether a slug is a registered team; reads the table when this process does not hold it."""
        return slug in self._slugs or slug in self.reload()

    def reload(self) -> frozenset[str]:
        self._slugs = frozenset(t.slug for t in self.all())
        return self._slugs

    # --- administration ------------------------------------------------------------------------

    def all(self) -> list[Team]:
        with self._transaction() as c:
            c.execute(f"SELECT slug, name FROM {self.table} ORDER BY slug")  # noqa: S608
            return [Team(*_values(row)) for row in c.fetchall()]

    def add(self, slug: str, name: str = "") -> Team:
        """Register a team, or rename one (its slug stays: journeys and figures name it)."""
        team = Team(team_slug(slug), display_name(name or slug))
        self.register([team])
        return team

    def register(self, teams: Iterable[Team]) -> None:
        """Register or rename these teams in one transaction; none if the table already says so
        (every process applies TRAJECT_TEAMS at its start)."""
        changed = set(teams) - set(self.all())
        if changed:
            now = datetime.now(UTC).isoformat()
            with self._transaction() as c:
                c.executemany(
                    self._q(
                        f"INSERT INTO {self.table} (slug, name, added_at) VALUES (?, ?, ?) "  # noqa: S608
                        "ON CONFLICT (slug) DO UPDATE SET name = excluded.name"
                    ),
                    [(t.slug, t.name, now) for t in sorted(changed, key=lambda t: t.slug)],
                )
        self.reload()

    def adopt(self, in_use: Iterable[str]) -> Adoption:
        """Register the teams journeys already hold (a store from before the registry); a team
        name that is not its own slug (`NOORD`, a zero-width joiner) is left out, with the reason."""
        adoption = Adoption()
        registered = self.reload()
        for name in in_use:
            try:
                slug = team_slug(name)
            except InvalidTeamError as e:
                adoption.refused[name] = e.detail
                continue
            if slug != name:
                adoption.refused[name] = f"a look-alike of {slug}; only {slug} can be a team"
            elif slug not in registered:
                self.add(slug)
                adoption.added.append(slug)
        return adoption

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def _transaction(self) -> Any:
        return self.recorder.datastore.transaction(commit=True)  # type: ignore[attr-defined]


def _values(row: Any) -> tuple[Any, ...]:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)
