"""Liveness and readiness for orchestrators; no token needed, no data disclosed."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import needs
from api.deps import Wiring

router = APIRouter(tags=["operations"])


@router.get("/healthz", openapi_extra=needs("public"))
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", openapi_extra=needs("public"), response_model=None)
def readyz(wiring: Wiring) -> dict[str, object] | JSONResponse:
    """Ready means the event store answers; the head position is reported."""
    try:
        head = wiring.head_position()
    except Exception as e:  # noqa: BLE001 - any store failure means "not ready"
        return JSONResponse({"status": "unavailable", "reason": type(e).__name__}, status_code=503)
    return {"status": "ready", "head_position": head}
