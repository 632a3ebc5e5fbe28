"""Why a request or a message was refused, as problem-details members (RFC 9457).

One mapping for both ways in: HTTP answers (api/problems.py) and the inbound topic's dead letters
(api/ingest.py). No web framework is imported here, so the worker does not load one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.schemas import TYPE_TAGS
from domain.errors import Conflict, JourneyError
from services.journeys import JourneyNotFound

MAX_LISTED = 20  # problems listed in one answer: a 1 MB body must not earn a 5 MB answer
MAX_TEXT = 200  # characters of a name or reason: a message may quote the (long) input


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def _location(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header") and p not in TYPE_TAGS]
    return _clip(".".join(parts))


def invalid_members(errors: Sequence[Any]) -> dict[str, Any]:
    """The problem members for schema errors (pydantic's): the first as `detail` and `field`, the
    first MAX_LISTED in `invalidParams`, and how many there were in `invalidParamsTotal`."""
    params = [
        {"name": _location(e["loc"]), "code": e["type"], "reason": _clip(e["msg"])}
        for e in errors[:MAX_LISTED]
    ]
    first = params[0] if params else {"name": "", "code": "invalid", "reason": "invalid request"}
    return {
        "detail": f"{first['name']}: {first['reason']}" if first["name"] else first["reason"],
        "code": first["code"],
        "field": first["name"] or None,
        "invalidParams": params,
        "invalidParamsTotal": len(errors),
    }


def refusal_members(error: Exception, prefix: str = "") -> dict[str, Any]:
    """The problem members for a fact the journeys application refused; `prefix` leads the field
    (`events.3.` in an HTTP batch, `event.` on the inbound topic). Raises what it does not know."""
    code = type(error).__name__
    if isinstance(error, JourneyError):
        field = f"{prefix}{error.field}" if error.field else None
        return {
            "status": 409 if isinstance(error, Conflict) else 422,
            "title": error.title,
            "detail": error.detail,
            "code": code,
            "field": field,
            "invalidParams": [{"name": field, "code": code, "reason": error.detail}] if field else None,
        }
    if isinstance(error, JourneyNotFound):
        field = f"{prefix}journey_id" if prefix else None
        return {
            "status": 404,
            "title": "Journey not found",
            "detail": str(error),
            "code": code,
            "field": field,
        }
    raise error
