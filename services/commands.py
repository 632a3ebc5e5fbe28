"""Commands: what a caller asks the journeys application to record, one small class each.

Each command knows which aggregate method it calls; the edges (HTTP, Kafka) only build commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol
from uuid import UUID

from domain.journey import Journey, Provenance


class FactCommand(Protocol):
    """A fact about an existing journey."""

    def apply_to(self, journey: Journey, by: Provenance) -> int: ...


@dataclass(frozen=True, slots=True)
class StartJourney:
    client_reference: str  # the municipality's own reference; stored only as a keyed pseudonym
    team: str
    initial_rung: int
    effective_date: date
    municipality: str = ""


@dataclass(frozen=True, slots=True)
class RecordStep:
    to_rung: int
    effective_date: date

    def apply_to(self, journey: Journey, by: Provenance) -> int:
        return journey.record_step(self.to_rung, self.effective_date, by)


@dataclass(frozen=True, slots=True)
class RecordWorkExit:
    kind: str
    hours_per_week: float
    contract: str
    effective_date: date

    def apply_to(self, journey: Journey, by: Provenance) -> int:
        return journey.record_work_exit(
            self.kind, self.hours_per_week, self.contract, self.effective_date, by
        )


@dataclass(frozen=True, slots=True)
class RecordWorkEnded:
    reason: str
    effective_date: date

    def apply_to(self, journey: Journey, by: Provenance) -> int:
        return journey.record_work_ended(self.reason, self.effective_date, by)


@dataclass(frozen=True, slots=True)
class RecordReconnection:
    kind: str
    effective_date: date

    def apply_to(self, journey: Journey, by: Provenance) -> int:
        return journey.record_reconnection(self.kind, self.effective_date, by)


@dataclass(frozen=True, slots=True)
class AssessSelfReliance:
    zrm_version: str
    effective_date: date
    scores: dict[str, int] = field(default_factory=dict)

    def apply_to(self, journey: Journey, by: Provenance) -> int:
        return journey.assess_self_reliance(self.zrm_version, self.scores, self.effective_date, by)


@dataclass(frozen=True, slots=True)
class ChangeTeam:
    to_team: str
    effective_date: date

    def apply_to(self, journey: Journey, by: Provenance) -> int:
        return journey.change_team(self.to_team, self.effective_date, by)


@dataclass(frozen=True, slots=True)
class CloseJourney:
    reason: str
    effective_date: date

    def apply_to(self, journey: Journey, by: Provenance) -> int:
        return journey.close(self.reason, self.effective_date, by)


@dataclass(frozen=True, slots=True)
class ReopenJourney:
    effective_date: date
    note: str = ""

    def apply_to(self, journey: Journey, by: Provenance) -> int:
        return journey.reopen(self.note, self.effective_date, by)


@dataclass(frozen=True, slots=True)
class VoidEntry:
    voided_version: int
    reason: str

    def apply_to(self, journey: Journey, by: Provenance) -> int:
        return journey.void(self.voided_version, self.reason, by)


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One item of a batch: a start (journey_id None) or a fact about a journey."""

    command: StartJourney | FactCommand
    by: Provenance
    journey_id: UUID | None = None
