"""The golden fixtures, read: each stored event exactly as the store held it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.journey import Journey

EVENTS = Path(__file__).parent / "events"
MANIFEST = Path(__file__).parent / "manifest.json"
_NAME = re.compile(r"(?P<kind>\w+)\.v(?P<version>\d+)\.json")


@dataclass(frozen=True)
class Fixture:
    path: Path
    kind: str
    class_version: int
    data: dict[str, Any]

    @property
    def stored(self) -> StoredEvent:
        return StoredEvent(
            originator_id=UUID(self.data["originator_id"]),
            originator_version=int(self.data["originator_version"]),
            topic=self.data["topic"],
            state=self.data["state"].encode(),
        )


def fixtures() -> list[Fixture]:
    found = []
    for path in sorted(EVENTS.glob("*.json")):
        name = _NAME.fullmatch(path.name)
        assert name is not None, f"{path.name} is not named <Class>.v<N>.json"
        found.append(Fixture(path, name["kind"], int(name["version"]), json.loads(path.read_text())))
    return found


def event_classes() -> list[type[Journey.Fact]]:
    """Every journey event class: the nested classes of Journey that are facts."""
    return [
        cls
        for cls in vars(Journey).values()
        if isinstance(cls, type) and issubclass(cls, Journey.Fact) and cls is not Journey.Fact
    ]


def journey_of(pick: str) -> list[StoredEvent]:
    """The golden journey, each event at its oldest ("oldest") or current ("newest") version."""
    chosen: dict[str, Fixture] = {}
    for f in fixtures():
        held = chosen.get(f.kind)
        if held is None or (f.class_version > held.class_version) == (pick == "newest"):
            chosen[f.kind] = f
    return sorted((f.stored for f in chosen.values()), key=lambda s: s.originator_version)
