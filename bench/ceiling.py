"""The web framework's ceiling: a trivial plain-def FastAPI route, served as `traject serve` serves.

Run as its own process: `python -m bench.ceiling PORT`. The server is api/cli.py `_serve`'s
(api.server.config: the same protocol, timeouts and log level, and the access log on or off as
TRAJECT_ACCESS_LOG says, as the service's Settings read it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from bench.core import Ctx, Run, Sample
from bench.http import free_port, server, wrk

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/ping")
def ping() -> dict[str, str]:
    return {"status": "ok"}


@contextmanager
def web(ctx: Ctx) -> Iterator[Run]:
    """The WEB row: wrk against the trivial route, `ctx.connections` keep-alive connections."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "bench.ceiling", str(port)]
    with server(ctx, cmd, dict(os.environ), f"{url}/ping"):
        ctx.notes["connections"] = ctx.connections

        def run() -> Sample:
            return wrk(ctx, f"{url}/ping", ["get", "/ping"])

        yield run


def main() -> None:
    from api.server import config
    from infra.runtime import tune_gc
    from infra.settings import Settings

    tune_gc()  # as `traject serve` starts
    uvicorn.Server(config(app, "127.0.0.1", int(sys.argv[1]), Settings())).run()


if __name__ == "__main__":
    main()
