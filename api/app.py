"""The FastAPI application: routers, error mapping, and the edge every request passes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import API_VERSION, problems
from api.auth import TokenCodec
from api.deps import Writers
from api.edge import Edge
from api.routes import feed, health, journeys, outcomes
from infra.container import Container


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
    problems.declare(app)
    app.include_router(journeys.router)  # first: routes are matched in order, writes are the busiest
    app.include_router(health.router)
    app.include_router(feed.router)
    app.include_router(outcomes.router)
    app.add_middleware(Edge, max_body_bytes=settings.max_body_bytes)
    return app
