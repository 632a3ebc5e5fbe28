"""Every error leaves as application/problem+json (RFC 9457), mapped here and nowhere else."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.auth import Forbidden, Unauthenticated
from api.schemas import TYPE_TAGS
from domain.errors import Conflict, JourneyError
from infra.container import ProjectionBehind, TooManyWaiting
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
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field_problem(error: Exception, item: int | None = None) -> JSONResponse:
    prefix = f"events.{item}." if item is not None else ""
    if isinstance(error, JourneyError):
        status = 409 if isinstance(error, Conflict) else 422
        field = f"{prefix}{error.field}" if error.field else None
        params = [{"name": field, "code": type(error).__name__, "reason": error.detail}] if field else None
        return problem(
            status,
            error.title,
            error.detail,
            field=field,
            item=item,
            invalidParams=params,
        )
    if isinstance(error, JourneyNotFound):
        return problem(
            404,
            "Journey not found",
            str(error),
            field=f"{prefix}journey_id" if prefix else None,
            item=item,
        )
    if isinstance(error, OutOfScope):
        return problem(403, "Forbidden", str(error), field=f"{prefix}team", item=item)
    raise error


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header") and p not in TYPE_TAGS]
    return ".".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        params = [{"name": _location(tuple(e["loc"])), "code": e["type"], "reason": e["msg"]} for e in errors]
        first = params[0] if params else {"name": "", "reason": "invalid request"}
        detail = f"{first['name']}: {first['reason']}" if first["name"] else str(first["reason"])
        item = next((p for p in errors[0]["loc"][2:3] if isinstance(p, int)), None) if errors else None
        return problem(
            422,
            "Invalid request",
            detail,
            field=first["name"] or None,
            item=item,
            invalidParams=params,
        )

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

    @app.exception_handler(ConcurrencyConflict)
    def concurrency(_: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return problem(409, "Concurrent update", f"{exc}; retry the request")

    @app.exception_handler(ProjectionBehind)
    def behind(_: Request, exc: ProjectionBehind) -> JSONResponse:
        response = problem(503, "Figures not yet current", str(exc), field="min_position")
        response.headers["Retry-After"] = "1"
        return response

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
    def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), str(exc.detail))

    @app.exception_handler(Exception)
    def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "Internal error", "the request failed unexpectedly")

    @app.exception_handler(StoreError)
    def store_error(request: Request, exc: StoreError) -> JSONResponse:
        if not store_busy(exc):
            return unexpected(request, exc)
        response = problem(503, "Store busy", "no database connection or lock came free in time; retry")
        response.headers["Retry-After"] = "1"
        return response


_TITLES = {
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
}
