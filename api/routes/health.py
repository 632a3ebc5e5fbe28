"""Liveness, readiness and metrics for operators; no token needed, no personal data disclosed.

All three answer on the event loop, never from the shared threadpool: a crowd of slow requests
there must not make a live process look dead. Readiness and metrics read the store on a thread
of their own, one read at a time shared by every probe asking meanwhile (`Container.status`).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from api.auth import needs
from api.deps import Wiring

router = APIRouter(tags=["operations"])


@router.get("/healthz", openapi_extra=needs("public"))
async def healthz() -> dict[str, str]:
    """The process is alive (answered without any I/O)."""
    return {"status": "ok"}


@router.get("/readyz", openapi_extra=needs("public"), response_model=None)
async def readyz(wiring: Wiring) -> dict[str, object] | JSONResponse:
    """Ready means the event store answers and no projection has stopped; lag is reported."""
    try:
        head, position, failure = await wiring.status()
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
async def metrics(wiring: Wiring) -> str:
    """Prometheus text: the head of the event log, each projection's position, lag and state, and
    how many requests wait for a position (`min_position`)."""
    head, position, failure = await wiring.status()
    return (
        "# TYPE traject_event_log_head gauge\n"
        f"traject_event_log_head {head}\n"
        "# TYPE traject_projection_position gauge\n"
        f'traject_projection_position{{projection="mirror"}} {position}\n'
        "# TYPE traject_projection_lag gauge\n"
        f'traject_projection_lag{{projection="mirror"}} {head - position}\n'
        "# TYPE traject_projection_failed gauge\n"
        f'traject_projection_failed{{projection="mirror"}} {int(failure is not None)}\n'
        "# TYPE traject_position_waiters gauge\n"
        f"traject_position_waiters {wiring.watch.waiting}\n"
    )
