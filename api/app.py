"""The FastAPI application: routers, error mapping, and the few cross-cutting headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.auth import TokenCodec
from api.deps import Writers
from api.routes import feed, health, journeys, outcomes
from infra.container import Container

API_VERSION = "1.0.0"


class Edge:
    """Adds the API-Version header and refuses bodies over the size limit (413) before parsing."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"api-version", API_VERSION.encode()),
                ]
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send_with_version)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body_bytes:
                raise _TooLarge(self.max_body_bytes)
            return message

        try:
            await self.app(scope, counting_receive, send_with_version)
        except _TooLarge:
            await self._too_large(send_with_version)

    async def _too_large(self, send: Send) -> None:
        response = problems.problem(413, "Payload too large", f"the body exceeds {self.max_body_bytes} bytes")
        await response({"type": "http"}, _no_body, send)


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing passes it on rather than answering 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body exceeds {limit} bytes")


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def create_app(container: Container) -> FastAPI:
    settings = container.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.projections == "inline":
            container.start_projections()
        yield
        app.state.writers.close()

    app = FastAPI(
        lifespan=lifespan,
        title="traject",
        version=API_VERSION,
        description="Participation journeys of a social service, recorded as events; "
        "team outcomes as a mirror, never a ranking.",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    app.state.container = container
    app.state.writers = Writers()
    app.state.tokens = TokenCodec(
        container.jwt_key, settings.jwt_algorithm, settings.jwt_issuer, settings.token_max_lifetime_minutes
    )
    problems.install(app)
    app.include_router(journeys.router)  # first: routes are matched in order, writes are the busiest
    app.include_router(health.router)
    app.include_router(feed.router)
    app.include_router(outcomes.router)
    app.add_middleware(Edge, max_body_bytes=settings.max_body_bytes)
    return app
