"""What the mirror's endpoints answer: months of figures, each a value or a suppressed cell."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from pydantic import BaseModel, Field

from projections.queries import Month


class FigureOut(BaseModel):
    value: int | None = Field(description="The count; null when suppressed.")
    suppressed: bool = Field(description="True when the count is between 1 and k-1, or could reveal one.")


class MonthOut(BaseModel):
    month: str = Field(description="YYYY-MM")
    complete: bool = Field(description="False while the month has not ended: figures may still change.")
    figures: dict[str, FigureOut] = Field(description="See docs/outcomes.md for every figure name.")

    @classmethod
    def of(cls, m: Month) -> MonthOut:
        return cls(
            month=m.month,
            complete=m.complete,
            figures={k: FigureOut(value=f.value, suppressed=f.suppressed) for k, f in m.figures.items()},
        )


class Reflecting(BaseModel):
    position: int = Field(description="The event-log position these figures reflect.")
    exact: bool = Field(description="True when no cell of this answer is suppressed for this viewer.")
    k: int = Field(description="Counts 1..k-1 are suppressed outside the team.")
    sustained_months: int
    first: str
    last: str


class TeamOutcomesOut(Reflecting):
    team: str
    months: list[MonthOut]


class MunicipalityOutcomesOut(Reflecting):
    municipality: str
    months: list[MonthOut] = Field(description="The municipality: every team summed.")
    teams: dict[str, list[MonthOut]]


class FlowsOut(Reflecting):
    team: str
    months: list[MonthOut] = Field(description="Per month: flow.<from>.<to> counts and steps_up/down/same.")


def as_csv(scoped: Iterable[tuple[str, list[Month]]]) -> str:
    """One row per scope, month and figure: scope,month,complete,figure,value,suppressed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scope", "month", "complete", "figure", "value", "suppressed"])
    for scope, months in scoped:
        for m in months:
            for name, f in sorted(m.figures.items()):
                writer.writerow(
                    [scope, m.month, m.complete, name, "" if f.value is None else f.value, f.suppressed]
                )
    return out.getvalue()
