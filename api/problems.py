"""Every error leaves as application/problem+json (RFC 9457), mapped here and nowhere else."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from api import API_VERSION
from api.auth import PUBLIC, Forbidden, Unauthenticated
from api.deps import TeamNotFound
from api.reasons import invalid_members, refusal_members
from domain.errors import JourneyError
from infra.container import BeyondTheLog, ProjectionBehind, TooManyWaiting
from infra.store import StoreError, store_busy
from services.journeys import (
    BatchItemError,
    ConcurrencyConflict,
    JourneyNotFound,
    OutOfScope,
)

PROBLEM = "application/problem+json"
log = logging.getLogger("traject.api")


def problem(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "status": status, "title": title}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    response = JSONResponse(body, status_code=status, media_type=PROBLEM)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _field_problem(error: Exception, item: int | None = None) -> JSONResponse:
    prefix = f"events.{item}." if item is not None else ""
    if isinstance(error, OutOfScope):
        return problem(403, "Forbidden", str(error), field=f"{prefix}team", item=item)
    members = refusal_members(error, prefix)
    return problem(members.pop("status"), members.pop("title"), members.pop("detail"), item=item, **members)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if errors and errors[0]["type"] == "json_invalid":  # not JSON at all: malformed, not invalid
            at = errors[0]["loc"][-1]
            detail = f"the body is not well-formed JSON (at character {at})"
            return problem(400, "Malformed request", detail, field="body", code="json_invalid")
        item = next((p for p in errors[0]["loc"][2:3] if isinstance(p, int)), None) if errors else None
        members = invalid_members(errors)
        return problem(422, "Invalid request", members.pop("detail"), item=item, **members)

    @app.exception_handler(JourneyError)
    def journey_error(_: Request, exc: JourneyError) -> JSONResponse:
        return _field_problem(exc)

    @app.exception_handler(JourneyNotFound)
    def not_found(_: Request, exc: JourneyNotFound) -> JSONResponse:
        return problem(404, "Journey not found", str(exc))

    @app.exception_handler(OutOfScope)
    def out_of_scope(_: Request, exc: OutOfScope) -> JSONResponse:
        return _field_problem(exc)

    @app.exception_handler(BatchItemError)
    def batch_item(_: Request, exc: BatchItemError) -> JSONResponse:
        return _field_problem(exc.error, exc.index)

    @app.exception_handler(TeamNotFound)
    def no_team(_: Request, exc: TeamNotFound) -> JSONResponse:
        return problem(404, "Team not found", str(exc), field="team")

    @app.exception_handler(ConcurrencyConflict)
    def concurrency(_: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return problem(409, "Concurrent update", f"{exc}; retry the request")

    @app.exception_handler(ProjectionBehind)
    def behind(_: Request, exc: ProjectionBehind) -> JSONResponse:
        response = problem(503, "Figures not yet current", str(exc), field="min_position")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(BeyondTheLog)
    def beyond_the_log(_: Request, exc: BeyondTheLog) -> JSONResponse:
        reason = {"name": "min_position", "code": "beyond_the_log", "reason": str(exc)}
        return problem(422, "Position not in the log", str(exc), field="min_position", invalidParams=[reason])

    @app.exception_handler(TooManyWaiting)
    def too_many_waiting(_: Request, exc: TooManyWaiting) -> JSONResponse:
        response = problem(503, "Too many requests waiting", str(exc), field="min_position")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(Unauthenticated)
    def unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        return problem(401, "Unauthorized", str(exc))

    @app.exception_handler(Forbidden)
    def forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return problem(403, "Forbidden", str(exc))

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        response = problem(exc.status_code, title(exc.status_code), str(exc.detail))
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    @app.exception_handler(Exception)
    def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        response = problem(500, "Internal error", "the request failed unexpectedly")
        # Answered outside the edge's middleware (Starlette's outermost), so its headers are set here.
        response.headers.update({"API-Version": API_VERSION, "Connection": "close"})
        return response

    @app.exception_handler(StoreError)
    def store_error(request: Request, exc: StoreError) -> JSONResponse:
        if not store_busy(exc):
            return unexpected(request, exc)
        response = problem(503, "Store busy", "no database connection or lock came free in time; retry")
        response.headers["Retry-After"] = "1"
        return response


class InvalidParam(BaseModel):
    name: str
    code: str
    reason: str


class Problem(BaseModel):
    """An error answer (RFC 9457): `field` names the failing input, `invalidParams` lists them."""

    type: str = "about:blank"
    status: int
    title: str
    detail: str | None = None
    field: str | None = Field(default=None, description="The failing input, e.g. events.3.to_rung.")
    item: int | None = Field(default=None, description="In a batch, the index of the failing item.")
    code: str | None = Field(default=None, description="A schema error type or the domain error's name.")
    invalidParams: list[InvalidParam] | None = Field(default=None, description="The first 20 errors.")
    invalidParamsTotal: int | None = Field(default=None, description="How many errors there were.")


# What an operation can answer, judged from its OpenAPI entry: its permission, body and parameters.
_ANSWERS: list[tuple[str, str, Callable[[dict[str, Any]], bool]]] = [
    ("400", "The body is not well-formed JSON", lambda op: "requestBody" in op),
    ("401", "No valid bearer token", lambda op: op.get("x-permission") != PUBLIC),
    ("403", "The caller's role or teams do not allow this", lambda op: op.get("x-permission") != PUBLIC),
    (
        "404",
        "No such journey or team, or not the caller's (never told apart)",
        lambda op: _takes(op, "path") or op.get("x-permission") == "journeys:write",
    ),
    ("408", "The body did not arrive in time", lambda op: "requestBody" in op),
    (
        "409",
        "The fact conflicts with what is recorded",
        lambda op: op.get("x-permission") == "journeys:write",
    ),
    ("413", "The body is too large", lambda op: "requestBody" in op),
    ("415", "The body is not JSON", lambda op: "requestBody" in op),
    ("422", "Invalid input", lambda op: "requestBody" in op or bool(op.get("parameters"))),
    (
        "503",
        "Ask again after Retry-After: the store had no connection or lock free in time, or (with "
        "min_position) the figures have not reached it yet, or too many readers wait for one",
        lambda op: op.get("x-permission") != PUBLIC,
    ),
]
_HEADERS = {
    "401": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    "503": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
}


def _takes(op: dict[str, Any], where: str, name: str | None = None) -> bool:
    return any(p["in"] == where and name in (None, p["name"]) for p in op.get("parameters", []))


def declare(app: FastAPI) -> None:
    """Declares in the OpenAPI document, for every operation, the problem answers it can give."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _declare(plain())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _declare(spec: dict[str, Any]) -> None:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for methods in spec.get("paths", {}).values():
        for op in methods.values():
            for status, description, applies in _ANSWERS:
                if applies(op):
                    answer = {"description": description, "content": content}
                    op["responses"][status] = answer | (
                        {"headers": _HEADERS[status]} if status in _HEADERS else {}
                    )
    if "#/components/schemas/HTTPValidationError" not in json.dumps(spec.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def allowed_methods(request: Request) -> str:
    """Every method some route takes at this path (Starlette names only the first route's)."""
    routes = request.app.router.routes
    return ", ".join(
        m for m in _METHODS if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)
    )


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def title(status: int) -> str:
    return _TITLES.get(status, "Error")


_TITLES = {
    400: "Malformed request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    503: "Service unavailable",
}
