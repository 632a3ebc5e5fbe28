"""Liveness, readiness and metrics for operators; no token needed, no personal data disclosed."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from api.auth import needs
from api.deps import Wiring

router = APIRouter(tags=["operations"])


@router.get("/healthz", openapi_extra=needs("public"))
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", openapi_extra=needs("public"), response_model=None)
def readyz(wiring: Wiring) -> dict[str, object] | JSONResponse:
    """Ready means the event store answers and no projection has stopped; lag is reported."""
    try:
        head = wiring.head_position()
        position, failure = wiring.mirror.view.position(), wiring.mirror.view.failure()
    except Exception as e:  # noqa: BLE001 - any store failure means "not ready"
        return JSONResponse({"status": "unavailable", "reason": type(e).__name__}, status_code=503)
    mirror = {"position": position, "lag": head - position, "failure": failure}
    body: dict[str, object] = {
        "status": "ready" if failure is None else "degraded",
        "head_position": head,
        "projections": {"mirror": mirror},
    }
    return body if failure is None else JSONResponse(body, status_code=503)


@router.get("/metrics", openapi_extra=needs("public"), response_class=PlainTextResponse)
def metrics(wiring: Wiring) -> str:
    """Prometheus text: the head of the event log, and each projection's position, lag and state."""
    head = wiring.head_position()
    position = wiring.mirror.view.position()
    failed = int(wiring.mirror.view.failure() is not None)
    return (
        "# TYPE traject_event_log_head gauge\n"
        f"traject_event_log_head {head}\n"
        "# TYPE traject_projection_position gauge\n"
        f'traject_projection_position{{projection="mirror"}} {position}\n'
        "# TYPE traject_projection_lag gauge\n"
        f'traject_projection_lag{{projection="mirror"}} {head - position}\n'
        "# TYPE traject_projection_failed gauge\n"
        f'traject_projection_failed{{projection="mirror"}} {failed}\n'
    )
