"""Errors named in the domain's words.

`InvalidFact` means the input itself can never be right (a rung of 7); `Conflict` means it does
not fit the journey as it stands (a step dated after the closure). Each names the field at fault
so that every edge can point the caller at it.
"""

from __future__ import annotations


class JourneyError(Exception):
    """Base of every rule the journey keeps."""

    title = "Journey rule violated"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidFact(JourneyError):
    title = "Invalid fact"


class Conflict(JourneyError):
    title = "Conflicts with the journey"


class InvalidRungError(InvalidFact):
    title = "Invalid rung"


class InvalidZrmError(InvalidFact):
    title = "Invalid ZRM assessment"


class FutureDateError(InvalidFact):
    title = "Effective date in the future"


class BeforeStartError(InvalidFact):
    title = "Effective date before the journey started"


class InvalidValueError(InvalidFact):
    title = "Invalid value"


class JourneyClosedError(Conflict):
    title = "Journey closed on that date"


class NotClosedError(Conflict):
    title = "Journey not closed on that date"


class NoWorkToEndError(Conflict):
    title = "No work exit to end on that date"


class SameTeamError(Conflict):
    title = "Journey already held by that team"


class EntryNotFoundError(Conflict):
    title = "No such entry"


class AlreadyVoidedError(Conflict):
    title = "Entry already voided"


class NotVoidableError(Conflict):
    title = "Entry cannot be voided"


class IdempotencyConflict(Conflict):
    """The client's event id was used before, for a different fact."""

    title = "Event id reused for a different fact"
