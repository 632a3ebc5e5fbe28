"""What every HTTP exchange passes before any parsing: the ASGI middleware at the edge.

- Every answer carries the API-Version header.
- A body over the size limit is refused (413), by its declared length or as it arrives (chunked).
- A body whose Content-Type is not JSON is refused (415).
- Every error answer says `Connection: close`, and the server then closes the connection (cleanly:
  see api/server.py, which also bounds how long a request head and body may take to arrive). A
  client that erred may have sent more than was read, or be hostile; a new connection costs it
  little and leaves nothing of this exchange behind.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import API_VERSION, problems

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class Edge:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

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
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body_bytes:
                raise _TooLarge(self.max_body_bytes)
            return message

        try:
            await self.app(scope, counting_receive, send_edged)
        except _TooLarge as e:  # raised where FastAPI's body parsing did not map it
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


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
