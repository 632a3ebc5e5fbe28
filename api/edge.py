"""What every HTTP exchange passes before any parsing: the ASGI middleware at the edge.

- Every answer carries the API-Version header.
- A body over the size limit is refused (413), by its declared length or as it arrives (chunked).
- A body whose Content-Type is not JSON is refused (415).
- A body that has not fully arrived within the body timeout is refused (408): a slow client holds
  a connection and a task for no longer than that.
- Every error answer says `Connection: close`, and the server then closes the connection (cleanly:
  see api/server.py). A client that erred may have sent more than was read, or be hostile; a new
  connection costs it little and leaves nothing of this exchange behind.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems

API_VERSION = "1.0.0"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class Edge:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_edged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"api-version", API_VERSION.encode())]
                if message["status"] >= 400:
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await self._refuse(refusal, send_edged)
            return
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        seen = 0
        complete = False

        async def edged_receive() -> Message:
            nonlocal seen, complete
            if complete:  # what follows the body (a disconnect) may take as long as it takes
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow(self.body_timeout) from None
            seen += len(message.get("body", b""))
            if seen > self.max_body_bytes:
                raise _TooLarge(self.max_body_bytes)
            complete = not message.get("more_body", False)
            return message

        try:
            await self.app(scope, edged_receive, send_edged)
        except (_TooLarge, _TooSlow) as e:  # raised where FastAPI's body parsing did not map it
            await self._refuse(e, send_edged)

    def _refusal(self, scope: Scope) -> HTTPException | None:
        """What can be refused from the request head alone."""
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return _TooLarge(self.max_body_bytes)
        media = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if scope["method"] in _WITH_BODY and media != b"application/json" and not media.endswith(b"+json"):
            return HTTPException(415, "the body must be application/json")
        return None

    @staticmethod
    async def _refuse(error: HTTPException, send: Send) -> None:
        response = problems.problem(error.status_code, problems.title(error.status_code), error.detail)
        await response({"type": "http"}, _no_body, send)


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing passes it on rather than answering 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body exceeds {limit} bytes")


class _TooSlow(HTTPException):
    def __init__(self, timeout: float) -> None:
        super().__init__(408, f"the body did not arrive within {timeout:g} seconds")


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
