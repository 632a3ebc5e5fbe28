"""What goes over the wire. Pydantic lives here and at no deeper layer.

Incoming bodies forbid unknown fields (a typo must not be silently dropped) and carry the client's
event id, which makes every write safe to retry.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

from api import text
from domain.vocabulary import (
    CloseReason,
    Contract,
    ReconnectionKind,
    Rung,
    WorkEndReason,
    WorkExitKind,
)
from services.commands import (
    AssessSelfReliance,
    ChangeTeam,
    CloseJourney,
    FactCommand,
    RecordReconnection,
    RecordStep,
    RecordWorkEnded,
    RecordWorkExit,
    ReopenJourney,
    StartJourney,
    VoidEntry,
)
from services.journeys import HistoryEntry, JourneyView, Written

MAX_BATCH_ITEMS = 1000
# Free text holds visible characters only, and never a BSN (api/text.py says why).
Line = Annotated[str, AfterValidator(text.plain)]
Text = Annotated[Line, Field(min_length=1, max_length=200)]
Note = Annotated[str, Field(max_length=500), AfterValidator(text.note)]
# Team and municipality names: a word character first (so never a spreadsheet formula), then words.
Name = Annotated[Line, Field(min_length=1, max_length=64, pattern=r"^\w[\w .'-]*$")]
RungNumber = Annotated[StrictInt, Field(description="Participatieladder rung 1-6.")]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: UUID = Field(description="The client's id for this fact; the idempotency key.")
    source: Annotated[Line, Field(max_length=100)] = Field(
        default="", description="The app that records the fact."
    )
    correlation_id: Annotated[Line, Field(max_length=100)] = ""


class StartIn(In):
    type: Literal["start"] = "start"
    client_reference: Text = Field(
        description="The municipality's own client number (never a BSN); stored only as a keyed pseudonym."
    )
    team: Name
    initial_rung: RungNumber
    effective_date: date
    municipality: Name | None = None

    def command(self) -> StartJourney:
        return StartJourney(
            self.client_reference,
            self.team,
            self.initial_rung,
            self.effective_date,
            self.municipality or "",
        )


class LadderStepIn(In):
    type: Literal["ladder_step"]
    to_rung: RungNumber
    effective_date: date

    def command(self) -> FactCommand:
        return RecordStep(self.to_rung, self.effective_date)


class WorkExitIn(In):
    type: Literal["work_exit"]
    kind: WorkExitKind
    hours_per_week: float = Field(strict=True)
    contract: Contract
    effective_date: date

    def command(self) -> FactCommand:
        return RecordWorkExit(
            self.kind.value,
            self.hours_per_week,
            self.contract.value,
            self.effective_date,
        )


class WorkEndedIn(In):
    type: Literal["work_ended"]
    reason: WorkEndReason
    effective_date: date

    def command(self) -> FactCommand:
        return RecordWorkEnded(self.reason.value, self.effective_date)


class ReconnectionIn(In):
    type: Literal["social_reconnection"]
    kind: ReconnectionKind
    effective_date: date

    def command(self) -> FactCommand:
        return RecordReconnection(self.kind.value, self.effective_date)


class AssessmentIn(In):
    type: Literal["self_reliance_assessment"]
    zrm_version: Literal["2013", "2017"]
    scores: dict[str, StrictInt] = Field(description="ZRM domain code -> score 1-5.")
    effective_date: date

    def command(self) -> FactCommand:
        return AssessSelfReliance(self.zrm_version, self.effective_date, dict(self.scores))


class TeamChangeIn(In):
    type: Literal["team_change"]
    to_team: Name
    effective_date: date

    def command(self) -> FactCommand:
        return ChangeTeam(self.to_team, self.effective_date)


class ClosureIn(In):
    type: Literal["closure"]
    reason: CloseReason
    effective_date: date

    def command(self) -> FactCommand:
        return CloseJourney(self.reason.value, self.effective_date)


class ReopeningIn(In):
    type: Literal["reopening"]
    effective_date: date
    note: Note = Field(default="", description="Free text: why the journey reopens. It stays inside.")
    reason: Note = Field(
        default="",
        description="The old name of `note` (before events version 2), still accepted; give one of them.",
        json_schema_extra={"deprecated": True},
    )

    @model_validator(mode="after")
    def _one_name(self) -> ReopeningIn:
        if self.note and self.reason:
            msg = "give the note as `note` (or by its old name `reason`), not both"
            raise ValueError(msg)
        return self

    def command(self) -> FactCommand:
        return ReopenJourney(self.effective_date, self.note or self.reason)


class VoidIn(In):
    type: Literal["void"]
    voided_version: StrictInt = Field(ge=1, description="The version of the entry that was wrong.")
    reason: Annotated[Note, Field(min_length=1)]

    def command(self) -> FactCommand:
        return VoidEntry(self.voided_version, self.reason)


FactIn = Annotated[
    LadderStepIn
    | WorkExitIn
    | WorkEndedIn
    | ReconnectionIn
    | AssessmentIn
    | TeamChangeIn
    | ClosureIn
    | ReopeningIn
    | VoidIn,
    Field(discriminator="type"),
]


class BatchStartIn(StartIn):
    type: Literal["start"]


class LadderStepBatchIn(LadderStepIn):
    journey_id: UUID


class WorkExitBatchIn(WorkExitIn):
    journey_id: UUID


class WorkEndedBatchIn(WorkEndedIn):
    journey_id: UUID


class ReconnectionBatchIn(ReconnectionIn):
    journey_id: UUID


class AssessmentBatchIn(AssessmentIn):
    journey_id: UUID


class TeamChangeBatchIn(TeamChangeIn):
    journey_id: UUID


class ClosureBatchIn(ClosureIn):
    journey_id: UUID


class ReopeningBatchIn(ReopeningIn):
    journey_id: UUID


class VoidBatchIn(VoidIn):
    journey_id: UUID


BatchItemIn = Annotated[
    BatchStartIn
    | LadderStepBatchIn
    | WorkExitBatchIn
    | WorkEndedBatchIn
    | ReconnectionBatchIn
    | AssessmentBatchIn
    | TeamChangeBatchIn
    | ClosureBatchIn
    | ReopeningBatchIn
    | VoidBatchIn,
    Field(discriminator="type"),
]


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[BatchItemIn] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


# --- out ---------------------------------------------------------------------------------------


class WrittenOut(BaseModel):
    journey_id: UUID
    version: int = Field(description="The entry's version within its journey.")
    position: int | None = Field(description="The global position the event was stored at.")
    duplicate: bool = Field(description="True when this event id was recorded before.")

    @classmethod
    def of(cls, w: Written) -> WrittenOut:
        return cls.model_validate(w, from_attributes=True)


class BatchOut(BaseModel):
    results: list[WrittenOut]


class RungOut(BaseModel):
    number: int
    dutch: str
    english: str

    @classmethod
    def of(cls, number: int) -> RungOut:
        rung = Rung(number)
        return cls(number=number, dutch=rung.dutch, english=rung.english)


class WorkExitOut(BaseModel):
    version: int
    effective_date: date
    kind: str
    hours_per_week: float
    contract: str
    ended_on: date | None


class AssessmentOut(BaseModel):
    version: int
    zrm_version: str
    effective_date: date
    scores: dict[str, int]


class JourneyOut(BaseModel):
    journey_id: UUID
    municipality: str
    version: int
    start_date: date
    as_of: date = Field(description="The date the state is for (valid time).")
    team: str
    status: Literal["open", "closed"]
    rung: RungOut
    in_work: bool
    work_exits: list[WorkExitOut]
    assessments: list[AssessmentOut] = Field(description="The latest per ZRM version.")

    @classmethod
    def of(cls, journey: JourneyView) -> JourneyOut:
        state = journey.state
        return cls(
            journey_id=journey.journey_id,
            municipality=journey.municipality,
            version=journey.version,
            start_date=journey.start_date,
            as_of=state.day,
            team=state.team,
            status="open" if state.is_open else "closed",
            rung=RungOut.of(state.rung),
            in_work=state.in_work,
            work_exits=[
                WorkExitOut(
                    version=x.version,
                    effective_date=x.effective_date,
                    kind=x.facts["kind"],
                    hours_per_week=x.facts["hours_per_week"],
                    contract=x.facts["contract"],
                    ended_on=x.ended_on,
                )
                for x in state.work_exits
            ],
            assessments=[
                AssessmentOut(
                    version=a.version,
                    zrm_version=str(a.facts["zrm_version"]),
                    effective_date=a.effective_date,
                    scores=dict(a.facts["scores"]),
                )
                for a in state.assessments.values()
            ],
        )


class HistoryEntryOut(BaseModel):
    version: int
    kind: str
    effective_date: date
    recorded_at: datetime = Field(description="When traject learned the fact (UTC).")
    event_id: UUID
    actor_id: str
    actor_role: str
    source: str
    channel: str
    correlation_id: str
    facts: dict[str, Any]
    voided_by: int | None = Field(description="The version of the entry that voided this one.")

    @classmethod
    def of(cls, e: HistoryEntry) -> HistoryEntryOut:
        return cls.model_validate(e, from_attributes=True)


class HistoryOut(BaseModel):
    journey_id: UUID
    known_at: datetime | None
    entries: list[HistoryEntryOut]


def _type_tags(*models: type[BaseModel]) -> frozenset[str]:
    return frozenset(arg for m in models for arg in get_args(m.model_fields["type"].annotation))


# The `type` values pydantic puts in error locations of tagged unions; not field names.
TYPE_TAGS = _type_tags(
    StartIn,
    LadderStepIn,
    WorkExitIn,
    WorkEndedIn,
    ReconnectionIn,
    AssessmentIn,
    TeamChangeIn,
    ClosureIn,
    ReopeningIn,
    VoidIn,
)
