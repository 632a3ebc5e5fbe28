"""The terms of art a journey is recorded in: ladder rungs, ZRM domains, kinds and reasons.

Values are stored as their short English codes; Dutch names are kept beside them because they
are what caseworkers and team leads read.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Rung(IntEnum):
    """A rung of the Participatieladder (participation ladder)."""

    ISOLATED = 1
    SOCIAL_CONTACTS = 2
    ORGANISED_ACTIVITIES = 3
    UNPAID_WORK = 4
    PAID_WORK_WITH_SUPPORT = 5
    PAID_WORK = 6

    @property
    def dutch(self) -> str:
        return _RUNG_NAMES[self][0]

    @property
    def english(self) -> str:
        return _RUNG_NAMES[self][1]


_RUNG_NAMES: dict[Rung, tuple[str, str]] = {
    Rung.ISOLATED: ("Geïsoleerd", "Socially isolated"),
    Rung.SOCIAL_CONTACTS: (
        "Sociale contacten buitenshuis",
        "Social contacts outside the home",
    ),
    Rung.ORGANISED_ACTIVITIES: (
        "Deelname aan georganiseerde activiteiten",
        "Taking part in organised activities",
    ),
    Rung.UNPAID_WORK: ("Onbetaald werk", "Unpaid work"),
    Rung.PAID_WORK_WITH_SUPPORT: (
        "Betaald werk met ondersteuning",
        "Paid work with support",
    ),
    Rung.PAID_WORK: ("Betaald werk", "Paid work without support"),
}

RUNGS = tuple(int(r) for r in Rung)


class WorkExitKind(StrEnum):
    """How a client left social assistance for work (uitstroom naar werk)."""

    EMPLOYMENT = "employment"
    SELF_EMPLOYED = "self_employed"
    WAGE_SUBSIDY = "wage_subsidy"
    SHELTERED_WORK = "sheltered_work"


class Contract(StrEnum):
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


class ReconnectionKind(StrEnum):
    """A way a client reconnected socially (maatschappelijke participatie)."""

    VOLUNTEERING = "volunteering"
    CLUB = "club"
    NEIGHBOURHOOD = "neighbourhood"
    COURSE = "course"
    FAMILY_OR_FRIENDS = "family_or_friends"
    OTHER = "other"


class CloseReason(StrEnum):
    WORK = "work"
    MOVED = "moved"
    OTHER_BENEFIT = "other_benefit"
    DECEASED = "deceased"
    OTHER = "other"


class WorkEndReason(StrEnum):
    """Why paid work ended and the client is back on support."""

    CONTRACT_ENDED = "contract_ended"
    DISMISSED = "dismissed"
    RESIGNED = "resigned"
    HEALTH = "health"
    OTHER = "other"


# Zelfredzaamheid-Matrix (self-reliance matrix): domain code -> Dutch name, per version.
ZRM_DOMAINS: dict[str, dict[str, str]] = {
    "2013": {
        "finances": "Financiën",
        "daytime_activities": "Dagbesteding",
        "housing": "Huisvesting",
        "domestic_relations": "Huiselijke relaties",
        "mental_health": "Geestelijke gezondheid",
        "physical_health": "Lichamelijke gezondheid",
        "addiction": "Verslaving",
        "adl": "ADL-vaardigheden",
        "social_network": "Sociaal netwerk",
        "community_participation": "Maatschappelijke participatie",
        "justice": "Justitie",
    },
    "2017": {
        "finances": "Financiën",
        "work_and_education": "Werk & opleiding",
        "time_use": "Tijdsbesteding",
        "housing": "Huisvesting",
        "domestic_relations": "Huiselijke relaties",
        "mental_health": "Geestelijke gezondheid",
        "physical_health": "Lichamelijke gezondheid",
        "substance_use": "Middelengebruik",
        "basic_adl": "Basale ADL",
        "instrumental_adl": "Instrumentele ADL",
        "social_network": "Sociaal netwerk",
        "community_participation": "Maatschappelijke participatie",
        "justice": "Justitie",
    },
}
ZRM_SCORES = range(1, 6)
